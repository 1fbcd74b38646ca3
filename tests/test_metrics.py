"""Metrics against hand-computed cases, including degenerate ones."""
import math

import pytest
import torch
from scipy.spatial.transform import Rotation

from hgnlib import metrics, skeleton


def pose(seed=0, n=1):
    return 0.3 * torch.randn(n, 17, 3, generator=torch.Generator().manual_seed(seed))


def test_mpjpe_by_hand():
    target = torch.zeros(1, 17, 3)
    pred = target.clone()
    pred[0, 3] = torch.tensor([0.003, 0.004, 0.0])  # 5 mm on one joint
    assert metrics.mpjpe(pred, target).item() == pytest.approx(5 / 17)
    assert metrics.per_joint(pred, target)["RAnkle"] == pytest.approx(5)


def test_mpjpe_subtracts_the_predicted_pelvis():
    target = pose(4, 2)
    target = target - target[:, :1]
    shifted = target + torch.tensor([0.03, 0.0, 0.04])  # the whole prediction 50 mm off, pelvis included
    assert metrics.mpjpe(shifted, target).abs().max().item() < 1e-4
    assert metrics.mpjpe(shifted, target, root=None).numpy() == pytest.approx([50, 50], rel=1e-5)
    # A pelvis error alone moves every root-aligned joint: 5 mm off at the pelvis -> 5 mm on the 16 others.
    pred = target.clone()
    pred[:, 0] += torch.tensor([0.003, 0.004, 0.0])
    assert metrics.mpjpe(pred, target).numpy() == pytest.approx([5 * 16 / 17] * 2, rel=1e-4)
    assert metrics.per_joint(pred, target)["Pelvis"] == pytest.approx(0)


def test_procrustes_removes_similarity_transforms():
    target = pose(1, 4).double()
    rot = torch.tensor(Rotation.from_euler("xyz", [0.3, -1.0, 2.0]).as_matrix())
    pred = 1.7 * target @ rot.T + torch.tensor([0.5, -0.2, 3.0], dtype=torch.float64)
    assert metrics.pa_mpjpe(pred, target).max().item() < 1e-6
    assert metrics.mpjpe(pred, target).min().item() > 100


def test_procrustes_noise_is_not_removed():
    target = pose(2, 1).double()
    pred = target.clone()
    pred[0, 5, 0] += 0.1  # one joint 100 mm off
    aligned = metrics.procrustes_align(pred, target)
    # Least squares: the squared error can only go down, but it is not zero (and the mean distance may go up).
    assert 0 < ((aligned - target) ** 2).sum() < ((pred - target) ** 2).sum()
    assert metrics.pa_mpjpe(pred, target).item() > 0


def test_degenerate_cases():
    target = pose(3, 2)
    zero = torch.zeros_like(target)
    # An all-zero prediction aligns to the target's centroid: the error is the spread of the target.
    expected = (target - target.mean(1, keepdim=True)).norm(dim=-1).mean(-1) * 1000
    assert torch.allclose(metrics.pa_mpjpe(zero, target), expected, rtol=1e-5)
    assert torch.isfinite(metrics.pa_mpjpe(zero, zero)).all() and metrics.pa_mpjpe(zero, zero).max() < 1e-6
    # A mirrored pose cannot be rotated onto the original: the error stays positive.
    mirrored = target * torch.tensor([-1.0, 1.0, 1.0])
    assert metrics.pa_mpjpe(mirrored, target).min().item() > 1


def test_mpvpe_masks_fake_nodes():
    target = torch.zeros(2, 4, 3)
    pred = target.clone()
    pred[:, 3] = 1.0  # the fake node is far off
    mask = torch.tensor([True, True, True, False])
    assert metrics.mpvpe(pred, target, mask).max().item() == 0
    assert metrics.mpvpe(pred, target).min().item() == pytest.approx(1000 * math.sqrt(3) / 4)


def test_pck_auc_over_the_standard_joints():
    assert [metrics.skeleton.H36M17_NAMES[j] for j in metrics.PCK_JOINTS if j in (0, 7, 9)] == []
    assert len(metrics.PCK_JOINTS) == 14
    target = torch.zeros(1, 17, 3)
    pred = target.clone()
    # Standard joints: RHip 100 mm, RKnee 200 mm, RAnkle 12 mm off, the 11 others exact; the pelvis is exact.
    pred[0, [1, 2, 3], 0] = torch.tensor([0.1, 0.2, 0.012])
    assert metrics.pck(pred, target).item() == pytest.approx(100 * 13 / 14)
    # thresholds 0..150 step 5 (31 values): exact joints count at 30 (not at 0), 12 mm at 28, 100 mm at 10
    assert metrics.auc(pred, target).item() == pytest.approx(100 * (11 * 30 + 28 + 10) / (31 * 14))
    # The 17-joint variant also counts pelvis, spine and nose (exact here).
    assert metrics.pck(pred, target, joints=metrics.ALL_JOINTS).item() == pytest.approx(100 * 16 / 17)
    assert metrics.pck(pred, target, joints=(0, 3)).item() == pytest.approx(100)


def test_action_convention():
    values = torch.tensor([10.0, 10.0, 10.0, 40.0])
    groups = torch.tensor([0, 0, 0, 1])
    per = metrics.per_group(values, groups, ["A", "B", "C"])
    assert per == {"A": 10.0, "B": 40.0}
    assert metrics.mean_over_actions(per) == 25.0  # not the frame mean (17.5)


def test_body_parts_cover_joints():
    pred, target = pose(4, 3), pose(5, 3)
    parts = metrics.per_body_part(pred, target)
    assert parts["head"] == pytest.approx((metrics.per_joint(pred, target)["Nose"] + metrics.per_joint(pred, target)["Head"]) / 2)


def test_root_offset_separates_the_pelvis_from_the_joints():
    from hgnlib.experiments.root_offset import root_offset

    target = pose(3, n=4)
    target = target - target[:, :1]
    action = torch.tensor([0, 0, 5, 5])
    shift = torch.tensor([0.03, -0.04, 0.0])  # 50 mm
    shifted = root_offset(target + shift, target, action)  # the whole pose off the origin: Protocol #1 sees nothing
    assert metrics.mpjpe(target + shift, target).max() == pytest.approx(0, abs=1e-3)
    assert shifted["mpjpe_unaligned"] == pytest.approx(50, abs=1e-3)
    assert shifted["pelvis_offset"] == pytest.approx(50, abs=1e-3)
    pelvis_only = target.clone()
    pelvis_only[:, 0] += shift  # only the pelvis off: Protocol #1 pays it on the 16 other joints
    moved = root_offset(pelvis_only, target, action)
    assert moved["mpjpe_unaligned"] == pytest.approx(50 / 17, abs=1e-3) and moved["pelvis_offset"] == pytest.approx(50)
    assert set(moved["per_action"]["pelvis_offset"]) == {skeleton.ACTIONS[0], skeleton.ACTIONS[5]}
