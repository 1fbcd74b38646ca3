"""`hgn lift`: the COCO-17 -> H36M-17 conversion, the low-score policy, the readers, every error path, the round trip
through a saved model file, and the command line end to end (JSON, npz, a GIF)."""
import json

import numpy as np
import pytest
import torch

from hgnlib import skeleton
from hgnlib.cameras import normalize_screen
from hgnlib.cli import main
from hgnlib.errors import DataError, HGNError, MissingFileError
from hgnlib.experiments.artifacts import load_model, read_bundle, save_model
from hgnlib.experiments.evaluate import predict
from hgnlib.lift import (coco, coco_detections, coco_from_h36m, detect_layout, lift_file, read_keypoints, render,
                         resolve_model, write_coco_results, write_result)

W, H = 1000, 1002


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, untrained_hgn64):
    """An untrained HGN (64 channels, with both coarse-mesh outputs) written as a model file."""
    model, graphs = untrained_hgn64()
    return save_model(tmp_path_factory.mktemp("model") / "model.pt", model, "hgn-64", graphs)


def standing_h36m(frames: int = 3, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """(frames, 17, 3) camera-space joints of a person standing 5 m in front of a camera, moving a little."""
    rest = np.array([[0, 0, 0], [-0.13, 0, 0], [-0.14, 0.45, 0], [-0.15, 0.88, 0.05], [0.13, 0, 0],
                     [0.14, 0.45, 0], [0.15, 0.88, 0.05], [0, -0.23, 0.02], [0, -0.49, 0], [0, -0.6, -0.08],
                     [0, -0.72, 0], [0.16, -0.45, 0], [0.2, -0.18, 0], [0.22, 0.05, -0.05], [-0.16, -0.45, 0],
                     [-0.2, -0.18, 0], [-0.22, 0.05, -0.05]], dtype=np.float64)
    rng = np.random.default_rng(seed)
    return rest + np.array([0.0, -0.1, 5.0]) + rng.normal(0, noise, (frames, 17, 3))


def project(points: np.ndarray) -> np.ndarray:
    """A Human3.6M-like pinhole camera (focal 1145 px, 1000 x 1002 px image)."""
    return points[..., :2] / points[..., 2:3] * 1145.0 + np.array([W / 2, H / 2])


def coco_frames(frames: int = 3) -> np.ndarray:
    """(frames, 17, 3) COCO pixels with score 0.9, from the standing pose."""
    uv = project(coco_from_h36m(standing_h36m(frames)))
    return np.concatenate([uv, np.full(uv.shape[:2] + (1,), 0.9)], -1)


# -------------------------------------------------------------------------------------------------- conversion


def test_coco_layout_constants():
    assert len(coco.COCO17_NAMES) == 17 and len(set(coco.COCO17_NAMES)) == 17
    perm = np.array(coco.COCO17_FLIP_PERMUTATION)
    assert (perm[perm] == np.arange(17)).all() and perm[0] == 0 and perm[5] == 6 and perm[16] == 15
    for h, c in coco.H36M_FROM_COCO_DIRECT.items():  # same side, same joint
        side = skeleton.H36M17_NAMES[h][0]
        assert coco.COCO17_NAMES[c].startswith({"L": "left", "R": "right"}[side])


def test_coco_to_h36m_on_hand_made_points():
    kp = np.zeros((17, 3))
    kp[:, 2] = 0.8
    kp[:, :2] = np.nan
    named = {"nose": (100, 40), "left_eye": (104, 36), "right_eye": (96, 36), "left_ear": (110, 40),
             "right_ear": (90, 40), "left_shoulder": (120, 80), "right_shoulder": (80, 80), "left_elbow": (125, 120),
             "right_elbow": (75, 120), "left_wrist": (128, 160), "right_wrist": (72, 160), "left_hip": (112, 180),
             "right_hip": (88, 180), "left_knee": (114, 240), "right_knee": (86, 240), "left_ankle": (115, 300),
             "right_ankle": (85, 300)}
    for name, xy in named.items():
        kp[coco.COCO17_NAMES.index(name), :2] = xy
    kp[coco.COCO17_NAMES.index("left_wrist"), 2] = 0.5
    out, conf = coco.coco_to_h36m(kp)
    j = {n: out[i] for i, n in enumerate(skeleton.H36M17_NAMES)}
    assert np.allclose(j["LWrist"], (128, 160)) and np.allclose(j["RAnkle"], (85, 300))
    assert np.allclose(j["LShoulder"], (120, 80)) and np.allclose(j["RKnee"], (86, 240))
    hips, shoulders = np.array([100.0, 180]), np.array([100.0, 80])
    trunk = shoulders - hips
    pelvis = hips + coco.HIP_RAISE * trunk
    assert np.allclose(j["Pelvis"], pelvis)
    assert np.allclose(j["LHip"], pelvis + coco.HIP_WIDTH_RATIO * np.array([12.0, 0]))
    assert np.allclose(j["RHip"], pelvis + coco.HIP_WIDTH_RATIO * np.array([-12.0, 0]))
    thorax = shoulders + coco.THORAX_RAISE * trunk
    assert np.allclose(j["Thorax"], thorax)
    assert np.allclose(j["Spine"], pelvis + coco.SPINE_FRACTION * (thorax - pelvis))
    anchor, nose = np.array([100.0, 36]), np.array([100.0, 40])  # both eyes visible: the eyes' midpoint
    for name in ("Nose", "Head"):
        alpha, beta = coco.FACE_RULES["eyes"][name]
        assert np.allclose(j[name], anchor + alpha * (anchor - thorax) + beta * (nose - anchor))
    # the head top lies above the eyes, the H36M hips inside and above the COCO hips
    assert j["Head"][1] < 36 and j["LHip"][0] < 112 and j["LHip"][1] < 180
    assert conf[13] == pytest.approx(0.5) and conf[0] == pytest.approx(0.8)
    # batched input gives the same per frame
    out2, _ = coco.coco_to_h36m(np.stack([kp, kp]))
    assert np.allclose(out2[1], out)


def test_face_anchor_fallbacks_and_missing_points():
    kp = coco_frames(1)[0]
    full, _ = coco.coco_to_h36m(kp)
    for hidden, kind in (([1, 2], "ears"), ([2, 4], "side"), ([1, 2, 3, 4], "nose")):
        k = kp.copy()
        k[hidden, 2] = 0.1  # below the threshold: missing
        xy, score = coco._points_and_scores(k, coco.DEFAULT_MIN_SCORE)
        assert coco._face_anchor(xy, score)[2] == kind
        out, conf = coco.coco_to_h36m(k)
        assert np.isfinite(out).all() and conf[10] > 0
        assert np.linalg.norm(out[10] - full[10]) < 40  # a worse but usable head top
    k = kp.copy()
    k[[0, 2, 3, 4], 2] = 0.0  # one eye alone: no face anchor
    out, conf = coco.coco_to_h36m(k)
    assert np.isnan(out[[9, 10]]).all() and (conf[[9, 10]] == 0).all() and np.isfinite(out[:9]).all()
    k = kp.copy()
    k[5, :2] = np.nan  # a NaN shoulder: the thorax, spine and face joints cannot be made
    out, conf = coco.coco_to_h36m(k)
    assert np.isnan(out[[7, 8, 9, 10, 11]]).all() and np.isfinite(out[[0, 1, 4, 14]]).all()
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 2\)"):
        coco.coco_to_h36m(np.zeros((3, 18, 2)))


