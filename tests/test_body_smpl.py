"""The SMPL backend, through the real loading code, on a small synthetic model in the SMPL file format."""
from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hgnlib.body import load_body_model
from hgnlib.body.smpl import SMPLBody
from hgnlib.errors import DataError, MissingFileError
from hgnlib.skeleton import H36M17_NAMES
from smpl_testmodel import EYE_VERTICES, NUM_FACES, NUM_VERTICES, REST_JOINTS, model_arrays, write_test_smpl

J = {name: i for i, name in enumerate(H36M17_NAMES)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the synthetic model as SMPL_NEUTRAL.pkl."""
    folder = tmp_path_factory.mktemp("smpl")
    write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
    return folder


@pytest.fixture(scope="module")
def body(model_dir: Path) -> SMPLBody:
    return SMPLBody(model_dir)


def _rest(body: SMPLBody, batch: int = 1):
    pose, betas = body.zero_params(batch)
    return body(pose, betas)


def test_loads_the_model_file(body: SMPLBody, model_dir: Path):
    assert body.path == model_dir / "SMPL_NEUTRAL.pkl"
    assert (body.name, body.num_vertices, body.pose_shape, body.num_betas, body.up_axis) == (
        "smpl", NUM_VERTICES, (24, 3), 10, 1)
    assert body.faces.shape == (NUM_FACES, 3) and body.faces.dtype == np.int64
    out = _rest(body)
    assert out.vertices.shape == (1, NUM_VERTICES, 3) and out.joints.shape == (1, 17, 3)
    assert out.vertices.dtype == torch.float32 and out.joints.dtype == torch.float32


def test_backend_registry_and_file_name_variants(tmp_path: Path):
    original = write_test_smpl(tmp_path / "orig" / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    assert SMPLBody(tmp_path / "orig").path == original
    male = write_test_smpl(tmp_path / "g" / "SMPL_MALE.pkl")
    write_test_smpl(tmp_path / "g" / "basicmodel_f_lbs_10_207_0_v1.1.0.pkl")
    assert SMPLBody(tmp_path / "g", gender="male").path == male
    assert SMPLBody(tmp_path / "g", gender="female").path.name == "basicmodel_f_lbs_10_207_0_v1.1.0.pkl"
    assert load_body_model("smpl", model_path=male).path == male
    with pytest.raises(ValueError, match="gender"):
        SMPLBody(tmp_path / "g", gender="other")


def test_default_location_is_the_smpl_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path))
    model = write_test_smpl(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl")
    assert SMPLBody().path == model


def test_zero_pose_gives_the_template_plus_shape_offsets(body: SMPLBody):
    arrays = model_arrays()
    rest = _rest(body)
    np.testing.assert_allclose(rest.vertices[0].numpy(), arrays["v_template"], atol=1e-6)
    # Fallback joints: SMPL joints 0 (pelvis), 2 (right hip), 7 (left ankle), 18 (left elbow), 12 (neck).
    joints = rest.joints[0].numpy()
    for name, smpl_joint in (("Pelvis", 0), ("RHip", 2), ("LAnkle", 7), ("LElbow", 18), ("Thorax", 12)):
        np.testing.assert_allclose(joints[J[name]], REST_JOINTS[smpl_joint], atol=1e-6)
    np.testing.assert_allclose(joints[J["Spine"]], (REST_JOINTS[3] + REST_JOINTS[6]) / 2, atol=1e-6)
    assert joints[J["Head"], 1] == pytest.approx(arrays["v_template"][:, 1].max(), abs=1e-6)
    assert joints[J["Thorax"], 1] < joints[J["Nose"], 1] < joints[J["Head"], 1]

    betas = torch.linspace(-2, 2, body.num_betas)[None]
    shaped = body(torch.zeros(1, 24, 3), betas).vertices[0].numpy()
    expected = arrays["v_template"] + arrays["shapedirs"] @ betas[0].numpy()
    np.testing.assert_allclose(shaped, expected, atol=1e-5)
    assert np.abs(shaped - arrays["v_template"]).max() > 1e-3


def test_global_orientation_rotates_about_the_pelvis(body: SMPLBody):
    rest = _rest(body)
    pose = torch.zeros(1, 24, 3)
    pose[0, 0] = torch.tensor([0.0, np.pi / 2, 0.0])
    turned = body(pose, torch.zeros(1, body.num_betas))
    rot = torch.tensor(Rotation.from_rotvec([0, np.pi / 2, 0]).as_matrix(), dtype=torch.float32)
    pelvis = rest.joints[:, :1]
    for before, after in ((rest.joints, turned.joints), (rest.vertices, turned.vertices)):
        torch.testing.assert_close(after, (before - pelvis) @ rot.T + pelvis, atol=1e-5, rtol=0)
    # About y, +90 degrees takes the left hip (+x) to -z.
    assert turned.joints[0, J["LHip"], 2] < -0.05


def test_elbow_rotation_moves_only_the_forearm(body: SMPLBody):
    rest = _rest(body).joints[0]
    pose = torch.zeros(1, 24, 3)
    pose[0, 18] = torch.tensor([0.0, 0.0, 1.0])  # SMPL joint 18: left elbow
    bent = body(pose, torch.zeros(1, body.num_betas)).joints[0]
    # Pose blend shapes nudge the mesh landmarks (Nose, Head) by millimetres; only the wrist really moves.
    moved = (bent - rest).norm(dim=-1) > 0.02
    assert moved.nonzero().flatten().tolist() == [J["LWrist"]]


def test_translation_shifts_everything(body: SMPLBody):
    pose, betas = body.zero_params(2)
    shift = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.1, 0.0]])
    base, moved = body(pose, betas), body(pose, betas, shift)
    torch.testing.assert_close(moved.vertices, base.vertices + shift[:, None], atol=1e-6, rtol=0)
    torch.testing.assert_close(moved.joints, base.joints + shift[:, None], atol=1e-6, rtol=0)


def test_batched_forward_is_finite_and_differentiable(body: SMPLBody):
    generator = torch.Generator().manual_seed(0)
    pose = (0.3 * torch.randn(4, 24, 3, generator=generator)).requires_grad_()
    betas = torch.randn(4, body.num_betas, generator=generator).requires_grad_()
    out = body(pose, betas)
    assert out.joints.shape == (4, 17, 3) and out.vertices.shape == (4, NUM_VERTICES, 3)
    assert torch.isfinite(out.joints).all() and torch.isfinite(out.vertices).all()
    (out.joints.square().sum() + out.vertices.square().sum()).backward()
    assert pose.grad is not None and pose.grad.abs().sum() > 0
    assert betas.grad is not None and betas.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="24, 3"):
        body(torch.zeros(4, 23, 3), torch.zeros(4, body.num_betas))


def test_main_component_and_graph_faces(body: SMPLBody):
    keep = body.main_component()
    np.testing.assert_array_equal(keep, np.setdiff1d(np.arange(NUM_VERTICES), EYE_VERTICES))
    faces, kept = body.graph_faces()
    np.testing.assert_array_equal(kept, keep)
    assert faces.min() == 0 and faces.max() == len(keep) - 1
    assert len(faces) == NUM_FACES - 12  # the eye box's 12 triangles are dropped
    assert body.describe()["components"] == 2


def test_missing_file_explains_where_to_get_smpl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "data" / "smpl"
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(MissingFileError) as info:
        SMPLBody()
    message = str(info.value)
    assert str(folder) in message and "smpl.is.tue.mpg.de" in message
    assert "SMPL_NEUTRAL.pkl" in message and "licensed" in message and "anny" in message
    folder.mkdir(parents=True)
    with pytest.raises(MissingFileError, match="SMPL_FEMALE.pkl"):
        SMPLBody(gender="female")
    with pytest.raises(MissingFileError, match="smpl.is.tue.mpg.de"):
        SMPLBody(tmp_path / "nowhere" / "SMPL_NEUTRAL.pkl")


def test_model_without_shapedirs_is_a_data_error(tmp_path: Path):
    path = write_test_smpl(tmp_path / "SMPL_NEUTRAL.pkl", shapedirs=None)
    with pytest.raises(DataError, match="'shapedirs' is missing") as info:
        SMPLBody(path)
    assert str(path) in str(info.value)


def test_corrupt_or_misshaped_model_is_a_data_error(tmp_path: Path):
    corrupt = tmp_path / "corrupt" / "SMPL_NEUTRAL.pkl"
    corrupt.parent.mkdir()
    corrupt.write_bytes(pickle.dumps(model_arrays())[:500])
    with pytest.raises(DataError, match="cannot read the SMPL model file"):
        SMPLBody(corrupt)
    bad_weights = write_test_smpl(tmp_path / "bad" / "SMPL_NEUTRAL.pkl", weights=np.zeros((NUM_VERTICES, 23)))
    with pytest.raises(DataError, match="weights has shape"):
        SMPLBody(bad_weights)


def test_chumpy_arrays_load_without_chumpy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The original pickles hold ``chumpy.ch.Ch`` objects; they load as their stored arrays."""
    fake = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray):
            self.x, self._dirty_vars = x, set()

        def __getstate__(self) -> dict:
            return dict(self.__dict__)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", fake)
    arrays = model_arrays()
    path = write_test_smpl(tmp_path / "SMPL_NEUTRAL.pkl", shapedirs=Ch(arrays["shapedirs"]))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    body = SMPLBody(path)
    np.testing.assert_allclose(body.layer.shapedirs.numpy(), arrays["shapedirs"], atol=1e-7)


