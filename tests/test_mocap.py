"""The DeepMimic clips as Human3.6M joints, the unseen cameras and the mocap test set (hgnlib.synthetic.mocap)."""
import json
import sys

import numpy as np
import pytest
import torch

from hgnlib import skeleton
from hgnlib.cameras import load_h36m_cameras, unnormalize_screen
from hgnlib.synthetic import mocap
from hgnlib.synthetic.motions import VOLUME_CENTRE
from hgnlib.errors import DataError, HGNError, MissingFileError

J = {name: i for i, name in enumerate(skeleton.H36M17_NAMES)}
UP = np.array([0.0, 0.0, 1.0])


@pytest.fixture(scope="module")
def humanoid():
    return mocap.load_humanoid()


@pytest.fixture(scope="module")
def clips():
    return mocap.load_mocap_clips()


def _posed_rest(**angles: float) -> mocap.Clip:
    """The rest pose with some revolute joints (knees, elbows) set to an angle (rad)."""
    clip = mocap.rest_clip()
    for name, angle in angles.items():
        clip.joints[name] = np.array([[angle]])
    return clip


def test_all_clips_load(clips):
    assert list(clips) == list(mocap.CLIP_NAMES)
    for world in clips.values():
        assert world.ndim == 3 and world.shape[1:] == (17, 3) and len(world) > 30
        assert np.isfinite(world).all()


def test_kinematics_match_pybullet(humanoid):
    """Our forward kinematics against pybullet's own, on the humanoid as DeepMimic loads it (scale 0.25)."""
    p = pytest.importorskip("pybullet")
    clip = mocap.read_clip(mocap.clip_path("cartwheel"))
    frames = mocap.link_frames(clip, humanoid)
    client = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(mocap.pybullet_data_dir() / "humanoid" / "humanoid.urdf"), globalScaling=0.25,
                          useFixedBase=True, flags=p.URDF_MAINTAIN_LINK_ORDER, physicsClientId=client)
        count = p.getNumJoints(body, physicsClientId=client)
        info = [p.getJointInfo(body, i, physicsClientId=client) for i in range(count)]
        joint_index = {i[1].decode(): i[0] for i in info}
        link_index = {i[12].decode(): i[0] for i in info}
        xyzw = lambda q: [q[1], q[2], q[3], q[0]]  # noqa: E731
        for k in range(0, len(clip), 20):
            p.resetBasePositionAndOrientation(body, clip.root_position[k].tolist(), xyzw(clip.root_rotation[k]),
                                              physicsClientId=client)
            for name, n in mocap.CLIP_LAYOUT:
                value = clip.joints[name][k]
                p.resetJointStateMultiDof(body, joint_index[name], xyzw(value) if n == 4 else [value[0]],
                                          physicsClientId=client)
            for link, i in link_index.items():
                theirs = p.getLinkState(body, i, computeForwardKinematics=True, physicsClientId=client)[4]
                np.testing.assert_allclose(frames[link][0][k] / mocap.URDF_UNITS_PER_CLIP_METRE, theirs, atol=1e-5)
    finally:
        p.disconnect(client)


def test_bone_lengths_constant(clips):
    reference = skeleton.bone_lengths(next(iter(clips.values()))[0])
    for name, world in clips.items():
        lengths = skeleton.bone_lengths(world)
        assert lengths.std(0).max() < 1e-9, name
        np.testing.assert_allclose(lengths[0], reference, atol=1e-9)  # one humanoid for every clip


def test_plausible_adult(humanoid, clips):
    assert humanoid.stature_units() * humanoid.metres_per_unit() == pytest.approx(mocap.STATURE_M)
    rest = mocap.h36m17_world(mocap.rest_clip(), humanoid)[0]
    assert 0.8 < rest[J["Pelvis"], 2] - rest[J["RAnkle"], 2] < 0.95  # leg (hip to ankle)
    assert 0.5 < rest[J["RShoulder"], 2] - rest[J["RWrist"], 2] < 0.65  # arm hanging
    head = clips["walk"][:, J["Head"], 2]
    assert 1.55 < np.median(head) < mocap.STATURE_M  # walking upright: head top about the stature


