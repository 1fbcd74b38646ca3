"""Eq. (4): weights, reductions, masks."""
import pytest
import torch

from hgnlib.losses import LossWeights, hgn_loss, point_loss


def test_point_loss_by_hand():
    target = torch.zeros(2, 3, 3)
    pred = target.clone()
    pred[0, 0] = torch.tensor([1.0, 2.0, 2.0])  # squared norm 9 in sample 0
    assert point_loss(pred, target).item() == pytest.approx(9 / 2)
    assert point_loss(pred, target, reduction="mse").item() == pytest.approx(9 / 2 / 9)
    assert point_loss(pred, target, mask=torch.tensor([False, True, True])).item() == 0
    with pytest.raises(ValueError):
        point_loss(pred, target, reduction="l1")


def test_eq4_combines_terms_and_masks_fake_nodes():
    outputs = {"pose": torch.ones(4, 17, 3), "mesh_c": torch.ones(4, 48, 3), "mesh_c1": torch.ones(4, 96, 3)}
    targets = {k: torch.zeros_like(v) for k, v in outputs.items()}
    mask = torch.zeros(96, dtype=torch.bool)
    mask[:83] = True  # 83 real vertices padded to 96
    total, terms = hgn_loss(outputs, targets, {"mesh_c1": mask}, LossWeights(1.0, 0.01))
    assert terms == {"pose": pytest.approx(17 * 3), "mesh_c": pytest.approx(48 * 3), "mesh_c1": pytest.approx(83 * 3)}
    assert total.item() == pytest.approx(51 + 0.01 * (144 + 249))
    no_mesh, terms0 = hgn_loss(outputs, targets, weights=LossWeights(1.0, 0.0))
    assert no_mesh.item() == pytest.approx(51) and set(terms0) == {"pose"}


def test_gradients_reach_every_output():
    outputs = {"pose": torch.randn(2, 17, 3, requires_grad=True), "mesh_c": torch.randn(2, 48, 3, requires_grad=True)}
    targets = {"pose": torch.zeros(2, 17, 3), "mesh_c": torch.zeros(2, 48, 3)}
    hgn_loss(outputs, targets)[0].backward()
    assert outputs["pose"].grad.abs().sum() > 0 and outputs["mesh_c"].grad.abs().sum() > 0


def test_mesh_terms_average_over_the_kept_samples_only():
    outputs = {"pose": torch.zeros(4, 17, 3), "mesh_c": torch.zeros(4, 48, 3)}
    targets = {"pose": torch.zeros(4, 17, 3), "mesh_c": torch.zeros(4, 48, 3)}
    targets["mesh_c"][0] = 1.0  # only sample 0 is off: 48 * 3 per sample
    keep = torch.tensor([True, True, False, False])
    _, terms = hgn_loss(outputs, targets, weights=LossWeights(1.0, 0.01), mesh_samples=keep)
    assert terms["mesh_c"] == pytest.approx(48 * 3 / 2)
    _, none_kept = hgn_loss(outputs, targets, weights=LossWeights(1.0, 0.01), mesh_samples=torch.zeros(4, dtype=bool))
    assert none_kept["mesh_c"] == 0
