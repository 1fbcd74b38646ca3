"""The networks: variants as configurations, shapes, fake-node masks, parameter counts, determinism, references."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hgnlib.models import (CONFIGS, TABLE_ENTRIES, Branch, HGNSpec, ModelConfig, as_graph, build_model, count_params,
                           param_rows, skeleton_graph, synthetic_graph)
from hgnlib.models.graph import Graph
from hgnlib.models.graphsh import LIMB_EDGES, LIMB_GROUPS, PART_EDGES, PART_GROUPS, GroupPool, edge_graph
from hgnlib.models.hgn import HGN
from hgnlib.models.reference import as_reference


def mesh_graphs(fine: int = 96, coarse: int = 48, fake: tuple[int, int] = (0, 0)) -> dict[str, Graph]:
    """Stand-ins for G_M^{C-1} and G_M^C with about 3 neighbours per node (SMPL-like entry counts)."""
    return {"mesh_c1": synthetic_graph(fine, 3.0, num_fake=fake[0], seed=11),
            "mesh_c": synthetic_graph(coarse, 3.0, num_fake=fake[1], seed=12)}


def inputs(batch: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 17, 2, generator=torch.Generator().manual_seed(seed))


# --- graphs --------------------------------------------------------------------------------------------------


def test_as_graph_adds_self_loops_to_real_nodes_only():
    adjacency = np.zeros((5, 5))
    adjacency[0, 1] = adjacency[1, 0] = adjacency[1, 3] = adjacency[3, 1] = 1
    mask = np.array([True, True, False, True, False])
    for given in (adjacency, torch.tensor(adjacency), sp.csr_matrix(adjacency)):
        graph = as_graph(given, mask)
        assert graph.adjacency.diagonal().tolist() == [1, 1, 0, 1, 0]
        assert graph.num_real == 3 and graph.num_entries == 4 + 3
    assert as_graph((adjacency, np.ones(5, dtype=bool))).mask is None
    with_loops = adjacency + np.eye(5)
    assert torch.equal(as_graph(with_loops).adjacency, as_graph(adjacency).adjacency)


def test_as_graph_rejects_connected_fake_nodes_and_asymmetry():
    adjacency = np.zeros((4, 4))
    adjacency[0, 2] = adjacency[2, 0] = 1
    with pytest.raises(ValueError, match="fake node"):
        as_graph(adjacency, np.array([True, True, False, True]))
    adjacency[1, 3] = 1
    with pytest.raises(ValueError, match="symmetric"):
        as_graph(adjacency)


def test_synthetic_graphs_have_the_asked_size_and_degree():
    graph = synthetic_graph(96, 3.0, num_fake=13, seed=0)
    assert graph.num_nodes == 96 and graph.num_real == 83
    assert graph.num_entries == 83 + 2 * round(83 * 3.0 / 2)


# --- structure -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,branches", [
    ("hgn-128", [("skeleton", 17, 4, 1), ("mesh_c", 48, 4, 1), ("mesh_c1", 96, 2, 3)]),
    ("hgn-wo-mesh-c-128", [("skeleton", 17, 4, 1), ("mesh_c1", 96, 4, 1)]),
    ("hgn-wo-mesh-c1-128", [("skeleton", 17, 4, 1), ("mesh_c", 48, 4, 1)]),
    ("semgcn-128", [("skeleton", 17, 4, 1)]),
])
def test_variants_build_with_their_branches(name, branches):
    model = build_model(name, mesh_graphs())
    assert isinstance(model, HGN)
    got = [(b.graph, head.gconv.entries.shape[0], len(blocks), b.first_stage)
           for b, head, blocks in zip(model.spec.branches, model.heads, model.branches)]
    assert got == branches
    out = model(inputs(2))
    assert list(out) == ["joints" if g == "skeleton" else g for g, *_ in branches]
    assert {k: v.shape[1] for k, v in out.items()} == {("joints" if g == "skeleton" else g): n
                                                      for g, n, *_ in branches}
    assert (model.input_nonlocal is not None) == (name == "semgcn-128")


def test_hgn_fusion_maps_per_stage():
    model = build_model("hgn-128", mesh_graphs())
    maps = {stage: {k: tuple(m.weight.shape) + tuple(m.bias.shape) for k, m in fusion.maps.items()}
            for stage, fusion in model.fusions.items()}
    both = {"1_to_0": (17, 48, 17), "0_to_1": (48, 17, 48)}
    full = {**both, "2_to_0": (17, 96, 17), "0_to_2": (96, 17, 96), "2_to_1": (48, 96, 48), "1_to_2": (96, 48, 96)}
    assert maps == {"0": {"0_to_1": (48, 17, 48)}, "1": both,
                    "2": {**both, "0_to_2": (96, 17, 96), "1_to_2": (96, 48, 96)}, "3": full, "4": full}


def test_spec_validation():
    with pytest.raises(ValueError, match="nothing feeds it"):
        HGNSpec((Branch("skeleton", 4), Branch("mesh_c1", 2, first_stage=3)), (0, 1, 3, 4)).validate()
    with pytest.raises(ValueError, match="last stage"):
        HGNSpec((Branch("skeleton", 4), Branch("mesh_c", 3)), (0, 1, 2, 3, 4)).validate()
    with pytest.raises(ValueError, match="no graph"):
        HGN(HGNSpec((Branch("skeleton", 4), Branch("mesh_c", 4)), (0, 1)), {"skeleton": skeleton_graph()})


def test_graphsh_pools_joints_to_parts_to_limbs():
    parts = edge_graph(len(PART_GROUPS), PART_EDGES)
    limbs = edge_graph(len(LIMB_GROUPS), LIMB_EDGES)
    assert parts.num_nodes == 8 and parts.num_entries == 8 + 2 * 7
    assert limbs.num_nodes == 4 and limbs.num_entries == 4 + 2 * 3
    # The release's graphs: the lower torso (part 3) joins the shoulders (7), not the head group (4); the limb
    # chain runs lower legs - lower torso - forearms - head and shoulders.
    assert parts.adjacency[3, 7] == 1 and parts.adjacency[3, 4] == 0
    assert PART_GROUPS[0] == (5, 6) and LIMB_GROUPS[2] == (5, 6) and limbs.adjacency[1, 2] == 1
    assert sorted(j for g in PART_GROUPS for j in g) == list(range(17))
    pool = GroupPool(PART_GROUPS)
    x = torch.arange(17.0).view(1, 17, 1)
    assert pool(x).flatten().tolist() == [max(g) for g in PART_GROUPS]
    assert pool.unpool(pool(x))[0, 9, 0] == 10.0


# --- every model: forward, backward, counts, determinism ------------------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_forward_backward_batch_64(name):
    torch.manual_seed(0)
    model = build_model(name, mesh_graphs())
    out = model(inputs(64))
    expected = {"joints": 17, "mesh_c": 48, "mesh_c1": 96}
    assert out and all(v.shape == (64, expected[k], 3) for k, v in out.items())
    assert all(torch.isfinite(v).all() for v in out.values())
    sum(v.square().mean() for v in out.values()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", CONFIGS)
def test_gradients_are_the_same_with_deterministic_algorithms(name):
    """No op whose CPU default accumulates with atomics (as the gradient of ``x[:, index]`` does): with torch's
    deterministic implementations on, the gradients are bit for bit those of the default ones."""
    def grads(deterministic: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = build_model(name, mesh_graphs())
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(deterministic)
        try:
            sum(v.square().mean() for v in model(inputs(64)).values()).backward()
        finally:
            torch.use_deterministic_algorithms(previous)
        return [p.grad.clone() for p in model.parameters()]

    assert all(torch.equal(a, b) for a, b in zip(grads(False), grads(True), strict=True))


@pytest.mark.parametrize("entry", TABLE_ENTRIES, ids=lambda e: f"{e.table}-{e.config}")
def test_parameter_counts_match_the_paper(entry):
    params = count_params(build_model(entry.config, mesh_graphs()))
    assert abs(params / entry.paper_params - 1) <= 0.03, (entry, params)


def test_param_rows_note_the_counts_that_cannot_match():
    rows = param_rows(mesh_graphs(95, 54))
    assert len(rows) == len(TABLE_ENTRIES)
    for row in rows:
        assert {"table", "name", "params", "paper_params", "note"} <= set(row)
        assert bool(row["note"]) == (abs(row["ratio"] - 1) > 0.03)
    assert not any(row["note"] for row in param_rows(mesh_graphs()))


def test_initialisation_is_deterministic_under_a_seed():
    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return build_model("hgn-64", mesh_graphs()).state_dict()

    first, again, other = state(0), state(0), state(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)


def test_release_initialisation_uses_the_stacked_xavier_bound_and_default_fusion_maps():
    import math

    from hgnlib.models.initialisation import initialise
    from hgnlib.models.layers import NodeMap, SemGConv

    torch.manual_seed(0)
    model = build_model("hgn-128", mesh_graphs())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initialise(model, "paper")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    initialise(model, "release")
    gconvs = [m for m in model.modules() if isinstance(m, SemGConv)]
    maps = [m for m in model.modules() if isinstance(m, NodeMap)]
    assert gconvs and maps
    for layer in gconvs:
        c_in, c_out = layer.in_channels, layer.out_channels
        stacked = 1.414 * math.sqrt(6.0 / (c_in * c_out + 2 * c_out))  # torch's fans of the (2, C_in, C_out) tensor
        per_matrix = 1.414 * math.sqrt(6.0 / (c_in + c_out))
        largest = float(layer.weight.detach().abs().max())
        assert largest <= stacked and (c_in * c_out < 64 or largest > 0.8 * stacked)
        if c_in == c_out == 128:
            assert per_matrix / stacked > 8  # the difference the option exists for
    for fusion_map in maps:
        bound = 1 / math.sqrt(fusion_map.in_nodes)
        assert float(fusion_map.weight.detach().abs().max()) <= bound >= float(fusion_map.bias.detach().abs().max())
        assert float(fusion_map.bias.detach().abs().max()) > 0  # the paper reading starts the bias at zero
    with pytest.raises(ValueError, match="initialisation"):
        initialise(model, "kaiming")


# --- whole models against their references; fake nodes -------------------------------------------------------


def relative_gap(a: torch.Tensor, b: torch.Tensor, scale: float | None = None) -> float:
    """Largest difference, relative to ``scale`` (by default the largest magnitude of ``b``)."""
    scale = float(b.detach().abs().max()) if scale is None else scale
    return float((a - b).detach().abs().max()) / max(scale, 1e-12)


@pytest.mark.parametrize("kind,gconv,fusion,fake", [
    ("hgn", "semgconv", "paper", (0, 0)), ("hgn", "vanilla", "inplace", (0, 0)),
    ("hgn", "semgconv", "inplace", (13, 3)), ("semgcn", "semgconv", "paper", (0, 0)),
    ("graphsh", "semgconv", "paper", (0, 0)),
])
def test_models_match_their_reference_twins(kind, gconv, fusion, fake):
    torch.manual_seed(0)
    model = build_model(ModelConfig("small", kind, gconv, 16, fusion), mesh_graphs(fake=fake))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    reference = as_reference(model)
    out, out_ref = model(inputs(8)), reference(inputs(8))
    sum(v.square().mean() for v in out.values()).backward()
    sum(v.square().mean() for v in out_ref.values()).backward()
    for key in out:
        assert relative_gap(out[key], out_ref[key]) < 1e-5
    scale = max(float(p.grad.abs().max()) for p in reference.parameters())
    for (name, p), p_ref in zip(model.named_parameters(), reference.parameters()):
        assert relative_gap(p.grad, p_ref.grad, scale) < 1e-5, name


def plain_twin(padded: HGN, graphs: dict[str, Graph]) -> tuple[HGN, dict[str, torch.Tensor]]:
    """The same model on the real subgraphs, with the padded model's weights restricted to real nodes."""
    plain_graphs = {k: as_graph(g.adjacency[g.mask][:, g.mask]) for k, g in graphs.items()}
    plain = build_model(ModelConfig("plain", "hgn", "semgconv", 16), plain_graphs)
    masks = {str(i): graphs[b.graph].mask if b.graph in graphs else None for i, b in enumerate(padded.spec.branches)}
    state = padded.state_dict()
    restricted = {}
    for name, value in plain.state_dict().items():
        source = state[name]
        if source.shape != value.shape:
            source_branch, target_branch = name.split(".")[3].split("_to_")
            rows, cols = masks[target_branch], masks[source_branch]
            source = source[rows] if rows is not None else source
            if source.ndim == 2 and cols is not None:
                source = source[:, cols]
        restricted[name] = source
    plain.load_state_dict(restricted)
    return plain, {k: g.mask for k, g in graphs.items()}


