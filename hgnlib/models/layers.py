"""The layers of HGN and its peers: graph convolutions, node batch norm, non-local, fusion.

What they compute (paper Sec. 3; node features ``X`` are ``(B, N, C)``: batch, nodes, channels):

- Eq. (1), vanilla graph convolution (:class:`GConv`): ``X' = A~ X W + b`` with ``A~ = D^-1/2 (A + I) D^-1/2``.
- Eq. (2), semantic graph convolution (:class:`SemGConv`): a learnable logit ``t_ij`` per entry of ``A + I``,
  ``a_i. = softmax_j(t_ij)`` over row i's entries only, and
  ``x'_i = a_ii x_i W_0 + sum_{j in N(i)} a_ij x_j W_1 + b``.
- Residual block (:class:`ResidualBlock`): two (graph conv -> batch norm -> ReLU) plus the identity; every block is
  followed by a non-local layer (:class:`NonLocal`, concatenation form):
  ``y_i = x_i + BN(W_z (1/N) sum_j ReLU(w^T [theta(x_i), phi(x_j)]) g(x_j))``.
- Eq. (3), multi-scale fusion (:class:`Fusion`): ``Y_k = X_k + sum_{i != k} a(X_i, k)`` where ``a(X_i, k)`` is a
  learned node-to-node linear map with bias (:class:`NodeMap`, a 1x1 Conv1d whose channels are the nodes).

:mod:`hgnlib.models.reference` writes each of these the obvious way (as the released code does): that plain form is
the definition. The classes here compute the same thing, shaped for speed; the tests hold the two equal (outputs and
gradients, float64) and ``hgn bench`` measures the difference in speed. The rest of this docstring says how.

Memory layout: the layers work node-major. A layer reads its input as a contiguous ``(N, B, C)`` block (free when
the input is a node-major view, as every layer here returns; one copy otherwise, e.g. for the model's
``(B, 17, 2)`` input) and returns a ``(B, N, C)`` view of an ``(N, B, C)`` tensor; outputs with fewer than
:data:`NODE_MAJOR_MIN_CHANNELS` channels (the coordinate heads) come back contiguous. So node mixing is one
``(N, N) x (N, B*C)`` product and a channel transform one ``(N*B, C) x (C, C')`` product, with no permute copies;
batch norm, ReLU and residual sums keep the layout. Code that needs batch-major memory calls ``.contiguous()``.

What is computed once per forward pass rather than per sample, and the exact shortcuts taken:

- SemGConv: the softmax-normalised adjacency is built once (an N x N matrix). When the layer widens
  (``C_in <= C_out``) it aggregates first, ``b + (A_off X) W1 + (d * X) W0``; when it narrows it transforms
  first, ``b + d * (X W0) + A_off (X W1)``. The products are accumulated in place (``addmm`` / ``addmm_``), never
  concatenated.
- Node mixing (``A X``) on CPU goes through the graph's sparse (CSR) matrix, a handful of entries per row (about 5
  on the anny mesh graphs) instead of N: ``torch.sparse.mm`` forward; for the gradients ``A^T`` sparse again and
  the entries' gradients by ``sampled_addmm`` (``dY X^T`` at the entries only); see :class:`SparseMix`. On GPU,
  under ``torch.compile`` / ``torch.export`` / tracing, under autocast, in other dtypes than float32 and float64,
  on graphs of fewer than :data:`SPARSE_MIN_NODES` nodes, or with :data:`SPARSE_MIX` False it is a dense
  ``(N, N)`` product (the two agree to rounding; the tests check both against the references).
- Under autocast the in-place accumulations fall back to out-of-place sums when the dtypes differ
  (:func:`add_product`, :func:`add_into`), so the sums promote as the plain formulas' would.
- Vanilla GConv: the normalised adjacency is built once per pass (an N x N matrix, negligible next to the
  products, and exact in whatever dtype the layer runs); the cheaper of ``(A X) W`` and ``A (X W)`` is taken.
- Non-local (concatenation form): ``w^T [theta_i, phi_j] = (w_theta^T W_theta) x_i + (w_phi^T W_phi) x_j + c``,
  so theta and phi are never computed: two projection vectors are folded once per pass and the scores are an
  ``(N*B, C) x (C, 2)`` product. The pairwise map is ``(B, N, N)`` (never ``B x C x N x N``), applied to g with
  one batched product (g goes to batch-major and the result back: two copies at C/2 channels); the ``1 / N`` is
  folded into the output projection's weight.
- Fusion: ``Y_k = X_k + b + sum_i W_ik X_i`` as one ``addmm`` per source accumulated in place (no concatenation
  of the sources); fake-node masks are applied to the (tiny) map weights, not to the activations.

Fake nodes of padded graphs (mask False) are kept at exactly zero and out of every statistic:

- graph convolutions: fake nodes have no adjacency entry, so they neither send nor receive messages (their
  rows hold the bias only, which the following batch norm or the model's output masking removes);
- :class:`NodeBatchNorm`: statistics over real nodes only; fake nodes come out as zeros;
- :class:`NonLocal`: fake nodes are not attended to, and the pairwise sum is divided by the real node count;
- :class:`Fusion`: map weights from or to fake nodes are masked out (fake target rows get nothing).

So a padded branch computes on its real nodes exactly what the plain branch computes on the real subgraph.
This is ``padding='inert'``. With ``padding='release'`` (:mod:`hgnlib.models.graph`) the layers get no mask:
a SemGConv row of a fake node is a uniform row over all nodes (the released SemGConv's softmax of a row without
entries), and batch norm, non-local and fusion treat fake nodes as nodes, as the released code does.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
from torch import nn

from .graph import Graph

#: Xavier-uniform gain of the graph convolutions (SemGCN's and HGN's released code).
GCONV_GAIN = 1.414


def node_mix(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Apply an (M, N) matrix along the node axis of (B, N, C) features: (B, M, C)."""
    return torch.einsum("mn,bnc->bmc", matrix, x)


