"""Motion families: joint limits, determinism, walking versus standing, sitting to chair height."""
import numpy as np
import pytest
import torch

from hgnlib.body.anny import DOF_LIMITS, DOFS
from hgnlib.synthetic.motions import ACTION_BUILDERS, VOLUME_CENTRE, Style, make_motion
from hgnlib.skeleton import ACTIONS, H36M17_NAMES

J = {name: i for i, name in enumerate(H36M17_NAMES)}
T = 200


def motion(action, seed=0):
    return make_motion(action, T, np.random.default_rng(seed), Style.sample(np.random.default_rng(99)))


def joints(body, m):
    pose = torch.tensor(body.pose_from_angles(m.angles), dtype=torch.float32)
    with torch.no_grad():
        out = body(pose, body.default_betas(len(pose)))
    j = out.joints.numpy()
    return j - out.vertices[:, :, 2].min(1).values.numpy()[:, None, None] * np.array([0, 0, 1])


def test_every_action_has_a_builder():
    assert set(ACTION_BUILDERS) == set(ACTIONS)


@pytest.mark.parametrize("action", ACTIONS)
def test_limits_determinism_and_shape(action):
    m = motion(action)
    assert m.angles.shape == (T, len(DOFS)) and m.ground_xy.shape == (T, 2)
    lo = np.array([DOF_LIMITS[d][0] for d in DOFS])
    hi = np.array([DOF_LIMITS[d][1] for d in DOFS])
    assert (m.angles >= lo - 1e-9).all() and (m.angles <= hi + 1e-9).all()
    assert np.array_equal(m.angles, motion(action).angles)
    assert not np.array_equal(m.angles, motion(action, seed=1).angles)
    assert np.abs(np.diff(m.angles[:, 3:], axis=0)).max() < 20  # no jumps: under 1000 deg/s at 50 Hz
    assert np.linalg.norm(m.ground_xy - VOLUME_CENTRE, axis=1).max() <= 1.3 + 1e-9


def test_walking_moves_and_standing_stays():
    walk = motion("Walking")
    assert np.linalg.norm(np.diff(walk.ground_xy, axis=0), axis=1).sum() > 0.8 * T / 50  # >= 0.8 m/s
    for action in ("Directions", "Smoking", "Sitting"):
        assert np.ptp(motion(action).ground_xy, axis=0).max() < 1e-9


def test_sitting_lowers_the_pelvis_and_knees_bend_forward_only(anny_body):
    stand = joints(anny_body, motion("Waiting"))
    sit = joints(anny_body, motion("Sitting"))
    assert np.median(sit[:, J["Pelvis"], 2]) < np.median(stand[:, J["Pelvis"], 2]) - 0.3
    assert 0.35 < np.median(sit[:, J["Pelvis"], 2]) < 0.65  # chair height, measured at the hip joints
    for j in (stand, sit, joints(anny_body, motion("Walking"))):
        thigh = j[:, J["LKnee"]] - j[:, J["LHip"]]
        shank = j[:, J["LAnkle"]] - j[:, J["LKnee"]]
        cos = (thigh * shank).sum(-1) / np.linalg.norm(thigh, axis=-1) / np.linalg.norm(shank, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 150


def test_hand_reaches_the_head_when_phoning(anny_body):
    j = joints(anny_body, make_motion("Phoning", 400, np.random.default_rng(3), Style.sample(np.random.default_rng(5))))
    reach = np.minimum(np.linalg.norm(j[:, J["LWrist"]] - j[:, J["Nose"]], axis=1),
                       np.linalg.norm(j[:, J["RWrist"]] - j[:, J["Nose"]], axis=1))
    assert reach.min() < 0.2
