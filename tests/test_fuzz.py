"""Property-based fuzzing (hypothesis) of the readers of ``hgn lift`` (COCO JSON, npz, csv) and of ``hgn data check``.

Every generated input must end in a result or a :class:`~hgnlib.errors.DataError` (the command line's one-line
message), never another exception. The inputs are built near the valid formats (right keys and shapes with wrong
types, values, lengths and nesting) so that the checks deep inside the readers are reached, not only the first one.
``pytest tests/test_fuzz.py --hypothesis-show-statistics`` prints how the examples ended (docs/bad_inputs.md).
"""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hgnlib import skeleton
from hgnlib.cli import main
from hgnlib.errors import DataError
from hgnlib.lift import coco, lift_warnings, prepare_inputs, read_keypoints

EXAMPLES = 300
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**20, 10**20),
                    st.floats(0, 2000), st.floats(0, 2000))
pixels = st.floats(0, 1500, allow_nan=False)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=5))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=4)), max_leaves=8)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _outcome(run) -> None:
    """Run ``run()``; a DataError is an accepted ending (recorded as a hypothesis event), anything else fails."""
    try:
        run()
    except DataError as exc:
        event(f"DataError: {exc.problem.split(':')[0].split('(')[0][:40].strip()}")
    else:
        event("result")


def _lift_inputs(path: Path, layout: str | None, size: tuple | None) -> None:
    """What ``hgn lift`` does before the model: read, prepare, check, warn."""
    width, height = size if size else (None, None)
    kp = read_keypoints(path, layout, width, height)
    prepared = prepare_inputs(kp)
    assert np.isfinite(prepared.inputs).all() and prepared.inputs.shape == (len(kp), skeleton.NUM_JOINTS, 2)
    assert all(isinstance(w, str) for w in lift_warnings(kp, prepared.filled))


sizes = st.sampled_from([None, (1000.0, 1000.0), (1000.0, 1000.0), (1920.0, 1080.0), (2.0, 3.0)])
layouts = st.sampled_from([None, None, None, "coco17", "h36m17"])
#: A standing person in a 1000 x 1000 image, COCO-17 and Human3.6M-17 layouts (pixels).
COCO_TEMPLATE = np.array([[500, 200], [510, 190], [490, 190], [520, 195], [480, 195], [560, 260], [440, 260],
                          [600, 330], [400, 330], [620, 400], [380, 400], [530, 400], [470, 400], [530, 550],
                          [470, 550], [530, 700], [470, 700]], dtype=float)
H36M_TEMPLATE = np.array([[500, 400], [470, 400], [470, 550], [470, 700], [530, 400], [530, 550], [530, 700],
                          [500, 330], [500, 260], [500, 235], [500, 200], [560, 260], [600, 330], [620, 400],
                          [440, 260], [400, 330], [380, 400]], dtype=float)
BAD_NUMBERS = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, 1e300, 0.5, -5000.0])


@st.composite
def poses(draw, template: np.ndarray) -> np.ndarray:
    """(frames, 17, 3) pixels and scores: the template moved, scaled and jittered, some points broken or low."""
    frames = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale, shift = draw(st.floats(0.1, 3)), np.array(draw(st.tuples(st.floats(-400, 900), st.floats(-400, 900))))
    xy = (template - 500) * scale + 500 + shift + rng.normal(0, 3, (frames, 17, 2))
    score = rng.uniform(0.2, 1, (frames, 17, 1))
    points = np.concatenate([xy, score], -1)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 3, 8]))):
        points[rng.integers(frames), rng.integers(17), rng.integers(3)] = draw(BAD_NUMBERS)
    return points


def _junk(draw, valid):
    """``valid`` most of the time, else a junk JSON value."""
    return draw(json_values) if draw(st.integers(0, 11)) == 5 else valid  # not 0: hypothesis favours it


