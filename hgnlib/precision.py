"""Whether bfloat16 autocast (a recipe's ``amp``) is fast on the device that trains.

On a CPU, PyTorch runs bfloat16 matrix products through oneDNN only where the processor has the instructions for it
(AVX-512 with its bfloat16 extensions, or AMX); elsewhere (AVX2-only processors: most laptops, AMD Zen 2 and 3) it
falls back to slow generic kernels. Measured on a 2-core AMD EPYC with AVX2 only (torch 2.13, one thread,
HGN-128, batch 64): one training step took about 10x as long under bfloat16 autocast as in float32. The recipes
that ask for autocast (the ``standard`` profile's) keep asking for it, since a run's key includes its recipe; this
module only lets the command line say so before hours are spent.
"""
from __future__ import annotations

import torch


def native_bf16(device: str | torch.device) -> bool:
    """True on a GPU, and on a CPU whose bfloat16 matrix products run in oneDNN's fast kernels."""
    if torch.device(device).type != "cpu":
        return True
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else False


def slow_autocast_note(amp: bool, device: str | torch.device) -> str | None:
    """A warning when bfloat16 autocast (``amp``) would train on a CPU without fast bfloat16 kernels (None
    otherwise)."""
    if not amp or native_bf16(device):
        return None
    return ("warning: this recipe trains under bfloat16 autocast, and this CPU has no fast bfloat16 kernels (no "
            "AVX-512 bfloat16 or AMX): each step runs several times slower than in float32 (about 10x on an AVX2-only "
            "processor). The runs stay correct; to finish sooner use a GPU (--device cuda, or python3 tasks.py "
            "reproduce-gpu), a CPU with bfloat16 instructions, or for a run of your own --set amp=false (another "
            "configuration, so another cache key).")