def test_feet_near_the_floor(clips):
    for name, world in clips.items():
        ankles = world[:, [J["RAnkle"], J["LAnkle"]], 2]
        assert 0.0 <= ankles.min() < 0.1, name  # the feet reach the floor at some point
        assert world[..., 2].min() > -0.08, name  # nothing far below it
    for name in ("walk", "run", "jump", "kick", "punch", "dance_a", "dance_b"):
        assert np.median(clips[name][:, [J["RAnkle"], J["LAnkle"]], 2].min(1)) < 0.1, name  # standing clips


def test_left_is_the_humanoids_left_at_rest(humanoid):
    """Knees bend backwards: flexing them (URDF limits [-pi, 0]) shows where the body's front is."""
    rest = mocap.h36m17_world(mocap.rest_clip(), humanoid)[0]
    bent = mocap.h36m17_world(_posed_rest(right_knee=-np.pi / 2, left_knee=-np.pi / 2), humanoid)[0]
    forward = rest[J["RAnkle"]] - bent[J["RAnkle"]]
    forward = forward - forward @ UP * UP
    left = np.cross(UP, forward / np.linalg.norm(forward))
    for l, r in zip(skeleton.LEFT_JOINTS, skeleton.RIGHT_JOINTS):
        assert (rest[l] - rest[J["Pelvis"]]) @ left > 0.05, skeleton.H36M17_NAMES[l]
        assert (rest[r] - rest[J["Pelvis"]]) @ left < -0.05, skeleton.H36M17_NAMES[r]
    # elbows flex (URDF limits [0, pi]) forwards, and the nose is in front of the head
    flexed = mocap.h36m17_world(_posed_rest(left_elbow=np.pi / 2), humanoid)[0]
    assert (flexed[J["LWrist"]] - flexed[J["LElbow"]]) @ (forward / np.linalg.norm(forward)) > 0.2
    assert (rest[J["Nose"]] - rest[J["Head"]]) @ forward > 0


def test_left_is_left_when_walking(clips):
    """In the walking and running clips the body travels forwards: its left is up x direction of travel."""
    for name in ("walk", "run"):
        world = clips[name]
        travel = world[-1, J["Pelvis"]] - world[0, J["Pelvis"]]
        left = np.cross(UP, travel / np.linalg.norm(travel))
        assert ((world[:, J["LHip"]] - world[:, J["RHip"]]) @ left > 0.1).all(), name
        assert ((world[:, J["LShoulder"]] - world[:, J["RShoulder"]]) @ left).mean() > 0.2, name


def test_clip_files_name_the_same_right_and_left(humanoid):
    """The clips that list their right and left joints (DeepMimic character indices) agree with the URDF names."""
    data = json.loads(mocap.clip_path("run").read_text())
    assert all(humanoid.joints[i].name.startswith("right_") for i in data["RightJoints"])
    assert all(humanoid.joints[i].name.startswith("left_") for i in data["LeftJoints"])


def test_resampled_to_50_hz(humanoid):
    keys = mocap.read_clip(mocap.clip_path("walk"))  # key frames every 0.033332 s
    clip = mocap.resample(keys)
    np.testing.assert_allclose(np.diff(clip.times), 0.02)
    assert len(clip) == int(keys.times[-1] * 50) + 1
    at_keys = mocap.h36m17_world(keys, humanoid)
    resampled = mocap.h36m17_world(clip, humanoid)
    np.testing.assert_allclose(resampled[0], at_keys[0], atol=1e-12)
    np.testing.assert_allclose(resampled[5], at_keys[3], atol=1e-3)  # t = 0.1 s vs key frame 3 at 0.099996 s
    mixed = mocap.read_clip(mocap.clip_path("roll"))  # durations of 1/60 s and one of 0.0327 s
    assert (np.diff(mixed.times) > 0).all()
    assert len(mocap.resample(mixed)) == int(mixed.times[-1] * 50 + 1e-6) + 1
    assert len(mocap.load_mocap_clips(["roll"])["roll"]) == len(mocap.resample(mixed))


