"""The anny backend: mesh facts, forward, joints regressed from the rig, anatomical angles, rigid bones."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from hgnlib.body.anny import DOF_LIMITS, DOFS, rotvec_to_matrix
from hgnlib.skeleton import H36M17_FROM_32, H36M17_NAMES, bone_lengths

J = {name: i for i, name in enumerate(H36M17_NAMES)}


def pose_joints(body, **angles):
    a = np.zeros((1, len(DOFS)))
    for k, v in angles.items():
        a[0, DOFS.index(k)] = v
    pose = torch.tensor(body.pose_from_angles(a), dtype=torch.float32)
    return body(pose, body.default_betas(1)).joints[0].detach().numpy()


def test_mesh_facts(anny_body):
    info = anny_body.describe()
    assert info["vertices"] == 13718 and info["components"] == 4
    assert info["main_component_vertices"] == 13348  # the eyes and mouth parts are separate components
    faces, keep = anny_body.graph_faces()
    assert faces.min() == 0 and faces.max() == len(keep) - 1
    assert len(faces) < len(anny_body.faces)


def test_forward_shapes_gradients_and_translation(anny_body):
    pose = torch.zeros(3, *anny_body.pose_shape, requires_grad=True)
    betas = anny_body.default_betas(3).requires_grad_(True)
    out = anny_body(pose, betas)
    assert out.vertices.shape == (3, 13718, 3) and out.joints.shape == (3, 17, 3)
    assert torch.isfinite(out.joints).all()
    (out.joints**2).sum().backward()
    assert pose.grad.abs().sum() > 0 and betas.grad.abs().sum() > 0
    shift = torch.tensor([[1.0, -2.0, 0.5]]).expand(3, -1)
    moved = anny_body(pose.detach(), betas.detach(), shift)
    assert torch.allclose(moved.joints - out.joints.detach(), shift[:, None], atol=1e-5)


def test_17_joints_are_the_selected_32(anny_body):
    pose, betas = anny_body.zero_params(2)
    pose = pose + 0.2 * torch.randn_like(pose)
    _, j32 = anny_body.forward_h36m32(pose, betas)
    assert torch.allclose(anny_body(pose, betas).joints, j32[:, list(H36M17_FROM_32)])


def test_rest_pose_is_upright_with_arms_down(anny_body):
    j = pose_joints(anny_body)
    assert j[J["Head"], 2] == j[:, 2].max()
    assert j[J["LAnkle"], 2] < j[J["LKnee"], 2] < j[J["LHip"], 2]
    assert j[J["LWrist"], 2] < j[J["LElbow"], 2] < j[J["LShoulder"], 2]
    assert j[J["LHip"], 0] > 0 > j[J["RHip"], 0]  # x points to the body's left


@pytest.mark.parametrize("angles, check", [
    ({"hip_flex_l": 90}, lambda j: j[J["LKnee"], 1] < j[J["LHip"], 1] - 0.3 and abs(j[J["LKnee"], 2] - j[J["LHip"], 2]) < 0.05),
    ({"knee_l": 90}, lambda j: j[J["LAnkle"], 1] > j[J["LKnee"], 1] + 0.3),
    ({"sh_abd_l": 90, "elbow_l": 0}, lambda j: j[J["LWrist"], 0] > j[J["LShoulder"], 0] + 0.4
     and abs(j[J["LWrist"], 2] - j[J["LShoulder"], 2]) < 0.05),
    ({"sh_flex_r": 90, "elbow_r": 0}, lambda j: j[J["RWrist"], 1] < j[J["RShoulder"], 1] - 0.4),
    ({"elbow_l": 90}, lambda j: j[J["LWrist"], 1] < j[J["LElbow"], 1] - 0.15),
    ({"spine_flex": 45}, lambda j: j[J["Thorax"], 1] < -0.15),
    ({"root_yaw": 90}, lambda j: j[J["LHip"], 1] > 0.09),  # turned left: the left hip goes back
])
def test_anatomical_angles_move_the_right_way(anny_body, angles, check):
    assert check(pose_joints(anny_body, **angles))


def test_bones_are_rigid_and_shoulder_is_the_rotation_centre(anny_body):
    rng = np.random.default_rng(0)
    lo = np.array([DOF_LIMITS[d][0] for d in DOFS])
    hi = np.array([DOF_LIMITS[d][1] for d in DOFS])
    angles = rng.uniform(np.maximum(lo, -90), np.minimum(hi, 120), size=(32, len(DOFS)))
    pose = torch.tensor(anny_body.pose_from_angles(angles), dtype=torch.float32)
    betas = torch.tensor([[0.9, 0.7, 0.4, 0.5, 0.4, 0.9]]).expand(32, -1)
    joints = anny_body(pose, betas).joints.detach().numpy()
    lengths = bone_lengths(joints)
    assert (lengths.max(0) - lengths.min(0)).max() < 1e-4
    # Moving only the arm leaves the shoulder joint (the arm's pivot) where it was.
    a = np.zeros((2, len(DOFS)))
    a[1, DOFS.index("sh_abd_l")], a[1, DOFS.index("sh_flex_l")] = 120, 40
    j = anny_body(torch.tensor(anny_body.pose_from_angles(a), dtype=torch.float32), anny_body.default_betas(2)).joints
    assert torch.allclose(j[0, J["LShoulder"]], j[1, J["LShoulder"]], atol=1e-5)
    assert not torch.allclose(j[0, J["LElbow"]], j[1, J["LElbow"]], atol=1e-2)


def test_rotvec_to_matrix_matches_scipy_and_is_smooth_at_zero():
    rv = torch.tensor(np.random.default_rng(1).normal(size=(10, 3)), dtype=torch.float64)
    assert np.allclose(rotvec_to_matrix(rv).numpy(), Rotation.from_rotvec(rv.numpy()).as_matrix(), atol=1e-12)
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    rotvec_to_matrix(zero).sum().backward()
    assert torch.isfinite(zero.grad).all()
    assert torch.allclose(rotvec_to_matrix(zero.detach()), torch.eye(3, dtype=torch.float64))
