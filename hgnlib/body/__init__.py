"""Body models behind one interface: ``anny`` (open, default) and ``smpl`` (user-supplied file)."""
from __future__ import annotations

from .base import BodyModel, BodyOutput

BACKENDS = ("anny", "smpl")


def load_body_model(name: str = "anny", **kwargs) -> BodyModel:
    """Load a body model by backend name (``anny`` or ``smpl``)."""
    if name == "anny":
        from .anny import AnnyBody

        return AnnyBody(**kwargs)
    if name == "smpl":
        from .smpl import SMPLBody

        return SMPLBody(**kwargs)
    raise ValueError(f"unknown body model {name!r}; choose one of {BACKENDS}")


__all__ = ["BodyModel", "BodyOutput", "load_body_model", "BACKENDS"]
