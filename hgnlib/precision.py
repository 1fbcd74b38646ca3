"""bfloat16 autocast (a recipe's ``amp``) on any CPU: native kernels where the processor has them, float32
products rounded to bfloat16 where it does not.

On a CPU, PyTorch runs bfloat16 matrix products through oneDNN's fast kernels only where the processor has the
instructions for them (AVX-512 with its bfloat16 extensions, or AMX); elsewhere (AVX2-only processors: most laptops,
AMD Zen 2 and 3) it falls back to generic kernels. Measured on a 2-core AMD EPYC with AVX2 only (torch 2.13, one
thread, HGN-128, batch 64): a training step took about 10x as long under bfloat16 autocast as in float32, and
``aten.mm`` / ``aten.addmm`` / ``aten.bmm`` took 97 % of it.

Those products are what :class:`Bf16ProductsInFloat32` replaces. A bfloat16 product as oneDNN computes it widens
the bfloat16 operands to float32 (exactly), accumulates in float32 and rounds the result to bfloat16 once; the
replacement does the same with PyTorch's float32 kernels, so the two differ only in the order of the float32
additions (the same kind of difference as between two processors' native kernels): on random 256 x K by K x 64
products, 99.95-99.99 % of the outputs are bit-identical and the rest one bfloat16 step apart. Everything else
(autocast's choice of which operations run in bfloat16, the casts, batch norm, the loss) stays PyTorch's own. On
the AMD EPYC above the step time goes from about 7.3 s to 0.94 s (float32: 0.66 s). Since the numbers keep their
meaning, a recipe's key does not record which of the two ran, and :func:`autocast_products` picks one by itself.
It is entered where training starts (``hgn train``, the workers of ``hgn reproduce`` / ``hgn converge``), not in
the training loop, which is part of the result fingerprint; a notebook that trains an uncached run itself by calling
``run_experiment`` gets PyTorch's own kernels.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_aten = torch.ops.aten
#: The matrix products autocast runs in bfloat16 in our models (linear layers, graph mixing, einsum).
PRODUCTS = frozenset({_aten.mm.default, _aten.addmm.default, _aten.bmm.default, _aten.baddbmm.default})


def native_bf16(device: str | torch.device) -> bool:
    """True on a GPU, and on a CPU whose bfloat16 matrix products run in oneDNN's fast kernels."""
    if torch.device(device).type != "cpu":
        return True
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


class Bf16ProductsInFloat32(TorchDispatchMode):
    """Inside this mode, every bfloat16 :data:`PRODUCTS` operation (forward and backward) is computed in float32 on
    its exactly widened operands and rounded once to bfloat16 (see the module doc); all other operations run
    unchanged."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in PRODUCTS and any(isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 for a in args):
            wide = [a.float() if isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 else a for a in args]
            return func(*wide, **kwargs).to(torch.bfloat16)
        return func(*args, **kwargs)


def _replaced(amp: bool, device: str | torch.device) -> bool:
    return amp and not native_bf16(device)


@contextlib.contextmanager
def autocast_products(amp: bool, device: str | torch.device) -> Iterator[bool]:
    """Around training: when ``amp`` asks for bfloat16 autocast on a CPU without native bfloat16 kernels, compute its
    matrix products with :class:`Bf16ProductsInFloat32`; otherwise change nothing. Yields whether it does."""
    if not _replaced(amp, device):
        yield False
        return
    with Bf16ProductsInFloat32():
        yield True


def autocast_note(amp: bool, device: str | torch.device) -> str | None:
    """What a user training under bfloat16 autocast (``amp``) on a CPU without native bfloat16 kernels should know
    (None elsewhere)."""
    if not _replaced(amp, device):
        return None
    return ("note: this recipe trains under bfloat16 autocast, and this CPU has no native bfloat16 kernels (no "
            "AVX-512 bfloat16 or AMX): its bfloat16 matrix products run as float32 products rounded to bfloat16 (the "
            "same numbers up to the order of additions; hgnlib.precision), each step about 1.4x a float32 step. "
            "A GPU (--device cuda, or python3 tasks.py reproduce-gpu) finishes far sooner.")
