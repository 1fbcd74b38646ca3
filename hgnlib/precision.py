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
(autocast's choice of which operations run in bfloat16, the casts, batch norm, the loss) stays PyTorch's own.

It replaces the CPU kernels of the four products (forward and backward: autograd calls the same kernels) for the
whole process while it is open, so that no other operation passes through Python. (It did so first with a
``TorchDispatchMode``, which sees every operation, the optimizer's too: a seventh of HGN-128's step went to that.
The kernels compute the same numbers, bit for bit: the parameters of every model of the standard suite after several
training steps are identical under the two, so a run trained partly under each equals one trained under either.)
On the AMD EPYC above, with one thread in each of two such processes at once, HGN-128's step takes about 0.8 s
(float32: 0.57 s; the dispatch mode: 0.93 s; PyTorch's own bfloat16 kernels: about 7 s); HGN-64's, alone, 0.33 s
(dispatch mode: 0.54 s). Since the numbers keep their meaning, a recipe's key does not record
whether it ran, and :func:`autocast_products` decides by itself. It is entered where training starts (``hgn
train``, the workers of ``hgn reproduce`` / ``hgn converge``), not in the training loop, which is part of the
result fingerprint; a notebook that trains an uncached run itself by calling ``run_experiment`` gets PyTorch's own
kernels.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Callable, Iterator

import torch

_aten = torch.ops.aten

#: The matrix products autocast runs in bfloat16 in our models (linear layers, graph mixing, einsum), each with
#: the shape of its result from its positional operands.
PRODUCTS: dict[str, Callable[..., tuple[int, ...]]] = {
    "mm": lambda a, b: (a.shape[0], b.shape[1]),
    "addmm": lambda bias, a, b: (a.shape[0], b.shape[1]),
    "bmm": lambda a, b: (a.shape[0], a.shape[1], b.shape[2]),
    "baddbmm": lambda acc, a, b: (a.shape[0], a.shape[1], b.shape[2]),
}

#: The replacements open now (a stack: nested ones are allowed, the innermost is in force).
_OPEN: list["Bf16ProductsInFloat32"] = []


def native_bf16(device: str | torch.device) -> bool:
    """True on a GPU, and on a CPU with bfloat16 instructions (AVX-512 BF16 or AMX) for oneDNN's fast kernels.

    oneDNN also counts AVX-512 without the bfloat16 extension as bfloat16-capable (``_is_mkldnn_bf16_supported``),
    emulating the instructions; measured on a 2-core Intel Xeon of that kind (torch 2.13, one thread, HGN-64, batch
    64), a bfloat16-autocast step took 0.40 s there against 0.26 s with :class:`Bf16ProductsInFloat32` (float32:
    0.16 s), so such a processor is not counted as native."""
    if torch.device(device).type != "cpu":
        return True
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if check is None or not check():
        return False
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is None:
        return True
    found = capabilities()
    return bool(found.get("avx512_bf16") or found.get("amx_bf16"))


def _widened(x):
    return x.float() if isinstance(x, torch.Tensor) and x.dtype == torch.bfloat16 else x


def _kernel(name: str) -> Callable[..., torch.Tensor]:
    """The CPU kernel of product ``name``: bfloat16 operands widened to float32, PyTorch's own kernel (its ``out=``
    form, which the plain form runs too), the result rounded once to bfloat16; other dtypes pass straight through."""
    into = getattr(_aten, name).out
    shape = PRODUCTS[name]

    def kernel(*args, **kwargs):
        low = any(isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 for a in args)
        if low:
            args = tuple(_widened(a) for a in args)
        out = args[-1].new_empty(shape(*args))
        into(*args, **kwargs, out=out)
        return out.to(torch.bfloat16) if low else out

    return kernel


class Bf16ProductsInFloat32:
    """While open (a context manager), every bfloat16 :data:`PRODUCTS` operation on a CPU (forward and backward) is
    computed in float32 on its exactly widened operands and rounded once to bfloat16 (see the module doc); every
    other operation, and these products in other dtypes, compute what they computed before. It acts on the whole
    process, every thread of it."""

    def __enter__(self) -> "Bf16ProductsInFloat32":
        self._library = torch.library.Library("aten", "IMPL")
        with warnings.catch_warnings():  # PyTorch warns that it overrides its own CPU kernels: that is the point
            warnings.simplefilter("ignore")
            for name in PRODUCTS:
                self._library.impl(name, _kernel(name), "CPU")
        _OPEN.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _OPEN.remove(self)
        self._library._destroy()  # deregisters the kernels: PyTorch's own are back


def replacing() -> bool:
    """Whether the bfloat16 products are computed in float32 now (a :class:`Bf16ProductsInFloat32` is open)."""
    return bool(_OPEN)


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
            "same numbers up to the order of additions; hgnlib.precision), each step 1.2-1.6x a float32 step. "
            "A GPU (--device cuda, or python3 tasks.py reproduce-gpu) finishes far sooner.")
