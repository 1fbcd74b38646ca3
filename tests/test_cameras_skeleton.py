"""Joint layouts and camera geometry."""
import numpy as np

from hgnlib import skeleton
from hgnlib.cameras import load_h36m_cameras, normalize_screen, quaternion_to_matrix, unnormalize_screen
from hgnlib.profiles import PROFILES, get_profile


def test_layouts():
    assert len(skeleton.H36M17_FROM_32) == 17 and len(skeleton.BONES) == 16
    perm = np.array(skeleton.FLIP_PERMUTATION)
    assert (perm[perm] == np.arange(17)).all() and (perm != np.arange(17)).sum() == 12
    # 17-joint parents are ancestors in the 32-joint tree, except the shoulders: there they hang off Spine1 through
    # the clavicle joints, which sit at the thorax (the 17-joint parent).
    for child, parent in enumerate(skeleton.H36M17_PARENTS[1:], start=1):
        if child in (11, 14):
            continue
        j, target, ancestors = skeleton.H36M17_FROM_32[child], skeleton.H36M17_FROM_32[parent], []
        while j >= 0:
            j = skeleton.H36M32_PARENTS[j]
            ancestors.append(j)
        assert target in ancestors, skeleton.H36M17_NAMES[child]
    assert skeleton.action_of("Walking 1") == "Walking" and skeleton.action_of("TakingPhoto") == "Photo"
    parts = sorted(j for js in skeleton.BODY_PARTS.values() for j in js)
    assert parts == list(range(17))


def test_cameras_are_rotations_and_round_trip():
    cams = load_h36m_cameras()
    assert set(cams) == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"} and all(len(c) == 4 for c in cams.values())
    X = np.random.default_rng(0).normal(size=(10, 3))
    for cam in cams["S9"]:
        assert np.allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6) and np.isclose(np.linalg.det(cam.R), 1)
        assert np.allclose(cam.camera_to_world(cam.world_to_camera(X)), X)
        # The capture volume's centre is in front of every camera, about 5 m away.
        assert 3.5 < cam.world_to_camera(np.zeros(3))[2] < 7
    q = np.array([np.cos(0.5), 0, 0, np.sin(0.5)])  # 1 rad about z
    assert np.allclose(quaternion_to_matrix(q) @ [1, 0, 0], [np.cos(1), np.sin(1), 0])


def test_screen_normalisation():
    uv = np.array([[0, 0], [1000, 1002], [500, 501]], float)
    n = normalize_screen(uv, 1000, 1002)
    assert np.allclose(n[0], [-1, -1.002]) and np.allclose(n[2], [0, 0])
    assert np.allclose(unnormalize_screen(n, 1000, 1002), uv)


def test_profiles_are_defined_once():
    assert set(PROFILES) == {"smoke", "quick", "standard", "full", "paper"}
    assert get_profile("paper").data == "h36m" and get_profile("smoke").synth_size < get_profile("quick").synth_size
