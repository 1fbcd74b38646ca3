"""The MPI-INF-3DHP test set reader on tiny synthetic annot_data.mat files, and the scene test set format."""
import h5py
import numpy as np
import pytest
import torch

from hgnlib import skeleton
from hgnlib.cameras import unnormalize_screen
from hgnlib.data import mpi_inf_3dhp as mpi
from hgnlib.errors import DataError, HGNError, MissingFileError

MATLAB_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."


def write_annot(path, annot2, univ, valid, skip=()):
    """Write arrays in the file's joint order as MATLAB v7.3 does, seen by h5py: annot2 (N, 1, 17, 2),
    univ_annot3 (N, 1, 17, 3), valid_frame (N, 1) (MATLAB's 2 x 17 x 1 x N, 3 x 17 x 1 x N and 1 x N)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        arrays = {"annot2": annot2[:, None], "univ_annot3": univ[:, None], "annot3": univ[:, None],
                  "valid_frame": valid.astype(np.float64)[:, None]}
        for key, value in arrays.items():
            if key not in skip:
                f.create_dataset(key, data=value)
    with open(path, "r+b") as f:  # the MATLAB text header in the user block, as in real files
        f.write(MATLAB_HEADER.ljust(128))


def fake_sequence(rng, n, width, height):
    univ = rng.normal(0, 300, (n, 17, 3)) + [0, 0, 4000]  # mm, 4 m in front of the camera
    annot2 = rng.uniform(0, 1, (n, 17, 2)) * [width, height]
    valid = rng.random(n) < 0.7
    valid[0] = True
    return annot2, univ, valid


def test_joint_mapping_is_a_permutation_by_name():
    assert sorted(mpi.MPI_TO_H36M17) == list(range(17))
    for ours, theirs in zip(skeleton.H36M17_NAMES, mpi.MPI_TO_H36M17):
        assert mpi.MPI_TEST_JOINTS[theirs] == mpi.MPI_NAME_OF[ours]
    for i in skeleton.LEFT_JOINTS:
        assert mpi.MPI_TEST_JOINTS[mpi.MPI_TO_H36M17[i]].startswith("left_")
    for i in skeleton.RIGHT_JOINTS:
        assert mpi.MPI_TEST_JOINTS[mpi.MPI_TO_H36M17[i]].startswith("right_")
    named = dict(zip(skeleton.H36M17_NAMES, (mpi.MPI_TEST_JOINTS[i] for i in mpi.MPI_TO_H36M17)))
    assert (named["Head"], named["Thorax"], named["Nose"], named["Pelvis"]) == ("head_top", "neck", "head", "pelvis")


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    annot2, univ, valid = fake_sequence(rng, 9, 2048, 2048)
    path = tmp_path / "TS1" / "annot_data.mat"
    write_annot(path, annot2, univ, valid)
    seq = mpi.read_annot(path)
    np.testing.assert_array_equal(seq.annot2, annot2[:, mpi.MPI_TO_H36M17])
    np.testing.assert_array_equal(seq.univ_annot3, univ[:, mpi.MPI_TO_H36M17])
    np.testing.assert_array_equal(seq.valid, valid)
    head_top, neck = mpi.MPI_TEST_JOINTS.index("head_top"), mpi.MPI_TEST_JOINTS.index("neck")
    np.testing.assert_array_equal(seq.univ_annot3[:, skeleton.H36M17_NAMES.index("Head")], univ[:, head_top])
    np.testing.assert_array_equal(seq.annot2[:, skeleton.H36M17_NAMES.index("Thorax")], annot2[:, neck])


def test_test_set_from_files(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for name in ("TS1", "TS3", "TS5"):
        written[name] = fake_sequence(rng, 12, *mpi.IMAGE_SIZE[name])
        write_annot(mpi.annot_path(tmp_path, name), *written[name])
    test = mpi.load_mpi_inf_3dhp_test(tmp_path, sequences=["TS1", "TS3", "TS5"])
    assert test.scenes == ["GS", "noGS", "Outdoor"]
    assert test.data.subjects == ["TS1", "TS3", "TS5"] and test.data.sequences[2] == ("TS5", "TS5")
    assert (test.data.action == -1).all()
    for i, name in enumerate(["TS1", "TS3", "TS5"]):
        annot2, univ, valid = written[name]
        sel = test.data.sequence == i
        frames = np.flatnonzero(valid)
        np.testing.assert_array_equal(test.data.frame[sel].numpy(), frames)
        assert (test.scene[sel] == i).all() and (test.data.camera[sel] == i).all()
        width, height = mpi.IMAGE_SIZE[name]
        pixels = unnormalize_screen(test.data.inputs[sel].double().numpy(), width, height)
        np.testing.assert_allclose(pixels, annot2[frames][:, mpi.MPI_TO_H36M17], rtol=1e-6, atol=1e-3)
        cam = univ[frames][:, mpi.MPI_TO_H36M17] / 1000
        np.testing.assert_allclose(test.data.targets[sel].double().numpy(), cam - cam[:, :1], atol=1e-6)
        np.testing.assert_allclose(test.data.root[sel].double().numpy(), cam[:, 0], atol=1e-6)
    assert len(mpi.load_mpi_inf_3dhp_test(tmp_path, ["TS1"], valid_only=False)) == 12
    assert len(mpi.load_mpi_inf_3dhp_test(tmp_path, ["TS1"], valid_only=False, stride=5)) == 3


def test_per_scene_metrics(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("TS2", "TS6"):
        write_annot(mpi.annot_path(tmp_path, name), *fake_sequence(rng, 10, *mpi.IMAGE_SIZE[name]))
    test = mpi.load_mpi_inf_3dhp_test(tmp_path, sequences=["TS2", "TS6"])
    table = mpi.per_scene_metrics(test.data.targets.clone(), test)
    assert list(table) == ["GS", "Outdoor", "All"]
    exact = {"pck": 100.0, "auc": pytest.approx(100 * 30 / 31), "pck17": 100.0, "auc17": pytest.approx(100 * 30 / 31),
             "mpjpe": 0.0}
    assert all(row == exact for row in table.values())
    shifted = test.data.targets.clone()
    shifted[:, 1:] += torch.tensor([0.2, 0.0, 0.0])  # every joint but the pelvis 200 mm off
    row = mpi.per_scene_metrics(shifted, test)["All"]
    assert row["pck"] == 0.0 and row["pck17"] == pytest.approx(100 / 17)  # the 17-joint variant counts the pelvis
    assert mpi.per_scene_metrics(test.data.targets + 0.2, test)["All"]["pck"] == 100.0  # roots are aligned
    outdoor = test.subset(test.scene == 2)
    assert len(outdoor) == int((test.scene == 2).sum()) and outdoor.data.subjects == ["TS2", "TS6"]


def test_missing_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    with pytest.raises(MissingFileError) as info:
        mpi.load_mpi_inf_3dhp_test()
    message = str(info.value)
    assert str(tmp_path / "mpi_inf_3dhp") in message
    assert "TS1/annot_data.mat" in message and "TS6/annot_data.mat" in message
    assert "3dhp-dataset" in message
    rng = np.random.default_rng(3)
    write_annot(mpi.annot_path(tmp_path / "mpi_inf_3dhp", "TS1"), *fake_sequence(rng, 4, 2048, 2048))
    with pytest.raises(MissingFileError, match="missing: TS2/annot_data.mat"):
        mpi.load_mpi_inf_3dhp_test()
    assert len(mpi.load_mpi_inf_3dhp_test(sequences=["TS1"])) > 0
    with pytest.raises(HGNError, match="unknown MPI-INF-3DHP"):
        mpi.load_mpi_inf_3dhp_test(sequences=["TS7"])


def test_malformed_files(tmp_path):
    rng = np.random.default_rng(4)
    annot2, univ, valid = fake_sequence(rng, 5, 2048, 2048)
    path = tmp_path / "TS1" / "annot_data.mat"
    write_annot(path, annot2, univ, valid, skip=("univ_annot3",))
    with pytest.raises(DataError, match=r"no 'univ_annot3' array.*\n.*\(frames, 1, 17, 3\)") as info:
        mpi.read_annot(path)
    assert str(path) in str(info.value)
    write_annot(path, annot2[:, :14], univ, valid)
    with pytest.raises(DataError, match=r"'annot2' has shape \(5, 1, 14, 2\)"):
        mpi.read_annot(path)
    write_annot(path, annot2, univ, valid[:4])
    with pytest.raises(DataError, match="frame counts differ"):
        mpi.read_annot(path)
    broken = univ.copy()
    broken[0, 3] = np.nan
    write_annot(path, annot2, broken, valid)
    with pytest.raises(DataError, match="NaN"):
        mpi.read_annot(path)
    path.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(DataError, match="not a MATLAB v7.3"):
        mpi.read_annot(path)