def test_h36m_regressor_file(model_dir: Path, tmp_path: Path):
    folder = tmp_path / "with_regressor"
    model = write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
    regressor = np.random.default_rng(1).random((17, NUM_VERTICES))
    regressor /= regressor.sum(axis=1, keepdims=True)
    np.save(folder / "J_regressor_h36m.npy", regressor)
    body = SMPLBody(model)
    assert body.h36m_regressor is not None
    pose = 0.2 * torch.randn(3, 24, 3, generator=torch.Generator().manual_seed(2))
    out = body(pose, torch.zeros(3, body.num_betas), torch.ones(3, 3))
    expected = torch.einsum("jv,bvc->bjc", torch.as_tensor(regressor, dtype=torch.float32), out.vertices)
    torch.testing.assert_close(out.joints, expected, atol=1e-5, rtol=0)
    # Passed explicitly, it also serves a model folder without one.
    explicit = SMPLBody(model_dir, h36m_regressor=folder / "J_regressor_h36m.npy")
    torch.testing.assert_close(explicit(pose, torch.zeros(3, body.num_betas), torch.ones(3, 3)).joints,
                               out.joints, atol=1e-5, rtol=0)


def test_h36m_regressor_of_the_wrong_shape_is_a_data_error(model_dir: Path, tmp_path: Path):
    folder = tmp_path / "wrong_regressor"
    model = write_test_smpl(folder / "SMPL_NEUTRAL.pkl")
    np.save(folder / "J_regressor_h36m.npy", np.ones((17, 6890)) / 6890)
    with pytest.raises(DataError, match=r"shape \(17, 6890\)"):
        SMPLBody(model)
    with pytest.raises(DataError, match="regressor"):
        SMPLBody(model_dir, h36m_regressor=np.ones((14, NUM_VERTICES)))
    with pytest.raises(MissingFileError):
        SMPLBody(model_dir, h36m_regressor=tmp_path / "absent.npy")