def test_padded_model_equals_the_plain_model_on_real_nodes():
    graphs = mesh_graphs(fake=(13, 3))
    torch.manual_seed(0)
    padded = build_model(ModelConfig("padded", "hgn", "semgconv", 16), graphs)
    with torch.no_grad():
        for p in padded.parameters():
            p.add_(0.1 * torch.randn_like(p))
    plain, masks = plain_twin(padded, graphs)
    for train in (True, False):
        padded.train(train)
        plain.train(train)
        out, out_plain = padded(inputs(8)), plain(inputs(8))
        torch.testing.assert_close(out["joints"], out_plain["joints"], atol=1e-4, rtol=1e-4)
        for key in ("mesh_c", "mesh_c1"):
            assert out[key][:, ~masks[key]].abs().max() == 0
            torch.testing.assert_close(out[key][:, masks[key]], out_plain[key], atol=1e-4, rtol=1e-4)


def test_fake_nodes_take_no_part_in_learning():
    graphs = mesh_graphs(fake=(13, 3))
    model = build_model(ModelConfig("padded", "hgn", "semgconv", 16), graphs)
    out = model(inputs(8))
    sum(v.square().mean() for v in out.values()).backward()
    fake = {str(i): ~graphs[b.graph].mask if b.graph in graphs else None
            for i, b in enumerate(model.spec.branches)}
    for fusion in model.fusions.values():
        for key, node_map in fusion.maps.items():
            source, target = key.split("_to_")
            if fake[target] is not None:
                assert node_map.weight.grad[fake[target]].abs().max() == 0
                assert node_map.bias.grad[fake[target]].abs().max() == 0
            if fake[source] is not None:
                assert node_map.weight.grad[:, fake[source]].abs().max() == 0


