"""The tensor dataset: sample construction, labels, strides, splits and the flip augmentation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hgnlib import skeleton
from hgnlib.cameras import load_h36m_cameras, normalize_screen
from hgnlib.data import dataset, h36m
from hgnlib.errors import DataError

SEQS = ("Walking 1", "Eating 2", "Photo 1")
FRAMES = 7


@pytest.fixture(scope="module")
def cameras() -> dict:
    return load_h36m_cameras()


def make_world(rng: np.random.Generator, subjects=("S1", "S5", "S9")) -> dict:
    """32-joint world poses near the middle of the capture volume (metres)."""
    return {s: {n: (rng.normal(0, 0.3, (FRAMES, 32, 3)) + [0.0, 0.0, 1.0]).astype(np.float32) for n in SEQS}
            for s in subjects}


def make_pixels(rng: np.random.Generator, positions_3d: dict, extra_frames: int = 0) -> dict:
    return {s: {n: [rng.uniform(0, 1000, (len(a) + extra_frames, 17, 2)).astype(np.float32) for _ in range(4)]
                for n, a in seqs.items()} for s, seqs in positions_3d.items()}


@pytest.fixture
def data(cameras):
    rng = np.random.default_rng(1)
    positions_3d = make_world(rng)
    return positions_3d, make_pixels(rng, positions_3d)


# ------------------------------------------------------------------------------------------------ building


def test_shapes_and_dtypes(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1", "S9"])
    n = 2 * len(SEQS) * 4 * FRAMES
    assert len(pd) == n
    assert pd.inputs.shape == (n, 17, 2) and pd.targets.shape == (n, 17, 3) and pd.root.shape == (n, 3)
    assert pd.inputs.dtype == pd.targets.dtype == pd.root.dtype == torch.float32
    for label in (pd.subject, pd.action, pd.camera, pd.frame, pd.sequence):
        assert label.shape == (n,) and label.dtype == torch.int64
    assert pd.subjects == ["S1", "S9"]
    assert pd.sequences == [(s, name) for s in ("S1", "S9") for name in SEQS]


def test_targets_are_pelvis_relative_camera_space(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1", "S9"])
    assert torch.all(pd.targets[:, skeleton.PELVIS] == 0)
    i = int(np.flatnonzero((pd.sequence == pd.sequences.index(("S9", "Eating 2"))) & (pd.camera == 2)
                           & (pd.frame == 4))[0])
    cam = cameras["S9"][2]
    expected = cam.world_to_camera(skeleton.to_17(positions_3d["S9"]["Eating 2"][4].astype(np.float64)))
    np.testing.assert_allclose(pd.root[i].numpy(), expected[0], atol=1e-5)
    np.testing.assert_allclose(pd.targets[i].numpy(), expected - expected[0], atol=1e-5)
    assert 3.0 < float(pd.root[i, 2]) < 8.0  # the person stands in front of the camera


def test_inputs_are_normalised_pixels_and_labels_are_right(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S5", "S9"])
    for i in np.random.default_rng(2).choice(len(pd), 20, replace=False):
        subject = pd.subjects[int(pd.subject[i])]
        seq_subject, name = pd.sequences[int(pd.sequence[i])]
        c, f = int(pd.camera[i]), int(pd.frame[i])
        assert seq_subject == subject
        assert skeleton.ACTIONS[int(pd.action[i])] == skeleton.action_of(name)
        cam = cameras[subject][c]
        expected = normalize_screen(positions_2d[subject][name][c][f], cam.width, cam.height)
        np.testing.assert_allclose(pd.inputs[i].numpy(), expected, atol=1e-6)
    assert set(pd.action.tolist()) == {skeleton.ACTIONS.index(a) for a in ("Walking", "Eating", "Photo")}
    assert set(pd.camera.tolist()) == {0, 1, 2, 3}


def test_stride_keeps_every_nth_frame(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1"], stride=3)
    assert sorted(set(pd.frame.tolist())) == [0, 3, 6]
    assert len(pd) == len(SEQS) * 4 * 3
    with pytest.raises(ValueError, match="stride"):
        dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1"], stride=0)


def test_17_and_32_joint_3d_give_the_same_samples(data, cameras):
    positions_3d, positions_2d = data
    as17 = {s: {n: skeleton.to_17(a) for n, a in seqs.items()} for s, seqs in positions_3d.items()}
    a = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1"])
    b = dataset.build_pose_data(as17, positions_2d, cameras, ["S1"])
    torch.testing.assert_close(a.targets, b.targets)
    torch.testing.assert_close(a.root, b.root)
    bad = {"S1": {"Walking 1": np.zeros((FRAMES, 20, 3))}}
    with pytest.raises(DataError, match=r"shape \(7, 20, 3\)"):
        dataset.build_pose_data(bad, positions_2d, cameras, ["S1"])


def test_longer_2d_is_trimmed_and_shorter_refused(cameras):
    rng = np.random.default_rng(3)
    positions_3d = make_world(rng, ("S1",))
    longer = dataset.build_pose_data(positions_3d, make_pixels(rng, positions_3d, 3), cameras, ["S1"])
    assert len(longer) == len(SEQS) * 4 * FRAMES and int(longer.frame.max()) == FRAMES - 1
    with pytest.raises(DataError, match="6 2D frames for 7 3D frames"):
        dataset.build_pose_data(positions_3d, make_pixels(rng, positions_3d, -1), cameras, ["S1"])


def test_actions_filter_and_unknown_subject(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1"], actions=["Eating"])
    assert pd.sequences == [("S1", "Eating 2")] and set(pd.action.tolist()) == {skeleton.ACTIONS.index("Eating")}
    with pytest.raises(DataError, match="subject S7 has no 3D data"):
        dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S7"])


def test_subset_and_to(data, cameras):
    positions_3d, positions_2d = data
    pd = dataset.build_pose_data(positions_3d, positions_2d, cameras, ["S1", "S9"])
    test = pd.subset(pd.subject == 1)
    assert len(test) == len(pd) // 2 and set(test.subject.tolist()) == {1} and test.subjects == pd.subjects
    picked = pd.subset(np.array([5, 2]))
    torch.testing.assert_close(picked.targets, pd.targets[[5, 2]])
    assert torch.equal(picked.frame, pd.frame[[5, 2]])
    moved = pd.to("cpu")
    assert moved.inputs.device.type == "cpu" and len(moved) == len(pd)


def test_load_split_from_a_folder(tmp_path: Path, cameras):
    rng = np.random.default_rng(4)
    positions_3d = make_world(rng, ("S1", "S5", "S9", "S11"))
    h36m.save_3d(tmp_path / h36m.THREE_D_FILE, positions_3d)
    h36m.save_2d(tmp_path / h36m.TWO_D_FILES["synthdet"], make_pixels(rng, positions_3d))
    split = dataset.load_split(tmp_path, "detected", train_subjects=["S1", "S5"], train_stride=2)
    assert split.train.subjects == ["S1", "S5"] and split.test.subjects == list(dataset.TEST_SUBJECTS)
    assert len(split.train) == 2 * len(SEQS) * 4 * 4  # frames 0, 2, 4, 6
    assert len(split.test) == 2 * len(SEQS) * 4 * FRAMES  # every test frame by default
    with pytest.raises(DataError, match="not found"):
        dataset.load_split(tmp_path, "gt")


# ----------------------------------------------------------------------------------------------------- flip


def _symmetric_pose(rng: np.random.Generator, dims: int) -> torch.Tensor:
    """A (17, dims) pose whose left side is the mirror (x -> -x) of its right side and whose centre is on x = 0."""
    pose = torch.from_numpy(rng.normal(size=(17, dims))).float()
    centre = [j for j in range(17) if j not in skeleton.LEFT_JOINTS + skeleton.RIGHT_JOINTS]
    pose[centre, 0] = 0
    pose[list(skeleton.LEFT_JOINTS)] = pose[list(skeleton.RIGHT_JOINTS)] * torch.tensor([-1.0] + [1.0] * (dims - 1))
    return pose


@pytest.mark.parametrize("flip, dims", [(dataset.flip_inputs, 2), (dataset.flip_targets, 3)])
def test_flip_twice_is_identity_and_symmetric_pose_is_fixed(flip, dims):
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(4, 17, dims))).float()
    torch.testing.assert_close(flip(flip(x)), x)
    assert not torch.allclose(flip(x), x)
    sym = _symmetric_pose(rng, dims)[None]
    torch.testing.assert_close(flip(sym), sym)


def test_flip_swaps_left_and_right_and_mirrors_x():
    x = torch.randn(3, 17, 3)
    y = dataset.flip_targets(x)
    for left, right in zip(skeleton.LEFT_JOINTS, skeleton.RIGHT_JOINTS):
        torch.testing.assert_close(y[:, left], x[:, right] * torch.tensor([-1.0, 1.0, 1.0]))
        torch.testing.assert_close(y[:, right], x[:, left] * torch.tensor([-1.0, 1.0, 1.0]))
    torch.testing.assert_close(y[:, skeleton.PELVIS], x[:, skeleton.PELVIS] * torch.tensor([-1.0, 1.0, 1.0]))


def test_flip_inputs_is_the_mirror_of_the_image(cameras):
    cam = cameras["S1"][1]
    uv = np.random.default_rng(6).uniform(0, 1000, (2, 17, 2))
    mirrored = uv.copy()
    mirrored[..., 0] = cam.width - uv[..., 0]
    mirrored = mirrored[:, list(skeleton.FLIP_PERMUTATION)]
    flipped = dataset.flip_inputs(torch.from_numpy(normalize_screen(uv, cam.width, cam.height)))
    np.testing.assert_allclose(flipped.numpy(), normalize_screen(mirrored, cam.width, cam.height), atol=1e-12)


def test_flip_batch_with_mask():
    x2d, x3d = torch.randn(4, 17, 2), torch.randn(4, 17, 3)
    mask = torch.tensor([True, False, True, False])
    f2d, f3d = dataset.flip_batch(x2d, x3d, mask)
    torch.testing.assert_close(f2d[mask], dataset.flip_inputs(x2d[mask]))
    torch.testing.assert_close(f3d[~mask], x3d[~mask])
    a2d, a3d = dataset.flip_batch(x2d, x3d)
    torch.testing.assert_close(a3d, dataset.flip_targets(x3d))


def _equivariant_model(x2d: torch.Tensor) -> torch.Tensor:
    """Lifts 2D to 3D so that flipping the input flips the output: x, y scaled, depth from the joint's radius."""
    return torch.cat([2 * x2d, x2d.norm(dim=-1, keepdim=True)], dim=-1)


def test_flip_average_of_an_equivariant_model_is_the_model():
    x = torch.randn(5, 17, 2)
    torch.testing.assert_close(dataset.flip_average(_equivariant_model, x), _equivariant_model(x))


def test_flip_average_changes_a_biased_model():
    x = torch.randn(5, 17, 2)

    def biased(x2d: torch.Tensor) -> torch.Tensor:
        return _equivariant_model(x2d) + torch.tensor([0.5, 0.0, 0.0])

    averaged = dataset.flip_average(biased, x)
    torch.testing.assert_close(averaged, _equivariant_model(x))  # the x bias cancels between the two passes
    assert not torch.allclose(averaged, biased(x))
