"""Readers and writers of the Human3.6M files (npz and the authors' JSON): round trips and every error path."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hgnlib import paths, skeleton
from hgnlib.cameras import quaternion_to_matrix
from hgnlib.data import h36m
from hgnlib.errors import DataError, HGNError, MissingFileError
from hgnlib.fileio import save_npz

SEQS = ("Walking 1", "Eating 2")


def make_3d(rng: np.random.Generator, subjects=("S1", "S9"), frames: int = 5, joints: int = 32) -> dict:
    return {s: {n: rng.normal(size=(frames, joints, 3)).astype(np.float32) for n in SEQS} for s in subjects}


def make_2d(rng: np.random.Generator, subjects=("S1", "S9"), frames: int = 5, joints: int = 17,
            cameras: int = 4) -> dict:
    return {s: {n: [rng.uniform(0, 1000, size=(frames, joints, 2)).astype(np.float32) for _ in range(cameras)]
                for n in SEQS} for s in subjects}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# ------------------------------------------------------------------------------------------------ round trips


def test_3d_round_trip(tmp_path: Path, rng):
    positions = make_3d(rng)
    h36m.save_3d(tmp_path / h36m.THREE_D_FILE, positions)
    loaded = h36m.load_3d(tmp_path / h36m.THREE_D_FILE)
    assert set(loaded) == {"S1", "S9"} and set(loaded["S1"]) == set(SEQS)
    for s in positions:
        for n in SEQS:
            np.testing.assert_array_equal(loaded[s][n], positions[s][n])


def test_2d_round_trip(tmp_path: Path, rng):
    positions = make_2d(rng)
    path = tmp_path / h36m.TWO_D_FILES["gt"]
    h36m.save_2d(path, positions)
    loaded, metadata = h36m.load_2d(path)
    assert metadata == h36m.H36M_METADATA
    assert metadata["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    for s in positions:
        for n in SEQS:
            assert len(loaded[s][n]) == 4
            for got, want in zip(loaded[s][n], positions[s][n]):
                np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------- missing files


def test_missing_3d_file_names_path_and_both_fixes(tmp_path: Path):
    path = tmp_path / h36m.THREE_D_FILE
    with pytest.raises(MissingFileError) as err:
        h36m.load_3d(path)
    message = str(err.value)
    assert str(path) in message and str(paths.h36m_dir()) in message
    assert "licensed" in message and "hgn data synth" in message


def test_missing_licensed_2d_file_says_where_to_put_it(tmp_path: Path):
    path = tmp_path / h36m.TWO_D_FILES["cpn"]
    with pytest.raises(MissingFileError) as err:
        h36m.load_2d(path)
    message = str(err.value)
    assert str(path) in message and str(paths.h36m_dir()) in message and "licensed" in message
    assert "hgn data synth" not in message


def test_missing_synthetic_detections_point_to_the_generator(tmp_path: Path):
    with pytest.raises(MissingFileError, match="hgn data synth"):
        h36m.load_2d(tmp_path / h36m.TWO_D_FILES["synthdet"])


# ------------------------------------------------------------------------------------------------ bad files


def test_not_an_npz(tmp_path: Path):
    path = tmp_path / h36m.THREE_D_FILE
    path.write_text("this is not an archive")
    with pytest.raises(DataError, match="not a loadable npz"):
        h36m.load_3d(path)


def test_single_array_is_not_an_npz(tmp_path: Path):
    path = tmp_path / h36m.THREE_D_FILE
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError, match="not an npz archive"):
        h36m.load_3d(path)


def test_missing_key_names_the_keys_found(tmp_path: Path, rng):
    path = tmp_path / h36m.THREE_D_FILE
    save_npz(path, positions=make_3d(rng))
    with pytest.raises(DataError) as err:
        h36m.load_3d(path)
    assert "positions_3d" in str(err.value) and "'positions'" in str(err.value)


def test_2d_without_metadata(tmp_path: Path, rng):
    path = tmp_path / h36m.TWO_D_FILES["gt"]
    save_npz(path, positions_2d=make_2d(rng))
    with pytest.raises(DataError, match=r"missing key\(s\) \['metadata'\]"):
        h36m.load_2d(path)


def test_positions_not_a_dict(tmp_path: Path):
    path = tmp_path / h36m.THREE_D_FILE
    save_npz(path, positions_3d=np.zeros((2, 32, 3)))
    with pytest.raises(DataError, match="not a dict"):
        h36m.load_3d(path)


def test_sequences_not_a_dict(tmp_path: Path):
    path = tmp_path / h36m.THREE_D_FILE
    save_npz(path, positions_3d={"S1": [np.zeros((2, 32, 3))]})
    with pytest.raises(DataError, match=r"\['S1'\] holds a list, not a dict"):
        h36m.load_3d(path)


def test_3d_with_17_joints_is_refused(tmp_path: Path, rng):
    path = tmp_path / h36m.THREE_D_FILE
    h36m.save_3d(path, make_3d(rng, joints=17))
    with pytest.raises(DataError) as err:
        h36m.load_3d(path)
    message = str(err.value)
    assert "'S1'" in message and "'Walking 1'" in message and "(5, 17, 3)" in message and "32" in message


def test_2d_with_16_joints_is_refused(tmp_path: Path, rng):
    path = tmp_path / h36m.TWO_D_FILES["gt"]
    h36m.save_2d(path, make_2d(rng, joints=16))
    with pytest.raises(DataError) as err:
        h36m.load_2d(path)
    assert "(5, 16, 2)" in str(err.value) and "camera 0" in str(err.value)


@pytest.mark.parametrize("metadata, found", [
    ({"layout_name": "coco", "num_joints": 17,
      "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]}, "keypoints_symmetry"),
    ({"layout_name": "h36m", "num_joints": 16, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]},
     "num_joints is 16"),
    ({"layout_name": "h36m"}, "num_joints is None"),
])
def test_2d_with_another_layout_is_refused(tmp_path: Path, rng, metadata, found):
    path = tmp_path / h36m.TWO_D_FILES["cpn"]
    h36m.save_2d(path, make_2d(rng), metadata)
    with pytest.raises(DataError, match=found):
        h36m.load_2d(path)


def test_metadata_with_numpy_symmetry_is_accepted(tmp_path: Path, rng):
    path = tmp_path / h36m.TWO_D_FILES["cpn"]
    metadata = {"layout_name": "h36m", "num_joints": np.int64(17),
                "keypoints_symmetry": [np.array([4, 5, 6, 11, 12, 13]), np.array([1, 2, 3, 14, 15, 16])]}
    h36m.save_2d(path, make_2d(rng), metadata)
    assert set(h36m.load_2d(path)[0]) == {"S1", "S9"}


def test_three_cameras_is_refused(tmp_path: Path, rng):
    path = tmp_path / h36m.TWO_D_FILES["gt"]
    h36m.save_2d(path, make_2d(rng, cameras=3))
    with pytest.raises(DataError, match="holds 3 cameras"):
        h36m.load_2d(path)


def test_nan_in_2d_names_subject_sequence_camera_and_count(tmp_path: Path, rng):
    positions = make_2d(rng)
    positions["S9"]["Eating 2"][2][1, 3:6, 0] = np.nan
    path = tmp_path / h36m.TWO_D_FILES["gt"]
    h36m.save_2d(path, positions)
    with pytest.raises(DataError) as err:
        h36m.load_2d(path)
    message = str(err.value)
    assert "'S9'" in message and "'Eating 2'" in message and "camera 2" in message and "3 NaN" in message


def test_inf_in_3d_is_refused(tmp_path: Path, rng):
    positions = make_3d(rng)
    positions["S1"]["Walking 1"][0, 0, 0] = np.inf
    path = tmp_path / h36m.THREE_D_FILE
    h36m.save_3d(path, positions)
    with pytest.raises(DataError, match="'S1'.*'Walking 1'.* 1 NaN or infinite"):
        h36m.load_3d(path)


# ---------------------------------------------------------------------------------------------- pairs, sources


def test_pair_accepts_longer_2d_and_refuses_shorter(rng):
    positions_3d = make_3d(rng, frames=5)
    h36m.check_pair(positions_3d, make_2d(rng, frames=5), "x.npz")
    h36m.check_pair(positions_3d, make_2d(rng, frames=7), "x.npz")
    with pytest.raises(DataError, match="4 frames of 2D for 5 frames of 3D"):
        h36m.check_pair(positions_3d, make_2d(rng, frames=4), "x.npz")


def test_pair_refuses_other_subjects_and_sequences(rng):
    positions_3d = make_3d(rng)
    with pytest.raises(DataError, match="subjects differ"):
        h36m.check_pair(positions_3d, make_2d(rng, subjects=("S1",)), "x.npz")
    positions_2d = make_2d(rng)
    positions_2d["S9"]["Eating 3"] = positions_2d["S9"].pop("Eating 2")
    with pytest.raises(DataError, match=r"S9: sequences only in 3D \['Eating 2'\], only in 2D \['Eating 3'\]"):
        h36m.check_pair(positions_3d, positions_2d, "x.npz")


def test_two_d_path_sources(tmp_path: Path):
    assert h36m.two_d_path(tmp_path, "gt") == tmp_path / "data_2d_h36m_gt.npz"
    assert h36m.two_d_path(tmp_path, "sh_pt") == tmp_path / "data_2d_h36m_sh_pt_mpii.npz"
    assert h36m.two_d_path(tmp_path, "detected") == tmp_path / "data_2d_h36m_synthdet.npz"
    (tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz").touch()
    assert h36m.two_d_path(tmp_path, "detected") == tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    with pytest.raises(HGNError, match="unknown 2D source 'openpose'"):
        h36m.two_d_path(tmp_path, "openpose")


# ------------------------------------------------------------------------------------------- authors' JSON


def _rotation(rng: np.random.Generator) -> np.ndarray:
    return quaternion_to_matrix(rng.normal(size=4))


def write_authors(folder: Path, rng: np.random.Generator, subject: int = 1, smpl: bool = True) -> dict:
    """Write a tiny authors' annotation set; returns what was written (millimetres)."""
    sizes = {1: (1000, 1002), 2: (1000, 1000), 3: (1000, 1000), 4: (1000, 1000)}
    images = [{"id": i, "file_name": f"img{i}.jpg", "width": sizes[cam][0], "height": sizes[cam][1],
               "subject": subject, "action_name": "Directions", "action_idx": 2, "subaction_idx": 1,
               "cam_idx": cam, "frame_idx": i} for i, cam in enumerate((1, 2, 3, 4, 1))]
    annotations = [{"id": i, "image_id": i, "bbox": [0, 0, 10, 10], "keypoints_vis": [1] * 17} for i in range(5)]
    cameras = {str(c): {"R": _rotation(rng).tolist(), "t": rng.normal(0, 1000, 3).tolist(),
                        "f": [1145.0 + c, 1143.0 - c], "c": [512.0 + c, 515.0 - c]} for c in range(1, 5)}
    joints = {"2": {"1": {str(f): rng.normal(0, 500, (17, 3)).tolist() for f in (10, 2, 0)}},
              "12": {"2": {"4": rng.normal(0, 500, (17, 3)).tolist()}}}
    params = {"2": {"1": {str(f): {"pose": rng.normal(size=72).tolist(), "shape": rng.normal(size=10).tolist(),
                                   "trans": rng.normal(size=3).tolist(), "fitted_3d_pose": [[0, 0, 0]] * 17}
                          for f in (0, 2)}}}
    files = {"data": {"images": images, "annotations": annotations}, "camera": cameras, "joint_3d": joints}
    if smpl:
        files["smpl_param"] = params
    for kind, content in files.items():
        (folder / f"Human36M_subject{subject}_{kind}.json").write_text(json.dumps(content))
    return files


