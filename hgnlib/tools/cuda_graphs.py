"""A whole training step captured as one CUDA graph, for ``hgn bench``'s epoch timing.

HGN-128's training step is about 3,000 small operations (forward, backward, clipping, Adam) on tensors of a few
hundred kilobytes; launched one by one from Python, a GPU spends most of the step waiting for the next launch.
Captured once into a CUDA graph, a step is one replay: the inputs and targets are copied into fixed buffers, the
graph re-runs every kernel of forward, loss, backward, ``clip_grad_norm_`` and ``Adam.step`` with no Python and
no host synchronisation in between.

What capture needs, and :class:`GraphedStep` arranges: fixed shapes (every batch the same size), an optimizer whose
step count lives on the device (``Adam(capturable=True)``), gradients set to None before capture (so that the
graph's backward writes them rather than adding to them), a few warm-up steps on a side stream before capture
(they train the model on the first batch, like any other step), and autocast without its weight cache.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Mapping

import torch
from torch import nn

LossFn = Callable[[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]], torch.Tensor]


class GraphedStep:
    """One training step of ``model`` on ``(inputs, targets)`` as a CUDA graph; call it with a new batch of the same
    shapes to train one more step (returns the step's loss, a device scalar)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn: LossFn, inputs: torch.Tensor,
                 targets: Mapping[str, torch.Tensor], max_norm: float = 1.0, amp: bool = False, warmup: int = 3):
        if inputs.device.type != "cuda":
            raise ValueError(f"CUDA graphs need CUDA tensors, got inputs on {inputs.device}")
        self.inputs = inputs.clone()
        self.targets = {k: v.clone() for k, v in targets.items()}
        params = [p for p in model.parameters() if p.requires_grad]

        def cast():
            if not amp:
                return contextlib.nullcontext()
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16, cache_enabled=False)

        def step() -> torch.Tensor:
            with cast():
                outputs = model(self.inputs)
            loss = loss_fn({k: v.float() for k, v in outputs.items()}, self.targets)
            loss.backward()
            nn.utils.clip_grad_norm_(params, max_norm, foreach=True)
            optimizer.step()
            return loss.detach()

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                optimizer.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream().wait_stream(side)
        optimizer.zero_grad(set_to_none=True)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.loss = step()

    def __call__(self, inputs: torch.Tensor, targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
        self.inputs.copy_(inputs)
        for name, value in targets.items():
            self.targets[name].copy_(value)
        self.graph.replay()
        return self.loss