@st.composite
def coco_files(draw) -> str:
    points = draw(poses(COCO_TEMPLATE))
    dets = [{"image_id": _junk(draw, t), "category_id": _junk(draw, 1),
             "keypoints": _junk(draw, [round(float(v), 2) for v in kp.ravel()]),
             "score": _junk(draw, round(float(np.nanmean(kp[:, 2])), 3))} for t, kp in enumerate(points)]
    for det in dets:
        if draw(st.integers(0, 7)) == 5:
            det.pop(draw(st.sampled_from(["image_id", "category_id", "keypoints", "score"])))
    if draw(st.integers(0, 9)) == 5:
        dets.append(draw(json_values))
    shape = draw(st.sampled_from(["results"] * 6 + ["annotations"] * 3 + ["junk", "text"]))
    if shape == "annotations":
        images = [{"id": i, "width": _junk(draw, 1000), "height": _junk(draw, 1000)} for i in range(len(dets))]
        return json.dumps({"annotations": dets, "images": _junk(draw, images)})
    if shape == "junk":
        return json.dumps(draw(json_values))
    text = json.dumps(dets)
    return text if shape == "results" else text[: draw(st.integers(0, len(text)))]


@FUZZ
@given(text=coco_files(), size=sizes, layout=layouts)
def test_coco_json_reader_fuzz(folder, text, size, layout):
    path = folder / "fuzz.json"
    path.write_text(text)
    _outcome(lambda: _lift_inputs(path, layout, size))


dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex64, "U3"])


@st.composite
def arrays(draw, shape=None) -> np.ndarray:
    """Random arrays of any of several dtypes (strings included), with NaN and huge values."""
    shape = shape if shape is not None else tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    dtype = draw(dtypes)
    size = int(np.prod(shape))
    if dtype == "U3":
        return np.array(draw(st.lists(st.text(max_size=3), min_size=size, max_size=size)), dtype="U3").reshape(shape)
    values = np.array(draw(st.lists(st.one_of(st.floats(-10, 1500), st.floats(allow_nan=True, allow_infinity=True)),
                                    min_size=size, max_size=size)), dtype=np.float64).reshape(shape)
    with np.errstate(invalid="ignore", over="ignore"):
        return np.nan_to_num(values).astype(dtype) if np.dtype(dtype).kind in "iub" else values.astype(dtype)


@st.composite
def npz_contents(draw) -> dict:
    template = draw(st.sampled_from([COCO_TEMPLATE, H36M_TEMPLATE]))
    points = draw(poses(template))
    keypoints = points if draw(st.booleans()) else points[..., :2]
    contents = {"keypoints": keypoints, "width": np.array(1000.0), "height": np.array(1000),
                "layout": np.array("coco17" if template is COCO_TEMPLATE else "h36m17"),
                "frame_ids": np.arange(len(points)) * 2, "scores": points[..., 2]}
    for key in ("width", "height", "layout", "frame_ids", "scores"):
        if draw(st.booleans()):
            del contents[key]
    for key in draw(st.lists(st.sampled_from(["keypoints", "scores", "width", "height", "layout", "frame_ids"]),
                             max_size=2)):
        contents[key] = draw(arrays())
    return contents


@FUZZ
@given(contents=npz_contents(), size=sizes, layout=layouts, garbage=st.one_of(st.none(), st.none(), st.none(),
                                                                             st.binary(max_size=40)))
def test_npz_reader_fuzz(folder, contents, size, layout, garbage):
    path = folder / "fuzz.npz"
    if garbage is not None:
        path.write_bytes(garbage)
    else:
        np.savez(path, **contents)
    _outcome(lambda: _lift_inputs(path, layout, size))


junk_cells = st.one_of(st.sampled_from(["", "nan", "inf", "-1e30", "1e400", "x", "1,2", '"']),
                       st.text(alphabet="0123456789.-e,\"x ", max_size=5))