def test_authors_camera_convention(tmp_path: Path, rng):
    written = write_authors(tmp_path, rng)
    subject = h36m.load_authors_subject(tmp_path, 1)
    assert [c.id for c in subject.cameras] == list(h36m.AUTHORS_CAMERA_IDS)
    assert (subject.cameras[0].width, subject.cameras[0].height) == (1000, 1002)
    assert subject.cameras[1].height == 1000
    X_mm = rng.normal(0, 1000, (6, 3))
    for cam, entry in zip(subject.cameras, (written["camera"][str(c)] for c in range(1, 5))):
        R, t = np.array(entry["R"]), np.array(entry["t"])
        expected_mm = X_mm @ R.T + t
        np.testing.assert_allclose(cam.world_to_camera(X_mm / 1000) * 1000, expected_mm, atol=1e-9)
        pixels = expected_mm[:, :2] / expected_mm[:, 2:] * entry["f"] + entry["c"]
        np.testing.assert_allclose(cam.project(cam.world_to_camera(X_mm / 1000), distort=False), pixels, atol=1e-9)


def test_authors_joints_order_frames_and_actions(tmp_path: Path, rng):
    written = write_authors(tmp_path, rng)
    subject = h36m.load_authors_subject(tmp_path, 1)
    assert subject.subject == "S1"
    assert set(subject.joints) == {("Directions", 1), ("Photo", 2)}
    frames, joints = subject.joints[("Directions", 1)]
    np.testing.assert_array_equal(frames, [0, 2, 10])
    raw = np.array([written["joint_3d"]["2"]["1"][str(f)] for f in (0, 2, 10)])
    names = dict(zip(h36m.AUTHORS_JOINT_NAMES, range(17)))
    by_name = {"Pelvis": "Pelvis", "Spine": "Torso", "Thorax": "Neck", "Head": "Head_top",
               "LWrist": "L_Wrist", "RShoulder": "R_Shoulder", "RAnkle": "R_Ankle", "LHip": "L_Hip"}
    for ours, theirs in by_name.items():
        np.testing.assert_allclose(joints[:, skeleton.H36M17_NAMES.index(ours)], raw[:, names[theirs]] / 1000)
    np.testing.assert_allclose(joints, raw / 1000)  # same topology and order: the permutation is the identity