def test_centred_in_the_volume(clips):
    for world in clips.values():
        pelvis = world[:, J["Pelvis"], :2]
        np.testing.assert_allclose((pelvis.min(0) + pelvis.max(0)) / 2, VOLUME_CENTRE, atol=1e-9)


def test_cameras_unlike_human36m():
    cameras = mocap.unseen_cameras()
    assert [c.id for c in cameras] == [c.id for c in mocap.unseen_cameras()]  # deterministic
    assert len(cameras) == len(mocap.CAMERA_GROUPS) * len(mocap.AZIMUTHS_DEG)
    h36m = [c for cams in load_h36m_cameras().values() for c in cams]
    h36m_azimuths = np.degrees([np.arctan2(*(c.center[:2] - VOLUME_CENTRE)[::-1]) for c in h36m])
    for cam in cameras:
        group = cam.id.split("-")[0]
        offset = cam.center[:2] - VOLUME_CENTRE
        azimuth = np.degrees(np.arctan2(offset[1], offset[0]))
        gap = np.abs((h36m_azimuths - azimuth + 180) % 360 - 180).min()
        assert gap > 15, cam.id
        elevation = np.degrees(np.arcsin(cam.R[2, 2]))  # optical axis (third column of camera-to-world R)
        distance = np.linalg.norm(offset)
        if group == "low":
            assert cam.center[2] < 0.5 and elevation > 5
        elif group == "high":
            assert elevation < -45
        elif group == "far":
            assert distance > 8
        elif group == "near":
            assert distance < 3
        # an orthonormal, right-handed camera whose image up is world up
        np.testing.assert_allclose(cam.R.T @ cam.R, np.eye(3), atol=1e-12)
        assert np.linalg.det(cam.R) == pytest.approx(1.0)
        assert cam.R[:, 1] @ UP < 0
        assert cam.width == 1000 and cam.height in (1000, 1002)


def _inside(uv: np.ndarray, cam) -> bool:
    return bool((uv >= 0).all() and (uv[..., 0] <= cam.width).all() and (uv[..., 1] <= cam.height).all())


def test_cameras_keep_everyone_in_view(clips):
    for name, world in clips.items():
        for cam in mocap.unseen_cameras(world):
            assert (cam.world_to_camera(world)[..., 2] > 0).all()
            assert _inside(cam.project(cam.world_to_camera(world)), cam), (name, cam.id)


def test_cameras_move_back_when_needed(clips):
    nominal = {c.id: c for c in mocap.unseen_cameras(groups=["near"])}
    walk = clips["walk"]
    long_walk = np.concatenate([walk, walk + [3.0, 0, 0]])  # 3 m further along x than the volume holds up close
    moved = mocap.unseen_cameras(long_walk, groups=["near"])
    for cam in moved:
        assert _inside(cam.project(cam.world_to_camera(long_walk)), cam)
    distance = lambda c: np.linalg.norm(c.center[:2] - VOLUME_CENTRE)  # noqa: E731
    back = {c.id: distance(c) - distance(nominal[c.id]) for c in moved}
    assert back["near-090"] > 0.5 and back["near-270"] > 0.5
    assert all(np.allclose(c.center[2], nominal[c.id].center[2]) for c in moved)  # moved horizontally


def _project_h36m(cam, X: np.ndarray) -> np.ndarray:
    """Pinhole plus Human3.6M lens distortion, written out here independently of Camera.project."""
    x, y = X[..., 0] / X[..., 2], X[..., 1] / X[..., 2]
    r2 = x * x + y * y
    k1, k2, k3 = cam.radial
    p1, p2 = cam.tangential
    scale = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3 + p1 * y + p2 * x
    xd, yd = x * scale + p2 * r2, y * scale + p1 * r2
    return np.stack([cam.focal[0] * xd + cam.principal[0], cam.focal[1] * yd + cam.principal[1]], -1)