def test_conversion_error_on_known_poses():
    """With the head frame approximation of the face, the conversion stays within a few pixels of the truth."""
    joints = standing_h36m(5)
    out, _ = coco.coco_to_h36m(project(coco_from_h36m(joints)))
    error = np.linalg.norm(out - project(joints), axis=-1).mean(0)
    assert error[list(coco.H36M_FROM_COCO_DIRECT)].max() < 1e-9
    assert error.max() < 12, error


def test_fill_missing_policy():
    pts = project(standing_h36m(4, noise=0.0))
    pts[:, :, 0] += np.arange(4)[:, None] * 10  # the person walks right
    truth = pts.copy()
    missing = np.zeros((4, 17), dtype=bool)
    missing[2, 13] = True  # from the previous frame, moved with the body
    missing[0, 16] = True  # first frame: from the next one
    pts[2, 13] = np.nan
    filled, mask = coco.fill_missing(pts, missing)
    assert (mask == missing).all() and np.isfinite(filled).all()
    assert np.allclose(filled[2, 13], truth[2, 13]) and np.allclose(filled[0, 16], truth[0, 16])
    one = pts[:1].copy()  # a single image: from the other joints
    one[0, [0, 13]] = np.nan
    filled, mask = coco.fill_missing(one, np.zeros((1, 17), bool))
    assert mask[0, [0, 13]].all()
    assert np.allclose(filled[0, 0], (one[0, 1] + one[0, 4]) / 2) and np.allclose(filled[0, 13], one[0, 12])
    many = pts.copy()
    many[1, :8] = np.nan
    with pytest.raises(DataError, match=r"frame 1 \(8 joints\)") as exc:
        coco.fill_missing(many, np.zeros((4, 17), bool), max_missing=6)
    assert "--max-missing" in str(exc.value)


