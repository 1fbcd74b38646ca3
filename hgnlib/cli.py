"""The ``hgn`` command: thin over the library. Bad arguments and bad files give a message, not a traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import paths
from .errors import HGNError
from .profiles import PROFILES, get_profile


def _print_table(rows: list[dict], floats: str = "{:.1f}") -> None:
    if not rows:
        return
    keys = list(rows[0])
    cells = [[floats.format(r[k]) if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    print("  ".join(k.ljust(w) for k, w in zip(keys, widths)).rstrip())
    for c in cells:
        print("  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip())


def cmd_body_info(args) -> int:
    from .body import load_body_model

    info = load_body_model(args.model).describe()
    print(json.dumps(info, indent=1) if args.json else "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def cmd_graphs(args) -> int:
    from .body import load_body_model
    from .graphs import hierarchy_cache_path, load_or_build_hierarchy

    body = load_body_model(args.body)
    hierarchy = load_or_build_hierarchy(body, padded=args.padded)
    if args.json:
        print(hierarchy.to_json())
        return 0
    kind = "padded with fake nodes (authors' binary-tree permutation)" if args.padded else "plain (real nodes only)"
    print(f"{body.name}: mesh graph of the main component ({len(hierarchy.vertex_indices)} of {body.num_vertices} "
          f"vertices), heavy-edge-matching levels, {kind}")
    _print_table(hierarchy.summary())
    print(f"cached in {hierarchy_cache_path(body, padded=args.padded)}")
    return 0


def cmd_params(args) -> int:
    from .body import load_body_model
    from .graphs import load_or_build_hierarchy
    from .models.registry import hierarchy_graphs, param_rows

    hierarchy = load_or_build_hierarchy(load_body_model(args.body), padded=args.padded)
    rows = param_rows(hierarchy_graphs(hierarchy))
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    nodes = [lv.num_nodes for lv in hierarchy.coarse_levels]
    print(f"parameters of the models of Tables 2-4 on the {hierarchy.body_name} mesh graphs "
          f"(G_M^(C-1): {nodes[0]} nodes, G_M^C: {nodes[1]} nodes{', padded' if args.padded else ''}) vs the paper")
    _print_table([{**r, "params": f"{r['params'] / 1e6:.3f}M", "paper_params": f"{r['paper_params'] / 1e6:.2f}M",
                   "ratio": f"{r['ratio']:.3f}", "note": r["note"] or ""} for r in rows])
    return 0


def _synth_dir(args) -> Path:
    return Path(args.out) if args.out else paths.embedded_dir(args.size)


def cmd_data_synth(args) -> int:
    from .data.synth import SynthConfig, ensure_embedded, generate

    out = _synth_dir(args)
    config = SynthConfig(size=args.size, seed=args.seed)
    manifest = generate(out, config) if args.force else ensure_embedded(out, config)
    print(f"embedded dataset in {out}: {len(manifest['subjects'])} subjects x {manifest['sequences_per_subject']} "
          f"sequences x {manifest['frames_per_sequence']} frames (size {manifest['size']}, seed {manifest['seed']}; "
          f"generated in {manifest['seconds']} s)")
    return 0


def cmd_data_check(args) -> int:
    from .cameras import load_h36m_cameras
    from .data.h36m import check_pair, load_2d, load_3d, two_d_path
    from .data.stats import bone_report, camera_report

    folder = Path(args.dir) if args.dir else paths.embedded_dir()
    pos3d = load_3d(folder / "data_3d_h36m.npz")
    path2d = two_d_path(folder, args.source)
    pos2d, _ = load_2d(path2d)
    check_pair(pos3d, pos2d, path2d)
    bones, cams = bone_report(pos3d), camera_report(pos3d, pos2d, load_h36m_cameras())
    if args.json:
        print(json.dumps({"folder": str(folder), "bones": bones, "cameras": cams}, indent=1))
        return 0
    print(f"{folder}: 3D and 2D ({path2d.name}) files are valid and consistent\n")
    print("bone lengths (mm): range of the subjects' means vs Human3.6M S1")
    _print_table(bones)
    print("\ncameras: pelvis depth (m), 2D extents (px), % of joints inside the image")
    _print_table(cams, "{:.2f}")
    return 0


def cmd_data_pseudo_gt(args) -> int:
    from .body import load_body_model
    from .data.pseudo_gt import fit_report, load_pseudo_gt, make_pseudo_gt
    from .graphs import load_or_build_hierarchy
    from .skeleton import TRAIN_SUBJECTS

    body = load_body_model(args.body)
    hierarchy = load_or_build_hierarchy(body, padded=args.padded)
    level_c1, level_c = hierarchy.coarse_levels
    mappings = {"mesh_c1": level_c1.mapping, "mesh_c": level_c.mapping}
    folder = Path(args.dir) if args.dir else paths.embedded_dir()
    subjects = args.subjects or list(TRAIN_SUBJECTS)
    cache = make_pseudo_gt(folder, mappings, body=body, subjects=subjects, stride=args.stride, source=args.source)
    pgt = load_pseudo_gt(cache)
    frames = sum(len(f) for seqs in pgt.frames.values() for f in seqs.values())
    print(f"coarse-mesh pseudo-ground truth ({args.source}) of {frames} frames of {', '.join(subjects)}: "
          f"G_M^(C-1) {level_c1.num_nodes} nodes, G_M^C {level_c.num_nodes} nodes; cached in {cache}")
    if args.report:
        report = fit_report(folder, mappings, body=body, subjects=subjects, stride=args.stride)
        rows = [{"what": k, **report[k]} for k in ("joints", "vertices")]
        rows += [{"what": f"coarse {k}", **v} for k, v in report["coarse"].items()]
        print(f"fitting error against the true meshes of the embedded data, mm ({report['frames']} frames)")
        _print_table(rows)
    return 0


def cmd_data_where(args) -> int:
    rows = [("Human3.6M files", paths.h36m_dir(), "data_3d_h36m.npz, data_2d_h36m_*.npz, Human36M_subject*_*.json"),
            ("SMPL model", paths.smpl_dir(), "SMPL_NEUTRAL.pkl (optional: J_regressor_h36m.npy)"),
            ("MPI-INF-3DHP test set", paths.mpi_inf_3dhp_dir(), "TS1..TS6/annot_data.mat"),
            ("embedded dataset", paths.embedded_dir(), "generated by `hgn data synth`")]
    for name, folder, files in rows:
        present = sorted(p.name for p in folder.glob("*")) if folder.exists() else []
        print(f"{name}: {folder}\n  expects: {files}\n  present: {', '.join(present) if present else 'nothing'}")
    print(f"\nSee {paths.data_dir() / 'README.md'} for where each licensed file comes from.")
    return 0


def cmd_reproduce(args) -> int:
    from .reports import reproduce

    profile = get_profile(args.profile)
    if args.data == "embedded" and profile.data == "h36m":
        raise HGNError("the 'paper' profile is for real Human3.6M: use --data h36m, or another profile")
    if args.data == "embedded":
        from .data.synth import SynthConfig, ensure_embedded

        ensure_embedded(paths.embedded_dir(profile.synth_size), SynthConfig(size=profile.synth_size))
    reproduce(args.data, args.profile, args.out, args.notebooks)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hgn", description="Hierarchical Graph Networks: reproduction toolkit")
    sub = parser.add_subparsers(dest="command", required=True)

    body = sub.add_parser("body", help="body models").add_subparsers(dest="action", required=True)
    info = body.add_parser("info", help="vertices, faces, components and parameters of a body model")
    info.add_argument("--model", choices=["anny", "smpl"], default="anny")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_body_info)

    graphs = sub.add_parser("graphs", help="the multi-scale mesh graphs: levels, node and edge counts (cached)")
    graphs.add_argument("--body", choices=["anny", "smpl"], default="anny")
    graphs.add_argument("--padded", action="store_true", help="the authors' fake-node padding (default: plain)")
    graphs.add_argument("--json", action="store_true", help="the same as JSON, with the two chosen levels marked")
    graphs.set_defaults(func=cmd_graphs)

    params = sub.add_parser("params", help="parameter counts of every model of Tables 2-4 next to the paper's")
    params.add_argument("--body", choices=["anny", "smpl"], default="anny")
    params.add_argument("--padded", action="store_true", help="count on the padded mesh graphs")
    params.add_argument("--json", action="store_true", help="a JSON list with table, name, params, paper_params")
    params.set_defaults(func=cmd_params)

    data = sub.add_parser("data", help="datasets").add_subparsers(dest="action", required=True)
    synth = data.add_parser("synth", help="generate the embedded Human3.6M-format dataset")
    synth.add_argument("--size", type=_positive_float, default=1.0, help="scale of the dataset (1.0 = default)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--out", help="output folder (default: data/embedded, or data/embedded-size<S>)")
    synth.add_argument("--force", action="store_true", help="regenerate even if a complete dataset is there")
    synth.set_defaults(func=cmd_data_synth)
    check = data.add_parser("check", help="validate a dataset folder and print its statistics next to Human3.6M's")
    check.add_argument("--dir", help="folder with data_3d_h36m.npz and the 2D files (default: data/embedded)")
    check.add_argument("--source", default="gt", help="2D source: gt, cpn, sh, sh_pt, synthdet or detected")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_data_check)
    pgt = data.add_parser("pseudo-gt", help="coarse-mesh pseudo-ground truth: the body fitted to the 3D joints")
    pgt.add_argument("--dir", help="dataset folder (default: data/embedded); the authors' JSON folder for "
                                   "--source authors_smpl")
    pgt.add_argument("--body", choices=["anny", "smpl"], default="anny")
    pgt.add_argument("--source", choices=["fit", "authors_smpl"], default="fit")
    pgt.add_argument("--padded", action="store_true", help="map to the padded mesh graphs")
    pgt.add_argument("--stride", type=int, default=1, help="keep every n-th frame")
    pgt.add_argument("--subjects", nargs="+", help="default: the training subjects")
    pgt.add_argument("--report", action="store_true", help="embedded data only: errors against the true meshes")
    pgt.set_defaults(func=cmd_data_pseudo_gt)
    where = data.add_parser("where", help="where each dataset belongs and what is present")
    where.set_defaults(func=cmd_data_where)

    rep = sub.add_parser("reproduce", help="execute the notebooks and render reports")
    rep.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    rep.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    rep.add_argument("--out", help="output folder (default: reports/<data>-<profile>)")
    rep.add_argument("--notebooks", default="*.ipynb", help="glob of the notebooks to run (default: all)")
    rep.set_defaults(func=cmd_reproduce)
    return parser


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HGNError as exc:
        print(f"hgn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
