"""How a network's weights start (``Recipe.init``): the paper's reading, or the released code's.

- ``"paper"``: what the layers do on construction: Xavier-uniform (gain 1.414) on each of SemGConv's two weight
  matrices with Glorot's fans (C_in, C_out), Xavier-uniform node-to-node fusion maps with zero bias.
- ``"release"``: SemGCN's and HGN's released code: Xavier-uniform (gain 1.414) on SemGConv's stacked
  (2, C_in, C_out) tensor, whose fans torch reads as C_in * C_out and 2 * C_out (a bound about 8x smaller at 128
  channels, so the hidden layers start near the identity path of the residual blocks), and fusion maps with
  PyTorch's default Conv1d initialisation (weight and bias uniform in +-1/sqrt(N_in)).

Everything else (vanilla GConv, non-local, batch norm, GraphSH's and Martinez's linear layers) starts the same way
under both schemes.
"""
from __future__ import annotations

import math

from torch import nn

from .layers import GCONV_GAIN, NodeMap, SemGConv

INIT_SCHEMES = ("paper", "release")


def initialise(model: nn.Module, scheme: str) -> None:
    """Re-initialise ``model`` in place under ``scheme`` (see the module doc); ``"paper"`` leaves it as built."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}; expected one of {INIT_SCHEMES}")
    if scheme == "paper":
        return
    for module in model.modules():
        if isinstance(module, SemGConv):
            nn.init.xavier_uniform_(module.weight.data, gain=GCONV_GAIN)
        elif isinstance(module, NodeMap):
            bound = 1.0 / math.sqrt(module.in_nodes)
            nn.init.uniform_(module.weight.data, -bound, bound)
            nn.init.uniform_(module.bias.data, -bound, bound)