def test_authors_smpl_params(tmp_path: Path, rng):
    written = write_authors(tmp_path, rng)
    smpl = h36m.load_authors_subject(tmp_path, 1).smpl
    assert set(smpl) == {("Directions", 1)}
    params = smpl[("Directions", 1)]
    np.testing.assert_array_equal(params.frames, [0, 2])
    assert params.pose.shape == (2, 72) and params.shape.shape == (2, 10) and params.trans.shape == (2, 3)
    np.testing.assert_allclose(params.pose[1], written["smpl_param"]["2"]["1"]["2"]["pose"])


def test_authors_without_smpl_file(tmp_path: Path, rng):
    write_authors(tmp_path, rng, smpl=False)
    subject = h36m.load_authors_subject(tmp_path, 1)
    assert subject.smpl is None and len(subject.joints) == 2


def test_authors_to_positions_3d(tmp_path: Path, rng):
    write_authors(tmp_path, rng)
    positions = h36m.authors_to_positions_3d([h36m.load_authors_subject(tmp_path, 1)])
    assert set(positions) == {"S1"} and set(positions["S1"]) == {"Directions 1", "Photo 2"}
    assert positions["S1"]["Directions 1"].shape == (3, 17, 3) and positions["S1"]["Photo 2"].shape == (1, 17, 3)