#: Outputs with fewer channels than this (the coordinate heads) come back as contiguous (B, N, C) tensors.
NODE_MAJOR_MIN_CHANNELS = 8


def nodes_first(x: torch.Tensor) -> torch.Tensor:
    """(B, N, C) features as a contiguous (N, B, C) tensor: free for a node-major view, one copy otherwise."""
    xt = x.transpose(0, 1)
    return xt if xt.is_contiguous() else xt.contiguous()


def from_nodes(x: torch.Tensor) -> torch.Tensor:
    """A contiguous (N, B, C) tensor seen as (B, N, C) features (a view; contiguous below NODE_MAJOR_MIN_CHANNELS)."""
    x = x.transpose(0, 1)
    return x if x.shape[-1] >= NODE_MAJOR_MIN_CHANNELS else x.contiguous()


#: Node mixing by the graph's sparse (CSR) matrix on CPU; False: dense N x N products everywhere (as on GPU).
SPARSE_MIX = True
#: Graphs with fewer nodes (GraphSH's 8 parts and 4 limbs) mix densely: a CSR product costs more there.
SPARSE_MIN_NODES = 16


def use_sparse_mix(x: torch.Tensor) -> bool:
    """Whether node mixing of ``x`` goes through the sparse path: :data:`SPARSE_MIX`, CPU, float32 or float64,
    eager mode (not under ``torch.compile``, ``torch.export`` or tracing) and no autocast."""
    return (SPARSE_MIX and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and not _is_tracing() and not _autocast_enabled(x))


def _is_tracing() -> bool:
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling and is_compiling()) or torch.jit.is_tracing()


def _autocast_enabled(x: torch.Tensor) -> bool:
    try:
        return torch.is_autocast_enabled(x.device.type)
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled() if x.device.type == "cpu" else torch.is_autocast_enabled()