# --- left-right symmetry -----------------------------------------------------------------------------------------


def flipped_labels(model: torch.nn.Module, x: torch.Tensor) -> float:
    """max |f(P x) - P f(x)| / mean |f(x)| for the left-right label swap P, under randomly moved weights."""
    from hgnlib.skeleton import FLIP_PERMUTATION

    flip = list(FLIP_PERMUTATION)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
        model.eval()
        swapped, plain = model(x[:, flip])["joints"], model(x)["joints"]
    return float((swapped - plain[:, flip]).abs().max() / plain.abs().mean())


@pytest.mark.parametrize("name, equivariant", [("semgcn-vanilla-128", True), ("graphsh-vanilla-64", True),
                                                ("semgcn-128", False), ("graphsh-64", False),
                                                ("hgn-vanilla-128", False)])
def test_which_models_cannot_tell_left_from_right(name, equivariant):
    """SeqRes and GraphSH with the vanilla GConv share every weight between the nodes and see the skeleton only
    through its adjacency, which swapping left and right leaves as it is: whatever their weights, swapping the left
    and right labels of the input swaps those of the output. Such a network cannot tell a person facing the camera
    from one facing away (the same 2D joints with swapped labels), on which the depth of every joint depends.
    SemGConv's learned edge weights and HGN's node-to-node fusion maps break the symmetry."""
    torch.manual_seed(0)
    gap = flipped_labels(build_model(name, mesh_graphs()), inputs(8))
    assert (gap < 1e-4) if equivariant else (gap > 1e-2), gap
