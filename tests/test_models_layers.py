"""The fast layers against their plain transcriptions (outputs and gradients), fusion orderings, fake-node masks.

The comparisons run in float64, so the tolerance (1e-9, tighter than the 1e-5 asked for) checks the algebra, not
float32 rounding; tests/test_models.py compares whole float32 models.
"""
from __future__ import annotations

import pytest
import torch

from hgnlib.models import layers
from hgnlib.models.graph import Graph, skeleton_graph, synthetic_graph
from hgnlib.models.layers import Fusion, GConv, NodeBatchNorm, NonLocal, SemGConv, node_mix
from hgnlib.models.reference import as_reference

TOL = dict(atol=1e-5, rtol=1e-5)
EXACT = dict(atol=1e-9, rtol=1e-9)
GRAPHS = {
    "skeleton": skeleton_graph,
    "plain48": lambda: synthetic_graph(48, 3.0, seed=3),
    "padded48": lambda: synthetic_graph(48, 3.0, num_fake=6, seed=4),
}


def perturb(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter off its initial value (zero batch norms and unit logits hide errors)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return module


def assert_same(fast: torch.nn.Module, x: torch.Tensor, train: bool = True) -> None:
    """Outputs, input and parameter gradients and buffers of ``fast`` equal those of its reference twin (float64)."""
    fast, x = fast.double(), x.double()
    ref = as_reference(fast)
    fast.train(train)
    ref.train(train)
    x_fast, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_fast, y_ref = fast(x_fast), ref(x_ref)
    torch.testing.assert_close(y_fast, y_ref, **EXACT)
    weights = torch.randn(y_fast.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (y_fast * weights).sum().backward()
    (y_ref * weights).sum().backward()
    torch.testing.assert_close(x_fast.grad, x_ref.grad, **EXACT)
    for (name, p_fast), p_ref in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p_fast.grad, p_ref.grad, **EXACT, msg=lambda m, n=name: f"{n}: {m}")
    for b_fast, b_ref in zip(fast.buffers(), ref.buffers()):
        torch.testing.assert_close(b_fast, b_ref, **EXACT)


def features(graph_or_nodes: Graph | int, channels: int, batch: int = 6, seed: int = 0) -> torch.Tensor:
    nodes = graph_or_nodes if isinstance(graph_or_nodes, int) else graph_or_nodes.num_nodes
    return torch.randn(batch, nodes, channels, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("conv", [SemGConv, GConv])
@pytest.mark.parametrize("channels", [(3, 8), (8, 3)], ids=["widen", "narrow"])
def test_graph_convolutions_match_reference(graph, conv, channels):
    g = GRAPHS[graph]()
    layer = perturb(conv(*channels, g))
    assert_same(layer, features(g, channels[0]))


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_node_batch_norm_matches_reference(graph, train):
    g = GRAPHS[graph]()
    layer = perturb(NodeBatchNorm(5, g.mask))
    layer.running_mean.uniform_(-1, 1)
    layer.running_var.uniform_(0.5, 2)
    assert_same(layer, 2 + 3 * features(g, 5), train)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("channels", [8, 7])
def test_nonlocal_matches_reference(graph, train, channels):
    g = GRAPHS[graph]()
    layer = perturb(NonLocal(channels, g.mask))
    assert_same(layer, features(g, channels), train)


def three_branches(padded: bool) -> list[Graph]:
    fake = (0, 6, 11) if padded else (0, 0, 0)
    return [skeleton_graph(), synthetic_graph(48, 3.0, num_fake=fake[1], seed=5),
            synthetic_graph(96, 3.0, num_fake=fake[2], seed=6)]


class FusionHarness(torch.nn.Module):
    """A fusion that takes one tensor (the branches concatenated along the nodes), for :func:`assert_same`."""

    def __init__(self, fusion: Fusion, nodes: list[int]):
        super().__init__()
        self.fusion, self.nodes = fusion, nodes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(x.split(self.nodes, dim=1))
        inputs = [parts[i] if i in self.fusion.sources else None for i in range(len(parts))]
        return torch.cat([f for f in self.fusion(inputs) if f is not None], dim=1)


@pytest.mark.parametrize("padded", [False, True], ids=["plain", "padded"])
@pytest.mark.parametrize("ordering", ["paper", "inplace"])
@pytest.mark.parametrize("sources,targets", [([0, 1], [0, 1, 2]), ([0, 1, 2], [0, 1, 2]), ([0], [0, 1])],
                         ids=["joining", "full", "input"])
def test_fusion_matches_reference(padded, ordering, sources, targets):
    graphs = three_branches(padded)
    nodes = [g.num_nodes for g in graphs]
    fusion = perturb(Fusion(nodes, [g.mask for g in graphs], sources, targets, ordering))
    assert_same(FusionHarness(fusion, nodes), features(sum(nodes), 4))


def test_fusion_maps_are_node_to_node_with_bias():
    graphs = three_branches(False)
    fusion = Fusion([17, 48, 96], [None] * 3, sources=[0, 1], targets=[0, 1, 2])
    shapes = {k: (tuple(m.weight.shape), tuple(m.bias.shape)) for k, m in fusion.maps.items()}
    assert shapes == {"1_to_0": ((17, 48), (17,)), "0_to_1": ((48, 17), (48,)), "0_to_2": ((96, 17), (96,)),
                      "1_to_2": ((96, 48), (96,))}
    x = [features(g, 4, seed=i) for i, g in enumerate(graphs[:2])] + [None]
    out = fusion(x)
    m = fusion.maps
    # node order: row r of the 17 -> 48 map gives node r of the 48-node branch from the 17 skeleton nodes
    expected_1 = x[1] + torch.einsum("mn,bnc->bmc", m["0_to_1"].weight, x[0]) + m["0_to_1"].bias[:, None]
    torch.testing.assert_close(out[1], expected_1, **TOL)
    expected_2 = (node_mix(m["0_to_2"].weight, x[0]) + node_mix(m["1_to_2"].weight, x[1])
                  + (m["0_to_2"].bias + m["1_to_2"].bias)[:, None])
    torch.testing.assert_close(out[2], expected_2, **TOL)


def test_fusion_orderings_differ_exactly_by_the_fused_source():
    """In-place: a later target reads the already-fused earlier ones; the first target and one-source stages agree."""
    nodes = [17, 48]
    torch.manual_seed(0)
    paper = perturb(Fusion(nodes, [None, None], [0, 1], [0, 1], "paper"))
    inplace = Fusion(nodes, [None, None], [0, 1], [0, 1], "inplace")
    inplace.load_state_dict(paper.state_dict())
    x = [features(17, 4, seed=1), features(48, 4, seed=2)]
    y_paper, y_inplace = paper(x), inplace(x)
    torch.testing.assert_close(y_paper[0], y_inplace[0], **TOL)
    # the two-branch case still differs: Y1 reads Y0 = X0 + a(X1, 0), so the gap is W_01 a(X1, 0), bias free
    w01 = paper.maps["0_to_1"].weight
    torch.testing.assert_close(y_inplace[1] - y_paper[1], node_mix(w01, y_paper[0] - x[0]), **TOL)
    assert (y_inplace[1] - y_paper[1]).abs().max() > 1e-3
    one_source = [Fusion(nodes, [None, None], [0], [0, 1], o) for o in ("paper", "inplace")]
    one_source[1].load_state_dict(one_source[0].state_dict())
    a, b = (f([x[0], None]) for f in one_source)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=0)


def test_inplace_ordering_with_three_branches_reads_updated_sources():
    graphs = three_branches(False)
    nodes = [g.num_nodes for g in graphs]
    fusion = perturb(Fusion(nodes, [None] * 3, [0, 1, 2], [0, 1, 2], "inplace"))
    x = [features(n, 4, seed=i) for i, n in enumerate(nodes)]

    def mapped(i, k, source):
        return node_mix(fusion.maps[f"{i}_to_{k}"].weight, source) + fusion.maps[f"{i}_to_{k}"].bias[:, None]

    y0 = x[0] + mapped(1, 0, x[1]) + mapped(2, 0, x[2])
    y1 = x[1] + mapped(0, 1, y0) + mapped(2, 1, x[2])
    y2 = x[2] + mapped(0, 2, y0) + mapped(1, 2, y1)
    for got, want in zip(fusion(x), (y0, y1, y2)):
        torch.testing.assert_close(got, want, **TOL)


def test_fake_nodes_get_no_messages_in_graph_convolutions():
    g = synthetic_graph(48, 3.0, num_fake=6, seed=4)
    fake = ~g.mask
    for conv in (SemGConv(4, 8, g), GConv(4, 8, g), SemGConv(8, 4, g), GConv(8, 4, g)):
        perturb(conv)
        x = features(g, conv.in_channels)
        moved_real, moved_fake = x.clone(), x.clone()
        moved_real[:, g.mask] += 5.0
        moved_fake[:, fake] += 5.0
        with torch.no_grad():
            base = conv(x)
            torch.testing.assert_close(conv(moved_real)[:, fake], base[:, fake], rtol=0, atol=0)
            bias_only = conv.bias.expand(x.shape[0], int(fake.sum()), -1)
            torch.testing.assert_close(conv(moved_real)[:, fake], bias_only, **TOL)
            torch.testing.assert_close(conv(moved_fake)[:, g.mask], base[:, g.mask], **TOL)


def test_fake_nodes_are_out_of_batch_norm_non_local_and_fusion():
    g = synthetic_graph(48, 3.0, num_fake=6, seed=4)
    fake = ~g.mask
    x = features(g, 8)
    x[:, fake] = 0.0
    moved = x.clone()
    moved[:, fake] = 7.0
    bn = perturb(NodeBatchNorm(8, g.mask))
    assert bn(moved)[:, fake].abs().max() == 0
    torch.testing.assert_close(bn(moved), bn(x), **TOL)
    nonlocal_layer = perturb(NonLocal(8, g.mask))
    torch.testing.assert_close(nonlocal_layer(moved)[:, g.mask], nonlocal_layer(x)[:, g.mask], **TOL)
    assert nonlocal_layer(x)[:, fake].abs().max() == 0
    fusion = perturb(Fusion([17, 48], [None, g.mask], [0, 1], [0, 1]))
    skeleton_x = features(17, 8, seed=3)
    fused = fusion([skeleton_x, x])
    assert fused[1][:, fake].abs().max() == 0
    torch.testing.assert_close(fusion([skeleton_x, moved])[0], fused[0], **TOL)


# --- the fast paths: dense node mixing (GPU, torch.compile), memory layouts ----------------------------------


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("conv", [SemGConv, GConv])
@pytest.mark.parametrize("channels", [(3, 8), (8, 3)], ids=["widen", "narrow"])
def test_dense_node_mixing_matches_reference(graph, conv, channels, monkeypatch):
    """The dense (N, N) products used on GPU and under torch.compile equal the references as the sparse ones do."""
    monkeypatch.setattr(layers, "SPARSE_MIX", False)
    g = GRAPHS[graph]()
    assert not layers.use_sparse_mix(features(g, 1))
    assert_same(perturb(conv(*channels, g)), features(g, channels[0]))


@pytest.mark.parametrize("graph", ["skeleton", "padded48"])
def test_sparse_and_dense_node_mixing_agree(graph, monkeypatch):
    g = GRAPHS[graph]()
    conv = perturb(SemGConv(8, 8, g)).double()
    x = features(g, 8).double().requires_grad_()
    sparse = conv(x)
    sparse.square().sum().backward()
    grads = [x.grad.clone()] + [p.grad.clone() for p in conv.parameters()]
    monkeypatch.setattr(layers, "SPARSE_MIX", False)
    x.grad = None
    conv.zero_grad()
    dense = conv(x)
    dense.square().sum().backward()
    torch.testing.assert_close(sparse, dense, **EXACT)
    for got, want in zip(grads, [x.grad] + [p.grad for p in conv.parameters()]):
        torch.testing.assert_close(got, want, **EXACT)


def test_layers_take_either_layout_and_return_node_major_views():
    g = GRAPHS["padded48"]()
    x = features(g, 8)
    node_major = x.transpose(0, 1).contiguous().transpose(0, 1)
    for layer in (perturb(SemGConv(8, 16, g)), perturb(GConv(8, 16, g)), perturb(NodeBatchNorm(8, g.mask)),
                  perturb(NonLocal(8, g.mask))):
        a, b = layer(x), layer(node_major)
        torch.testing.assert_close(a, b, **TOL)
        assert a.shape[:2] == x.shape[:2]
        if not isinstance(layer, NodeBatchNorm):
            assert a.transpose(0, 1).is_contiguous(), type(layer).__name__
    # narrow outputs (the coordinate heads) come back as ordinary contiguous (B, N, C) tensors
    assert SemGConv(8, 3, g)(x).is_contiguous() and GConv(8, 3, g)(x).is_contiguous()
    assert NodeBatchNorm(8, g.mask)(x).is_contiguous()


def test_state_dict_keys_hold_no_pattern_buffers():
    g = GRAPHS["padded48"]()
    assert set(SemGConv(4, 8, g).state_dict()) == {"weight", "edge_logits", "bias"}
    assert set(GConv(4, 8, g).state_dict()) == {"weight", "bias"}


def test_models_train_under_autocast():
    """bfloat16 autocast (``--amp``): the dense path is taken, and no in-place accumulation mixes dtypes."""
    from hgnlib.models import ModelConfig, build_model

    graphs = {"mesh_c1": synthetic_graph(96, 3.0, num_fake=13, seed=11), "mesh_c": synthetic_graph(48, 3.0, seed=12)}
    x = features(17, 2, batch=4)
    assert layers.use_sparse_mix(x)
    for kind, gconv in (("hgn", "semgconv"), ("hgn", "vanilla"), ("graphsh", "semgconv")):
        model = build_model(ModelConfig("amp", kind, gconv, 16), graphs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not layers.use_sparse_mix(x)
            out = model(x)
            loss = sum(v.float().square().mean() for v in out.values())
        loss.backward()
        assert all(torch.isfinite(v.float()).all() for v in out.values())
        assert all(p.grad is not None for p in model.parameters())