def add_product(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``out + a @ b``: in place (``addmm_``) when the dtypes agree; otherwise (under autocast) out of place, so
    that autocast picks the product's precision and the sum promotes, as ``out + a @ b`` would."""
    if out.dtype == a.dtype == b.dtype:
        return out.addmm_(a, b)
    return out + torch.mm(a, b)


def add_into(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``out + y``, in place when ``out`` already has the result's dtype (always, without autocast)."""
    return out.add_(y) if torch.promote_types(out.dtype, y.dtype) == out.dtype else out + y


_CSR_SEEN = False


def _csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    global _CSR_SEEN
    n = crow.numel() - 1
    if _CSR_SEEN:
        return torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)
    with warnings.catch_warnings():  # torch warns once per process that CSR support is in beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        matrix = torch.sparse_csr_tensor(crow, col, values, (n, n), check_invariants=False)
    _CSR_SEEN = True
    return matrix


class SparseMix(torch.autograd.Function):
    """``A @ x`` for an (N, N) matrix given by the values of its entries in CSR order, and its gradients.

    Arguments: the values (E,), dense ``x`` (N, K), then the pattern: ``crow``, ``col`` of A and ``crow_t``,
    ``col_t``, ``order_t`` of A^T (``values[order_t]`` are A^T's values in its CSR order). Backward:
    ``dx = A^T @ grad`` (sparse) and ``d values = (grad @ x^T)`` at the entries only (``sampled_addmm``).
    """

    @staticmethod
    def forward(ctx, values, x, crow, col, crow_t, col_t, order_t):
        ctx.save_for_backward(values, x, crow, col, crow_t, col_t, order_t)
        return torch.sparse.mm(_csr(crow, col, values), x)

    @staticmethod
    def backward(ctx, grad):
        values, x, crow, col, crow_t, col_t, order_t = ctx.saved_tensors
        grad_values = grad_x = None
        if ctx.needs_input_grad[0]:
            pattern = _csr(crow, col, torch.zeros_like(values))
            grad_values = torch.sparse.sampled_addmm(pattern, grad, x.t(), beta=0.0).values()
        if ctx.needs_input_grad[1]:
            grad_x = torch.sparse.mm(_csr(crow_t, col_t, values[order_t]), grad)
        return grad_values, grad_x, None, None, None, None, None


class GraphMixer:
    """Node mixing by a matrix with the sparsity of a fixed pattern: ``matrix @ x`` for (N, K) ``x``.

    :meth:`register` stores the CSR pattern as (non-persistent) buffers of a module; :meth:`mix` takes the
    dense (N, N) matrix (zero outside the pattern) and multiplies sparsely on CPU, densely elsewhere.
    """

    NAMES = ("mix_index", "mix_crow", "mix_col", "mix_crow_t", "mix_col_t", "mix_order_t")

    @classmethod
    def register(cls, module: nn.Module, pattern: torch.Tensor) -> None:
        """Buffers of the CSR pattern of the non-zero entries of ``pattern`` (N, N) and of its transpose."""
        n = pattern.shape[0]
        rows, cols = torch.nonzero(pattern, as_tuple=True)
        order_t = torch.argsort(cols * n + rows)
        buffers = (rows * n + cols, cls._crow(rows, n), cols, cls._crow(cols, n), rows[order_t], order_t)
        for name, value in zip(cls.NAMES, buffers):
            module.register_buffer(name, value, persistent=False)

    @staticmethod
    def _crow(rows: torch.Tensor, n: int) -> torch.Tensor:
        crow = torch.zeros(n + 1, dtype=torch.long)
        crow[1:] = torch.bincount(rows, minlength=n).cumsum(0)
        return crow

    @classmethod
    def mix(cls, module: nn.Module, matrix: torch.Tensor, x: torch.Tensor,
            dense_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(matrix * dense_mask) @ x`` (N, K) where ``dense_mask`` (None: all ones) is 1 on ``module``'s pattern
        and 0 elsewhere: sparse through the pattern (the mask is implied) when :func:`use_sparse_mix`."""
        if not use_sparse_mix(x) or x.shape[0] < SPARSE_MIN_NODES or module.mix_index.numel() == 0:
            return torch.mm(matrix if dense_mask is None else matrix * dense_mask, x)
        values = matrix.reshape(-1).index_select(0, module.mix_index)
        return SparseMix.apply(values, x, *(getattr(module, name) for name in cls.NAMES[1:]))


def _reset_bias(bias: torch.Tensor, fan: int) -> None:
    bound = 1.0 / math.sqrt(fan)
    nn.init.uniform_(bias, -bound, bound)


class SemGConv(nn.Module):
    """Semantic graph convolution (Eq. 2): a learned weight per adjacency entry, softmax over each row's entries.

    ``out_i = d_i x_i W0 + sum_{j != i} a_ij x_j W1 + b`` with ``a = rowsoftmax(M)`` over the entries of the
    adjacency only (self-loops included) and ``d_i = a_ii``. Weights: Xavier uniform (gain 1.414) per matrix
    with Glorot's fans (C_in, C_out); the released code applies it to the stacked (2, C_in, C_out) tensor, whose
    fans torch reads as C_in * C_out and 2 * C_out (a bound 8x smaller at 128 channels). Edge logits start at 1
    (uniform rows); bias uniform in ``+-1/sqrt(C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        adjacency = graph.adjacency
        rows, cols = torch.nonzero(adjacency, as_tuple=True)
        entries = adjacency.clone()
        if graph.active_fakes:  # rows of fake nodes: a constant (uniform) softmax over all nodes
            entries[~graph.mask] = 1.0
        self.register_buffer("entries", entries, persistent=False)
        self.register_buffer("neighbours", entries * (1 - torch.eye(len(adjacency))), persistent=False)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        GraphMixer.register(self, self.neighbours)
        self.weight = nn.Parameter(torch.empty(2, in_channels, out_channels))
        self.edge_logits = nn.Parameter(torch.empty(len(rows)))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights (gain 1.414), unit edge logits, uniform bias."""
        nn.init.xavier_uniform_(self.weight[0], gain=GCONV_GAIN)
        nn.init.xavier_uniform_(self.weight[1], gain=GCONV_GAIN)
        nn.init.ones_(self.edge_logits)
        _reset_bias(self.bias, self.out_channels)

    def normalized_adjacency(self) -> torch.Tensor:
        """The (N, N) row-softmax of the edge logits over each row's entries (rows without entries are zero)."""
        n = self.entries.shape[0]
        fill = torch.finfo(self.edge_logits.dtype).min
        logits = self.edge_logits.new_full((n, n), fill).index_put((self.rows, self.cols), self.edge_logits)
        return torch.softmax(logits, dim=1) * self.entries

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        xn = nodes_first(x)
        n, b, c = xn.shape
        weights = self.normalized_adjacency()
        self_weight = weights.diagonal()[:, None, None]
        if self.in_channels <= self.out_channels:
            mixed = GraphMixer.mix(self, weights, xn.view(n, b * c), self.neighbours).view(n * b, c)
            out = torch.addmm(self.bias, mixed, self.weight[1])
            out = add_product(out, (xn * self_weight).view(n * b, c), self.weight[0])
        else:
            flat = xn.view(n * b, c)
            own = torch.mm(flat, self.weight[0]).view(n, b, self.out_channels)
            sent = torch.mm(flat, self.weight[1]).view(n, -1)
            out = GraphMixer.mix(self, weights, sent, self.neighbours).view(n, b, -1)
            out = add_into(out, torch.addcmul(self.bias, own, self_weight))
        return from_nodes(out.view(n, b, self.out_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}, entries={len(self.rows)}"


def symmetric_normalized(adjacency: torch.Tensor) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of an adjacency that already holds its self-loops; rows without entries stay zero."""
    degree = adjacency.sum(dim=1)
    inv_sqrt = torch.where(degree > 0, degree.clamp(min=1e-12).rsqrt(), torch.zeros_like(degree))
    return inv_sqrt[:, None] * adjacency * inv_sqrt[None, :]


class GConv(nn.Module):
    """Vanilla graph convolution (Eq. 1): ``A~ X W + b`` with one weight matrix, ``A~`` symmetrically normalised.

    Weight: Xavier uniform (gain 1.414); bias uniform in ``+-1/sqrt(C_out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.register_buffer("entries", graph.adjacency.clone(), persistent=False)
        GraphMixer.register(self, self.entries)
        self.weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weight (gain 1.414), uniform bias."""
        nn.init.xavier_uniform_(self.weight, gain=GCONV_GAIN)
        _reset_bias(self.bias, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        xn = nodes_first(x)
        n, b, c = xn.shape
        propagation = symmetric_normalized(self.entries)
        if self.in_channels <= self.out_channels:
            mixed = GraphMixer.mix(self, propagation, xn.view(n, b * c)).view(n * b, c)
            out = torch.addmm(self.bias, mixed, self.weight)
        else:
            transformed = torch.mm(xn.view(n * b, c), self.weight).view(n, -1)
            out = add_into(GraphMixer.mix(self, propagation, transformed).view(n, b, -1), self.bias)
        return from_nodes(out.view(n, b, self.out_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {self.out_channels}"


#: The graph convolution types, by the name the configurations use.
GCONV_TYPES: dict[str, type[nn.Module]] = {"semgconv": SemGConv, "vanilla": GConv}


def make_gconv(kind: str, in_channels: int, out_channels: int, graph: Graph) -> nn.Module:
    """A graph convolution of type ``kind`` ('semgconv' or 'vanilla')."""
    if kind not in GCONV_TYPES:
        raise ValueError(f"unknown graph convolution {kind!r}; expected one of {sorted(GCONV_TYPES)}")
    return GCONV_TYPES[kind](in_channels, out_channels, graph)


class NodeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the channels of (B, N, C) features, statistics over batch and real nodes.

    With a mask, fake nodes are left out of the statistics and come out as zeros.
    """

    def __init__(self, channels: int, mask: torch.Tensor | None = None):
        super().__init__(channels)
        real = None if mask is None else torch.nonzero(mask, as_tuple=True)[0]
        self.register_buffer("real_index", real, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C), in the memory layout of ``x`` when it is batch- or node-major."""
        if x.is_contiguous():
            return self.normalize(x, node_dim=1)
        return from_nodes(self.normalize(nodes_first(x), node_dim=0))

    def normalize(self, x: torch.Tensor, node_dim: int) -> torch.Tensor:
        """Contiguous features with the nodes at ``node_dim`` (0 or 1) and the channels last, same layout out."""
        c = x.shape[-1]
        if self.real_index is None:
            return super().forward(x.view(-1, c)).view(x.shape)
        real = x.index_select(node_dim, self.real_index)
        normed = super().forward(real.view(-1, c)).view(real.shape)
        return normed.new_zeros(x.shape).index_copy(node_dim, self.real_index, normed)


class GraphConvBNReLU(nn.Module):
    """Graph convolution -> batch norm -> ReLU."""

    def __init__(self, kind: str, in_channels: int, out_channels: int, graph: Graph):
        super().__init__()
        self.gconv = make_gconv(kind, in_channels, out_channels, graph)
        self.bn = NodeBatchNorm(out_channels, graph.layer_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C_in) -> (B, N, C_out)."""
        return torch.relu(self.bn(self.gconv(x)))


class ResidualBlock(nn.Module):
    """The ResGCN block: two (graph conv -> batch norm -> ReLU) layers plus the identity."""

    def __init__(self, kind: str, channels: int, graph: Graph):
        super().__init__()
        self.first = GraphConvBNReLU(kind, channels, channels, graph)
        self.second = GraphConvBNReLU(kind, channels, channels, graph)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        return x + self.second(self.first(x))


class NonLocal(nn.Module):
    """Non-local layer, concatenation form, over all (real) nodes of a graph.

    ``y_i = 1/N sum_j ReLU(w^T [theta(x_i), phi(x_j)]) g(x_j)``, ``z = x + BN(W_out y)``; theta, phi, g are
    1x1 convolutions to ``C // 2`` channels. Initialisation as released with the layer: Kaiming-normal weights,
    zero biases, and the output batch norm at zero (the layer starts as the identity).
    """

    def __init__(self, channels: int, mask: torch.Tensor | None = None):
        super().__init__()
        inner = channels // 2
        if inner < 1:
            raise ValueError(f"a non-local layer needs at least 2 channels, got {channels}")
        self.channels, self.inner = channels, inner
        self.theta_weight = nn.Parameter(torch.empty(inner, channels))
        self.theta_bias = nn.Parameter(torch.empty(inner))
        self.phi_weight = nn.Parameter(torch.empty(inner, channels))
        self.phi_bias = nn.Parameter(torch.empty(inner))
        self.g_weight = nn.Parameter(torch.empty(inner, channels))
        self.g_bias = nn.Parameter(torch.empty(inner))
        self.pair_weight = nn.Parameter(torch.empty(2, inner))
        self.out_weight = nn.Parameter(torch.empty(channels, inner))
        self.out_bias = nn.Parameter(torch.empty(channels))
        self.out_bn = NodeBatchNorm(channels, mask)
        self.register_buffer("mask", None if mask is None else mask.to(torch.float32)[:, None], persistent=False)
        self.real_count = None if mask is None else int(mask.sum())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights, zero biases, zero output batch norm."""
        for weight in (self.theta_weight, self.phi_weight, self.g_weight, self.out_weight):
            nn.init.kaiming_normal_(weight)
        nn.init.normal_(self.pair_weight, std=math.sqrt(2.0 / (2 * self.inner)))
        for bias in (self.theta_bias, self.phi_bias, self.g_bias, self.out_bias):
            nn.init.zeros_(bias)
        nn.init.zeros_(self.out_bn.weight)
        nn.init.zeros_(self.out_bn.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, N, C)."""
        xn = nodes_first(x)
        n, b, c = xn.shape
        flat = xn.view(n * b, c)
        w_theta, w_phi = self.pair_weight
        projection = torch.stack([w_theta @ self.theta_weight, w_phi @ self.phi_weight], dim=1)
        offset = torch.stack([w_theta @ self.theta_bias, w_phi @ self.phi_bias])
        scores = torch.addmm(offset, flat, projection).view(n, b, 2).permute(2, 1, 0).contiguous()
        pairwise = torch.relu_(scores[0].unsqueeze(2) + scores[1].unsqueeze(1))
        values = torch.addmm(self.g_bias, flat, self.g_weight.t()).view(n, b, self.inner)
        count = n
        if self.mask is not None:
            values = values * self.mask[:, :, None]
            count = self.real_count
        y = torch.bmm(pairwise, values.transpose(0, 1).contiguous())
        y = y.transpose(0, 1).contiguous().view(n * b, self.inner)
        out = torch.addmm(self.out_bias, y, (self.out_weight / count).t()).view(n, b, c)
        return from_nodes(xn + nodes_first(self.out_bn(from_nodes(out))))

    def extra_repr(self) -> str:
        return f"{self.channels} (inner {self.inner})"


class NodeMap(nn.Module):
    """``a(X_i, k)`` of Eq. 3: a learned map from the nodes of one graph to those of another, with bias.

    A 1x1 Conv1d whose channels are the nodes, ``(B, N_in, C) -> (B, N_out, C)``: ``weight`` (N_out, N_in),
    ``bias`` (N_out). Xavier-uniform weight, zero bias. Entries from or to fake nodes are masked out
    (``in_keep`` / ``out_keep``: 1 at real nodes, 0 at fake ones; None for a plain graph).
    """

    def __init__(self, in_nodes: int, out_nodes: int, in_mask: torch.Tensor | None = None,
                 out_mask: torch.Tensor | None = None):
        super().__init__()
        self.in_nodes, self.out_nodes = in_nodes, out_nodes
        self.weight = nn.Parameter(torch.empty(out_nodes, in_nodes))
        self.bias = nn.Parameter(torch.empty(out_nodes))
        self.register_buffer("in_keep", None if in_mask is None else in_mask.to(torch.float32), persistent=False)
        self.register_buffer("out_keep", None if out_mask is None else out_mask.to(torch.float32), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weight, zero bias."""
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias with the entries from and to fake nodes zeroed."""
        weight, bias = self.weight, self.bias
        if self.in_keep is not None:
            weight = weight * self.in_keep
        if self.out_keep is not None:
            weight, bias = weight * self.out_keep[:, None], bias * self.out_keep
        return weight, bias

    def extra_repr(self) -> str:
        return f"{self.in_nodes} -> {self.out_nodes} nodes"


#: Fusion orderings: Eq. (3) reads unfused features; 'inplace' is the released code's order, where a later
#: target of the same stage reads branches that were already fused.
FUSION_ORDERINGS = ("paper", "inplace")


class Fusion(nn.Module):
    """The multi-scale fusion of one stage (Eq. 3): ``Y_k = X_k + sum_{i != k} a(X_i, k)``.

    ``sources``: the branches whose features enter; ``targets``: the branches that leave with fused features
    (a target that is not a source starts from the maps alone). Targets are visited in the given order; with
    ordering 'inplace' each one reads the sources as updated so far.
    """

    def __init__(self, node_counts: Sequence[int], masks: Sequence[torch.Tensor | None], sources: Sequence[int],
                 targets: Sequence[int], ordering: str = "paper"):
        super().__init__()
        if ordering not in FUSION_ORDERINGS:
            raise ValueError(f"unknown fusion ordering {ordering!r}; expected one of {FUSION_ORDERINGS}")
        self.sources, self.targets, self.ordering = tuple(sources), tuple(targets), ordering
        self.maps = nn.ModuleDict({
            self.key(i, k): NodeMap(node_counts[i], node_counts[k], masks[i], masks[k])
            for k in self.targets for i in self.sources if i != k})

    @staticmethod
    def key(source: int, target: int) -> str:
        """Name of the map from branch ``source`` to branch ``target``."""
        return f"{source}_to_{target}"

    def inputs_of(self, target: int) -> list[int]:
        """The branches mapped into ``target``."""
        return [i for i in self.sources if i != target]

    def forward(self, features: Sequence[torch.Tensor | None]) -> list[torch.Tensor | None]:
        """Per branch: the fused features of the targets, None for the other branches."""
        read = list(features)
        out: list[torch.Tensor | None] = [None] * len(features)
        for k in self.targets:
            inputs = self.inputs_of(k)
            fused = features[k]
            if inputs:
                weights, biases = zip(*(self.maps[self.key(i, k)].effective() for i in inputs))
                sources = [nodes_first(read[i]) for i in inputs]
                b, c = sources[0].shape[1:]
                mapped = torch.addmm(sum(biases)[:, None], weights[0], sources[0].view(-1, b * c))
                for weight, source in zip(weights[1:], sources[1:]):
                    mapped = add_product(mapped, weight, source.view(-1, b * c))
                if fused is not None:
                    mapped = add_into(mapped, nodes_first(fused).view(-1, b * c))
                fused = from_nodes(mapped.view(-1, b, c))
            out[k] = fused
            if self.ordering == "inplace":
                read[k] = fused
        return out