def test_authors_missing_file(tmp_path: Path, rng):
    write_authors(tmp_path, rng)
    (tmp_path / "Human36M_subject1_camera.json").unlink()
    with pytest.raises(MissingFileError) as err:
        h36m.load_authors_subject(tmp_path, 1)
    assert "Human36M_subject1_camera.json" in str(err.value) and str(paths.h36m_dir()) in str(err.value)


def _rewrite(folder: Path, kind: str, content) -> None:
    (folder / f"Human36M_subject1_{kind}.json").write_text(json.dumps(content))


@pytest.mark.parametrize("kind, content, found", [
    ("joint_3d", {"2": {"1": {"0": [[0.0, 0.0]] * 17}}}, r"Directions subaction 1: values of shape \(17, 2\)"),
    ("joint_3d", {"1": {"1": {"0": [[0.0, 0.0, 0.0]] * 17}}}, "action_idx 1 is out of range"),
    ("joint_3d", {"2": {"one": {"0": [[0.0, 0.0, 0.0]] * 17}}}, "subaction_idx key 'one' is not an integer"),
    ("joint_3d", [1, 2], "holds a list, not a dict"),
    ("smpl_param", {"2": {"1": {"0": {"pose": [0.0] * 72, "shape": [0.0] * 10}}}}, r"found \['pose', 'shape'\]"),
    ("smpl_param", {"2": {"1": {"0": {"pose": [0.0] * 69, "shape": [0.0] * 10, "trans": [0.0] * 3}}}},
     r"'pose': values of shape \(69,\)"),
    ("camera", {"1": {"R": np.eye(3).tolist(), "t": [0, 0, 0], "f": [1, 1], "c": [0, 0]}}, "camera 2: found None"),
    ("data", {"annotations": []}, r"no 'images' list; keys found: \['annotations'\]"),
])
def test_authors_bad_content(tmp_path: Path, rng, kind, content, found):
    write_authors(tmp_path, rng)
    _rewrite(tmp_path, kind, content)
    with pytest.raises(DataError, match=found) as err:
        h36m.load_authors_subject(tmp_path, 1)
    assert f"Human36M_subject1_{kind}.json" in str(err.value)


def test_authors_invalid_json(tmp_path: Path, rng):
    write_authors(tmp_path, rng)
    (tmp_path / "Human36M_subject1_joint_3d.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        h36m.load_authors_subject(tmp_path, 1)
