"""The run profiles, defined once and used by the command line, the notebooks and the tests.

- ``smoke``: seconds per step; what the tests and nbval execute.
- ``quick``: the README's main command, on the embedded data, on a laptop CPU.
- ``full``: the paper's recipe on the embedded data (a GPU recommended).
- ``paper``: the paper's recipe on real Human3.6M.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Profile:
    """What a profile fixes. ``synth_size`` scales the embedded dataset (1.0 = the default size)."""

    name: str
    data: str  # "embedded" or "h36m"
    synth_size: float
    train_stride: int  # keep every n-th training frame
    test_stride: int  # keep every n-th test frame (1 = the standard protocol)
    description: str

    def to_dict(self) -> dict:
        return asdict(self)


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "embedded", 0.1, 4, 4, "seconds per run: tests and nbval"),
    "quick": Profile("quick", "embedded", 1.0, 2, 1, "every table on the embedded data, minutes on 2 CPU cores"),
    "full": Profile("full", "embedded", 4.0, 1, 1, "the paper's recipe on a larger embedded dataset (GPU advised)"),
    "paper": Profile("paper", "h36m", 1.0, 1, 1, "the paper's recipe on real Human3.6M"),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a clear error lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