# ------------------------------------------------------------------------------------------------------ readers


def test_read_coco_results_keeps_the_best_person_and_orders_frames(tmp_path):
    kp = coco_frames(3)
    dets = [{"image_id": 7, "category_id": 1, "keypoints": kp[2].ravel().tolist(), "score": 0.9},
            {"image_id": 3, "category_id": 1, "keypoints": kp[0].ravel().tolist(), "score": 0.95},
            {"image_id": 3, "category_id": 1, "keypoints": (kp[0] + [40, 0, 0]).ravel().tolist(), "score": 0.5},
            {"image_id": 5, "category_id": 1, "keypoints": kp[1].ravel().tolist(), "score": 0.8},
            {"image_id": 5, "category_id": 2, "keypoints": (kp[1] * 2).ravel().tolist(), "score": 0.99}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    read = read_keypoints(path, width=W, height=H)
    assert read.frame_ids == [3, 5, 7] and read.layout == "coco17" and read.has_scores
    assert np.allclose(read.points, kp)
    # a COCO annotation file: visibility flags, image size from "images"
    ann = {"images": [{"id": 1, "width": W, "height": H}],
           "annotations": [{"image_id": 1, "category_id": 1, "keypoints": kp[0].ravel().tolist()}]}
    path.write_text(json.dumps(ann))
    read = read_keypoints(path)
    assert (read.width, read.height) == (W, H) and len(read) == 1


def test_read_npz_and_csv(tmp_path):
    h36m = project(standing_h36m(3))
    np.savez(tmp_path / "k.npz", keypoints=h36m, scores=np.full((3, 17), 0.7), width=W, height=H)
    read = read_keypoints(tmp_path / "k.npz")
    assert read.layout == "h36m17" and read.width == W and np.allclose(read.points[..., 2], 0.7)
    detections = coco_frames(3)
    header = ["frame"] + [f"{n}_{c}" for n in coco.COCO17_NAMES for c in ("x", "y", "score")]
    rows = [[str(10 + t)] + [f"{v:.4f}" for v in detections[t].ravel()] for t in range(3)]
    (tmp_path / "k.csv").write_text("\n".join(",".join(r) for r in [header] + rows))
    read = read_keypoints(tmp_path / "k.csv", width=W, height=H)
    assert read.layout == "coco17" and read.frame_ids == [10, 11, 12] and np.allclose(read.points, detections, atol=1e-3)
    header = [f"{n}_{c}" for n in skeleton.H36M17_NAMES for c in ("x", "y")]
    rows = [[f"{v:.4f}" for v in h36m[t].ravel()] for t in range(3)]
    (tmp_path / "h.csv").write_text("\n".join(",".join(r) for r in [header] + rows))
    assert read_keypoints(tmp_path / "h.csv", width=W, height=H).layout == "h36m17"
    (tmp_path / "n.csv").write_text("\n".join(",".join(r) for r in rows))  # no header: 34 numbers per row
    read = read_keypoints(tmp_path / "n.csv", layout="h36m17", width=W, height=H)
    assert np.allclose(read.points[..., :2], h36m, atol=1e-3) and not read.has_scores
    assert detect_layout(h36m) == "h36m17" and detect_layout(detections[..., :2]) == "coco17"


@pytest.mark.parametrize("case, message", [
    ("joints", "18 joints per frame (OpenPose's COCO-18 layout?)"),
    ("json_joints", "54 keypoint numbers"),
    ("layout", "look like the h36m17 layout"),
    ("size", "--width and --height"),
    ("nan", "miss more than 6 of 17 joints"),
    ("empty", "the file is empty"),
    ("empty_list", "no detection"),
    ("normalised", "look normalised"),
    ("npz_key", "no key 'keypoints'"),
])
def test_bad_input_is_a_clear_error(tmp_path, model_file, case, message):
    h36m = project(standing_h36m(3))
    kwargs = {"width": W, "height": H}
    path = tmp_path / "input.npz"
    if case == "joints":
        np.savez(path, keypoints=np.zeros((3, 18, 2)) + 300)
    elif case == "json_joints":
        path = tmp_path / "input.json"
        path.write_text(json.dumps([{"image_id": 0, "category_id": 1, "keypoints": [300.0] * 54, "score": 1}]))
    elif case == "layout":
        np.savez(path, keypoints=h36m, layout="coco17")
    elif case == "size":
        np.savez(path, keypoints=h36m)
        kwargs = {}
    elif case == "nan":
        bad = h36m.copy()
        bad[1, :7] = np.nan
        np.savez(path, keypoints=bad)
    elif case == "empty":
        path = tmp_path / "input.csv"
        path.write_text("")
    elif case == "empty_list":
        path = tmp_path / "input.json"
        path.write_text("[]")
    elif case == "normalised":
        np.savez(path, keypoints=normalize_screen(h36m, W, H))
    elif case == "npz_key":
        np.savez(path, points=h36m)
    with pytest.raises(DataError) as exc:
        lift_file(path, model_file, **kwargs)
    assert message in str(exc.value) and exc.value.path == path and exc.value.fix


def test_bad_models_are_clear_errors(tmp_path, model_file, monkeypatch):
    h36m = project(standing_h36m(2))
    np.savez(tmp_path / "k.npz", keypoints=h36m, width=W, height=H)
    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_text("hello")
    with pytest.raises(DataError, match="not a model file"):
        lift_file(tmp_path / "k.npz", not_a_model)
    bundle = read_bundle(model_file)
    wrong = dict(bundle, state_dict={k: (v[:-1] if v.ndim else v) for k, v in bundle["state_dict"].items()})
    torch.save(wrong, tmp_path / "wrong.pt")
    with pytest.raises(DataError, match="the weights do not fit model 'hgn-64'"):
        lift_file(tmp_path / "k.npz", tmp_path / "wrong.pt")
    other = dict(bundle, input=dict(bundle["input"], layout="coco17"))
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(DataError, match="a model of another kind"):
        lift_file(tmp_path / "k.npz", tmp_path / "other.pt")
    torch.save({"epoch": 3, "state_dict": bundle["state_dict"]}, tmp_path / "checkpoint.pt")
    with pytest.raises(DataError, match="expected 'hgn-model/1'"):
        lift_file(tmp_path / "k.npz", tmp_path / "checkpoint.pt")
    with pytest.raises(MissingFileError, match="neither a model file nor a configuration name"):
        lift_file(tmp_path / "k.npz", "no-such-model")
    monkeypatch.setenv("HGN_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(MissingFileError) as exc:
        resolve_model("hgn-128", profile="smoke")
    assert "hgn train --model hgn-128 --profile smoke --data embedded" in str(exc.value)


# ------------------------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("flip", [False, True])
def test_lift_through_the_model_file_equals_predict(tmp_path, model_file, flip):
    h36m = project(standing_h36m(5))
    np.savez(tmp_path / "k.npz", keypoints=h36m)
    result = lift_file(tmp_path / "k.npz", model_file, width=W, height=H, flip=flip)
    model, _ = load_model(model_file)
    expected = predict(model, torch.from_numpy(normalize_screen(h36m, W, H).astype(np.float32)), flip_test=flip)
    assert np.array_equal(result.joints, expected["joints"].numpy())
    assert set(result.meshes) == {"mesh_c", "mesh_c1"}
    assert np.array_equal(result.meshes["mesh_c"], expected["mesh_c"].numpy())
    assert not result.filled.any() and result.model_name == "hgn-64"


def test_coco_input_is_converted_and_low_scores_are_filled(tmp_path, model_file):
    detections = coco_frames(4)
    detections[2, 9, 2] = 0.05  # a low-scored left wrist
    detections[1, 5, :2] = np.nan  # a lost left shoulder
    write_coco_results(tmp_path / "d.json", detections)
    result = lift_file(tmp_path / "d.json", model_file, width=W, height=H)
    assert result.layout == "coco17" and result.filled_names(2) == ["LWrist"]
    assert result.filled_names(1) == ["Spine", "Thorax", "Nose", "Head", "LShoulder"]
    converted, _ = coco.coco_to_h36m(coco_frames(4))
    assert np.abs(result.keypoints[[0, 3]] - converted[[0, 3]]).max() < 1e-2  # rounded in the JSON
    assert np.linalg.norm(result.keypoints[2, 13] - converted[2, 13]) < 5


def test_coco_detections_are_noisy_with_scores():
    joints = standing_h36m(50)
    points = coco_from_h36m(joints)
    uv = project(points)
    det = coco_detections(uv, points, np.random.default_rng(0))
    assert det.shape == (50, 17, 3) and ((det[..., 2] > 0) & (det[..., 2] <= 1)).all()
    error = np.linalg.norm(det[..., :2] - uv, axis=-1)
    assert 0.5 < error.mean() < 20
    assert np.corrcoef(error.ravel(), det[..., 2].ravel())[0, 1] < 0  # larger errors, lower scores


# ---------------------------------------------------------------------------------------------- command line


def test_cli_lift_end_to_end(tmp_path, model_file, capsys):
    write_coco_results(tmp_path / "dets.json", coco_frames(3), image_ids=[100, 101, 102])
    base = ["lift", str(tmp_path / "dets.json"), "--model", str(model_file), "--width", str(W), "--height", str(H)]
    assert main(base + ["--out", str(tmp_path / "out.json"), "--render", "gif", "--render-out",
                        str(tmp_path / "out.gif"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "3 frame(s), coco17 input" in out and "out.gif" in out
    payload = json.loads((tmp_path / "out.json").read_text())
    assert payload["format"] == "hgn-lift/1" and payload["units"] == "metres"
    assert [f["id"] for f in payload["frames"]] == [100, 101, 102]
    frame = payload["frames"][0]
    assert np.array(frame["joints"]).shape == (17, 3) and np.array(frame["mesh_c1"]).shape[1] == 3
    from PIL import Image

    with Image.open(tmp_path / "out.gif") as gif:
        assert gif.n_frames == 3
    assert main(base + ["--out", str(tmp_path / "out.npz"), "--flip"]) == 0
    with np.load(tmp_path / "out.npz") as f:
        assert f["joints"].shape == (3, 17, 3) and f["mesh_c"].shape[0] == 3
        assert list(f["frame_ids"]) == [100, 101, 102] and json.loads(str(f["meta"]))["input"]["test_time_flip"]
    capsys.readouterr()
    assert main(base[:4]) == 2  # no image size: a message, not a traceback
    err = capsys.readouterr().err
    assert "--width and --height" in err and "Traceback" not in err
    assert main(base + ["--layout", "h36m17"]) == 2
    assert "layout h36m17 was asked for" in capsys.readouterr().err


def test_render_png_and_mp4_without_ffmpeg(tmp_path, model_file, monkeypatch):
    np.savez(tmp_path / "k.npz", keypoints=project(standing_h36m(2)), width=W, height=H)
    result = lift_file(tmp_path / "k.npz", model_file)
    render(result, tmp_path / "frames", "png", progress=False)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_000000.png", "frame_000001.png"]
    from matplotlib import animation

    monkeypatch.setattr(animation.writers, "is_available", lambda name: False)
    with pytest.raises(HGNError, match="--render gif"):
        render(result, tmp_path / "out.mp4", "mp4", progress=False)
    with pytest.raises(HGNError, match="unknown output type"):
        write_result(result, tmp_path / "out.txt")