@st.composite
def csv_files(draw) -> str:
    template = draw(st.sampled_from([COCO_TEMPLATE, H36M_TEMPLATE]))
    names = coco.COCO17_NAMES if template is COCO_TEMPLATE else skeleton.H36M17_NAMES
    points = draw(poses(template))
    scores, frame, header = draw(st.booleans()), draw(st.booleans()), draw(st.sampled_from([True, True, False]))
    columns = [f"{n}_{a}" for n in names for a in ("x", "y", *(("score",) if scores else ()))]
    cells = [[f"{v:.2f}" for v in (kp if scores else kp[:, :2]).ravel()] for kp in points]
    if frame:
        columns = ["frame"] + columns
        cells = [[str(t)] + row for t, row in enumerate(cells)]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        row = cells[draw(st.integers(0, len(cells) - 1))]
        row[draw(st.integers(0, len(row) - 1))] = draw(junk_cells)
    if draw(st.integers(0, 5)) == 0:
        columns[draw(st.integers(0, len(columns) - 1))] = draw(st.text(max_size=6))
    if draw(st.integers(0, 5)) == 0:
        cells[0] = cells[0][: draw(st.integers(0, len(cells[0])))]
    lines = ([",".join(columns)] if header else []) + [",".join(row) for row in cells]
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=csv_files(), size=sizes, layout=layouts)
def test_csv_reader_fuzz(folder, text, size, layout):
    path = folder / "fuzz.csv"
    path.write_text(text)
    _outcome(lambda: _lift_inputs(path, layout, size))


@st.composite
def dataset_files(draw) -> tuple:
    """A small valid dataset (3D in metres, 2D in pixels) with up to two parts replaced by junk."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frames = draw(st.integers(1, 3))
    subjects = draw(st.lists(st.sampled_from(["S1", "S5", "S9", "S11"]), min_size=1, max_size=2, unique=True))
    three_d = {s: {"Walking": rng.normal(0, 0.3, (frames, 32, 3)) + [0, 0, 1]} for s in subjects}
    two_d = {s: {"Walking": [rng.uniform(0, 1000, (frames, 17, 2)) for _ in range(4)]} for s in subjects}
    metadata = {"layout_name": "h36m", "num_joints": 17,
                "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    parts = {"3d file": {"positions_3d": three_d}, "2d file": {"positions_2d": two_d, "metadata": metadata}}
    for _ in range(draw(st.sampled_from([0, 1, 1, 2]))):
        target = draw(st.sampled_from(["subject", "sequence", "array", "view", "views", "metadata", "key"]))
        s = subjects[0]
        if target == "subject":
            (three_d if draw(st.booleans()) else two_d)[draw(st.sampled_from(["X", 3, "S6"]))] = {"Walking": None}
        elif target == "sequence":
            three_d[s][draw(st.sampled_from(["Other", 0]))] = rng.normal(0, 1, (frames, 32, 3))
        elif target == "array":
            three_d[s]["Walking"] = draw(st.one_of(arrays(), arrays(shape=(frames, 32, 3)), json_values))
        elif target == "view":
            two_d[s]["Walking"][draw(st.integers(0, 3))] = draw(st.one_of(arrays(), arrays(shape=(frames, 17, 2))))
        elif target == "views":
            two_d[s]["Walking"] = draw(st.one_of(json_values, st.just(two_d[s]["Walking"][:3])))
        elif target == "metadata":
            parts["2d file"]["metadata"] = draw(st.one_of(json_values, st.just({**metadata, "num_joints": 18})))
        else:
            part = parts[draw(st.sampled_from(sorted(parts)))]
            part[draw(st.sampled_from(sorted(part)))] = draw(st.one_of(arrays(), json_values))
    wrap = lambda v: v if isinstance(v, np.ndarray) else np.array(v, dtype=object)  # noqa: E731
    return tuple({k: wrap(v) for k, v in parts[name].items()} for name in ("3d file", "2d file"))


@FUZZ
@given(files=dataset_files())
def test_data_check_fuzz(folder, files, capsys):
    three_d, two_d = files
    np.savez(folder / "data_3d_h36m.npz", **three_d)
    np.savez(folder / "data_2d_h36m_gt.npz", **two_d)
    code = main(["data", "check", "--dir", str(folder), "--json"])
    err = capsys.readouterr().err
    assert code in (0, 2) and (code == 0 or (err.startswith("hgn: error: ") and "Traceback" not in err))
    event("result" if code == 0 else f"hgn: error: {err[12:].split(': ', 1)[-1].split(':')[0][:40]}")