def test_test_set_inputs_are_projections_of_targets(clips):
    names = ["walk", "cartwheel"]
    test = mocap.build_mocap_test_set(names, stride=3)
    assert test.data.inputs.dtype == torch.float32 and test.data.camera.dtype == torch.int64
    assert (test.data.targets[:, skeleton.PELVIS] == 0).all()
    assert (test.data.action == -1).all()
    assert test.data.sequences == [("DeepMimic", n) for n in names]
    for s, name in enumerate(names):
        cameras = mocap.unseen_cameras(clips[name])
        for c, cam in enumerate(cameras):
            sel = (test.data.sequence == s) & (test.data.camera == c)
            frames = test.data.frame[sel].numpy()
            np.testing.assert_array_equal(frames, np.arange(0, len(clips[name]), 3))
            assert (test.scene[sel] == test.scenes.index(cam.id.split("-")[0])).all()
            cam_space = (test.data.targets[sel] + test.data.root[sel][:, None]).double().numpy()
            np.testing.assert_allclose(cam.camera_to_world(cam_space), clips[name][frames], atol=1e-5)
            pixels = unnormalize_screen(test.data.inputs[sel].double().numpy(), cam.width, cam.height)
            np.testing.assert_allclose(pixels, _project_h36m(cam, cam_space), atol=2e-3)
            assert _inside(pixels, cam)


def test_test_set_labels_and_noise():
    test = mocap.build_mocap_test_set(["spin"], groups=["low", "far"])
    assert test.scenes == ["low", "far"] and test.camera_names == ["low-000", "low-090", "low-180", "low-270",
                                                                 "far-000", "far-090", "far-180", "far-270"]
    counts = torch.bincount(test.scene)
    assert counts[0] == counts[1] == len(test) // 2
    far = test.subset(test.scene == 1)
    assert len(far) == counts[1] and (far.data.camera >= 4).all()
    noisy = mocap.build_mocap_test_set(["spin"], groups=["low", "far"], source="synthdet", seed=1)
    assert torch.equal(noisy.data.targets, test.data.targets)
    w = 1000 / 2  # normalised units -> pixels
    error_px = ((noisy.data.inputs - test.data.inputs).norm(dim=-1) * w).median()
    assert 0.5 < error_px < 10
    again = mocap.build_mocap_test_set(["spin"], groups=["low", "far"], source="synthdet", seed=1)
    assert torch.equal(again.data.inputs, noisy.data.inputs)
    with pytest.raises(HGNError, match="2D source"):
        mocap.build_mocap_test_set(["spin"], source="cpn")
    with pytest.raises(HGNError, match="camera group"):
        mocap.unseen_cameras(groups=["ceiling"])
    with pytest.raises(HGNError, match="unknown DeepMimic clip"):
        mocap.load_mocap_clips(["moonwalk"])


def test_missing_pybullet(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybullet_data", None)  # import fails as if not installed
    with pytest.raises(MissingFileError, match="pip install pybullet"):
        mocap.load_mocap_clips(["walk"])


def test_malformed_clip_files(tmp_path):
    with pytest.raises(MissingFileError, match="clip not found"):
        mocap.read_clip(tmp_path / "absent.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("not json")
    with pytest.raises(DataError, match="not a DeepMimic clip"):
        mocap.read_clip(bad)
    frame = [0.02] + [0.0] * 3 + [1.0, 0, 0, 0] + [0.0] * (mocap.FRAME_SIZE - 8)
    bad.write_text(json.dumps({"Frames": [frame[:-1], frame[:-1]]}))
    with pytest.raises(DataError, match=r"shape \(2, 43\)") as info:
        mocap.read_clip(bad)
    assert str(bad) in str(info.value) and "44 numbers" in str(info.value)
    bad.write_text(json.dumps({"Frames": [[0.0] + frame[1:], frame, frame]}))
    with pytest.raises(DataError, match="frame 0 has duration 0"):
        mocap.read_clip(bad)
    good = tmp_path / "good.txt"
    good.write_text(json.dumps({"Loop": "none", "Frames": [frame, frame]}))
    assert len(mocap.read_clip(good)) == 2
