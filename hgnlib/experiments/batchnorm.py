"""Batch-norm statistics re-estimated after training: a diagnostic, never part of a run's result.

A network trained with batch norm is evaluated with running statistics, exponential averages (momentum 0.1) of the
batch statistics seen while the weights were still moving. When the weights still move late in training (GraphSH-64
on the standard profile), those averages lag the final weights and the test error says as much about the lag as
about the weights. :func:`reestimate_batchnorm` replaces them with plain averages over training batches under the
final weights, every other layer in evaluation mode (dropout off), so a lag shows as a gap between the two
evaluations (``hgn eval RUN`` against ``hgn eval RUN --batchnorm-batches N``). The runs' cached metrics are always
those of the running statistics as trained.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    """The batch-norm layers of ``model`` that keep running statistics (the node-masked ones included)."""
    return [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


def batch_indices(n: int, batches: int, batch_size: int, seed: int) -> torch.Tensor:
    """(batches, batch_size) sample indices: seeded permutations of ``range(n)`` taken in turn, so every sample
    is drawn once before any is drawn twice."""
    if n < 1 or batches < 1 or batch_size < 1:
        raise ValueError(f"need samples, batches and a batch size of at least 1, got {n}, {batches}, {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    need = batches * batch_size
    order = torch.cat([torch.randperm(n, generator=generator) for _ in range(-(-need // n))])
    return order[:need].view(batches, batch_size)


@torch.no_grad()
def reestimate_batchnorm(model: nn.Module, inputs: torch.Tensor, batches: int = 400, batch_size: int = 64,
                         seed: int = 0) -> int:
    """Set the running statistics of every batch-norm layer of ``model`` to the average of its batch statistics
    over ``batches`` training batches of ``inputs`` (seeded); the rest of the network in evaluation mode. The model
    is left in evaluation mode with its layers' momenta as they were. Returns the number of layers re-estimated;
    ValueError when there are none."""
    layers = batchnorm_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no batch-norm layers with running statistics")
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average: every batch weighs the same
        layer.train()
    try:
        for index in batch_indices(len(inputs), batches, batch_size, seed):
            model(inputs[index.to(inputs.device)])
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        model.eval()
    return len(layers)
