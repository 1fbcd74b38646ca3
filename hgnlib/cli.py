"""The ``hgn`` command: thin over the library. Bad arguments and bad files give a message, not a traceback."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import paths
from .errors import DataError, HGNError
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


def _hierarchy_options(args) -> dict:
    """``padded``, ``hem`` and ``levels`` of the mesh hierarchy: the body's defaults unless ``--hem`` is given."""
    from .graphs.hierarchy import body_defaults

    hem, levels = body_defaults(args.body)
    return {"padded": args.padded, "hem": args.hem or hem, "levels": levels}


def cmd_graphs(args) -> int:
    from .body import load_body_model
    from .graphs import hierarchy_cache_path, load_or_build_hierarchy

    body = load_body_model(args.body)
    options = _hierarchy_options(args)
    hierarchy = load_or_build_hierarchy(body, **options)
    if args.json:
        print(hierarchy.to_json())
        return 0
    kind = "padded with fake nodes (authors' binary-tree permutation)" if args.padded else "plain (real nodes only)"
    print(f"{body.name}: mesh graph of the main component ({len(hierarchy.vertex_indices)} of {body.num_vertices} "
          f"vertices), heavy-edge-matching levels ({options['hem']} matching), {kind}")
    _print_table(hierarchy.summary())
    print(f"cached in {hierarchy_cache_path(body, **options)}")
    return 0


def cmd_params(args) -> int:
    from .graphs import body_hierarchy
    from .models.registry import hierarchy_graphs, param_rows

    hierarchy = body_hierarchy(args.body, **_hierarchy_options(args))
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
    from .synthetic.synth import SynthConfig, ensure_embedded, generate

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
    cameras = load_h36m_cameras()
    unknown = sorted(set(pos3d) - set(cameras))
    if unknown:
        raise DataError(folder / "data_3d_h36m.npz", f"subjects {unknown} are not Human3.6M subjects",
                        f"name the subjects as Human3.6M does ({', '.join(sorted(cameras))}): their cameras are used")
    bones, cams = bone_report(pos3d), camera_report(pos3d, pos2d, cameras)
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
    hierarchy = load_or_build_hierarchy(body, **_hierarchy_options(args))
    folder = Path(args.dir) if args.dir else paths.embedded_dir()
    subjects = args.subjects or list(TRAIN_SUBJECTS)
    mappings = hierarchy.mesh_mappings()
    cache = make_pseudo_gt(folder, mappings, body=body, subjects=subjects, stride=args.stride, source=args.source)
    pgt = load_pseudo_gt(cache)
    frames = sum(len(f) for seqs in pgt.frames.values() for f in seqs.values())
    level_c1, level_c = hierarchy.coarse_levels
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


def _deadline(minutes: float | None) -> float | None:
    """The time (``time.time()``) at which a ``--stop-after MINUTES`` limit given now passes."""
    return None if minutes is None else time.time() + 60.0 * minutes


def _suite_dataset(data: str, profile: str) -> None:
    """Check that ``data`` suits ``profile``, and generate the embedded dataset when it is the data and absent."""
    if data == "embedded" and get_profile(profile).data == "h36m":
        raise HGNError(f"the {profile!r} profile is for real Human3.6M: use --data h36m, or another profile")
    if data == "embedded":
        from .data.folders import dataset_folder

        dataset_folder(data, profile, generate=True, progress=True)


def cmd_reproduce(args) -> int:
    from .reports import reproduce

    stop_at = _deadline(args.stop_after)  # counted from here: the dataset's generation and the imports count too
    _suite_dataset(args.data, args.profile)
    reproduce(args.data, args.profile, args.out, args.notebooks, jobs=args.jobs, device=args.device,
              executor=args.executor, executor_params=dict(args.executor_params), stop_at=stop_at)
    return 0


def cmd_status(args) -> int:
    import pandas as pd

    from .claims import claims_table, judge
    from .experiments.parallel import status_summary, suite_status
    from .experiments.suite import all_configs, start_groups
    from .fileio import check_output_path

    configs = all_configs(args.data, args.profile)
    plot = check_output_path(args.plot, (".png", ".svg", ".pdf"), "--plot") if args.plot else None
    rows = suite_status(configs, start_groups(args.data, args.profile))
    verdicts = judge(args.data, args.profile)
    if args.json:
        from .fileio import save_json

        save_json(Path(args.json), {"data": args.data, "profile": args.profile, "runs": rows, "claims": verdicts})
    table = pd.DataFrame(rows).drop(columns="cost")
    for column in ("val_mpjpe_last", "val_mpjpe_best", "test_mpjpe"):
        table[column] = pd.to_numeric(table[column])
    table["plateau_step"] = table["plateau_step"].map(lambda step: "-" if pd.isna(step) else str(int(step)))
    width = max(len("run"), *table["run"].str.len())
    header = ["run".ljust(width), *table.columns[1:]]
    print(table.round(1).to_string(index=False, na_rep="-", header=header,
                                  formatters={"run": lambda name: name.ljust(width)}))
    print(f"{args.data} data, profile {args.profile}: {status_summary(rows)}")
    claims = claims_table(args.data, args.profile, others=(), mine=verdicts).reset_index()
    width = max(claims["claim"].str.len())
    print("\nThe paper's claims as far as the finished runs judge them (gap = worse row minus better row; seeds "
          "finished per row):")
    print(claims.to_string(index=False, header=["claim".ljust(width), *claims.columns[1:]],
                           formatters={"claim": lambda text: text.ljust(width)}))
    if plot:
        _plot_status(plot, configs, rows, args.data, args.profile)
        print(f"wrote {plot}")
    return 0


def _plot_status(out: Path, configs: list, rows: list[dict], data: str, profile: str) -> None:
    """The learning curves of a suite's runs so far, with the convergence study's behind them, as a figure file."""
    import matplotlib.pyplot as plt

    from .experiments.convergence import load_study, study_summary
    from .experiments.parallel import status_summary
    from .fileio import atomic_path
    from .plotting import plot_suite_progress

    lengths = {r["total_steps"] for r in rows if r["state"] != "waiting"}
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        plot_suite_progress(ax, study_summary(list(dict.fromkeys(configs)), source="suite"),
                            total_steps=lengths.pop() if len(lengths) == 1 else None,
                            reference=load_study(data, profile))
        ax.set_title(f"{data} data, profile {profile}\n{status_summary(rows)}", fontsize=9)
        fig.tight_layout()
        with atomic_path(out) as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)


def cmd_runs_train(args) -> int:
    from .experiments.parallel import check_patterns, choose_runs, run_many, suite_status
    from .experiments.suite import all_configs, start_groups
    from .experiments.transfer import import_shipped

    stop_at = _deadline(args.stop_after)
    configs = all_configs(args.data, args.profile)
    check_patterns(configs, args.select)
    _suite_dataset(args.data, args.profile)
    imported = import_shipped(args.data, args.profile)
    if imported:
        print(imported)
    first = start_groups(args.data, args.profile)
    chosen = choose_runs(configs, first, args.select, args.waiting, args.limit)
    for row in suite_status(chosen, first):
        print(f"{row['state']:8s} {row['steps']:>7d} / {row['total_steps']} steps  {row['run']}")
    print(f"{len(chosen)} run(s) of {args.data} data, profile {args.profile} chosen"
          + ("" if args.list or not chosen else f"; training them in {args.jobs} worker(s)"))
    if args.list or not chosen:
        return 0
    done = run_many(chosen, jobs=args.jobs, device=args.device, stop_at=stop_at, first=first)
    print(f"{'all' if done else 'not all'} of the chosen runs finished; `hgn runs export --data {args.data} --profile "
          f"{args.profile}` carries them to another cache")
    return 0


def cmd_runs_export(args) -> int:
    from .experiments.suite import unmatched_patterns
    from .experiments.transfer import export_runs, shipped_runs_dir

    dest = Path(args.dir) if args.dir else shipped_runs_dir(args.data, args.profile)
    rows = export_runs(dest, args.data, args.profile, partial=not args.finished_only, select=args.select)
    for row in rows:
        print(f"{row['key']}  {row['state']:8s} {row['steps']:>7d} steps  {row['label']}")
    print(f"{len(rows)} run(s) of {args.data} data, profile {args.profile}, exported to {dest}")
    unmatched = unmatched_patterns((row["label"] for row in rows), args.select)
    if unmatched:
        print(f"no run in this cache matched --select {unmatched}: patterns are shell-style and matched against whole "
              "labels (`hgn status` lists them); add '*' where the label goes on")
        return 1
    return 0


def cmd_runs_import(args) -> int:
    from .experiments.transfer import import_runs, import_summary

    rows = import_runs(Path(args.dir))
    for row in rows:
        print(f"{row['key']}  {str(row['state']):8s} {row['action']}  ({row['label']})")
    print(import_summary(rows))
    return 0 if not any(r["action"].startswith("skipped") for r in rows) else 1


def cmd_converge(args) -> int:
    from .experiments.convergence import study_configs, suite_study_configs, write_summary
    from .experiments.parallel import run_many

    configs = (suite_study_configs(args.profile) if args.suite else
               study_configs(tuple(args.models), tuple(args.seeds), args.epochs, args.profile, args.evals_per_epoch))
    out = Path(args.out or paths.repo_root() / "reports" / "convergence" / f"{configs[0].data}-{args.profile}.json")
    if not args.summary_only:
        run_many(configs, jobs=args.jobs, device=args.device, stop_at=_deadline(args.stop_after))
    summary = write_summary(configs, out, source="suite" if args.suite else "study")
    for run in summary["runs"]:
        last = f"{run['mpjpe'][-1]:.1f} mm at step {run['steps'][-1]}" if run["steps"] else "not started"
        print(f"{run['label']}: {last}; plateau from step {run['plateau_step']}")
    print(f"wrote {out}")
    return 0


def _summary_row(result) -> dict:
    m = result.metrics
    row = {"run": result.config.label, "mpjpe": m["mpjpe"], "pa_mpjpe": m["pa_mpjpe"]}
    row.update({f"mpvpe_{k}": v for k, v in m.get("mpvpe", {}).items()})
    row.update({"train_s": result.seconds, "key": result.key})
    return row


def check_compile_amp(recipe, device: str | None) -> None:
    """Refuse ``torch.compile`` with bfloat16 autocast on a CPU: with torch 2.13 the compiled HGN-128's gradients are
    NaN from the first step (eager bf16 and compiled float32 are finite, and compiled float32 is no faster than eager
    bf16 there), so such a run would train nothing and fail at its first validation."""
    import torch

    from .fitting import default_device

    on_cpu = (torch.device(device) if device else default_device()).type == "cpu"
    if recipe.compile and recipe.amp and on_cpu:
        raise HGNError("torch.compile with bfloat16 autocast gives NaN gradients on a CPU (HGN-128, torch 2.13); "
                       "fix: drop --compile (eager bf16 is the fastest on a CPU with bfloat16 instructions), or --set "
                       "amp=false to compile in float32")


def cmd_train(args) -> int:
    from .experiments import ExperimentConfig, run_experiment, seed_spread
    from .experiments.variants import variant_settings
    from .fitting import default_device
    from .precision import autocast_note, autocast_products

    try:
        preset, preset_overrides = variant_settings(args.variant, args.model, args.profile)
        chosen = {name: getattr(args, name) for name in ("body", "mesh_targets", "hem", "padding", "fusion",
                                                           "train_stride", "test_stride")}
        fields = {**preset, **{k: v for k, v in chosen.items() if v is not None}}
        fields["padded"] = args.padded or fields.get("padded", False)
        overrides = {**preset_overrides, **dict(args.overrides), **({"amp": True} if args.amp else {}),
                     **({"compile": True} if args.compile else {})}
        base = ExperimentConfig(args.model, data=args.data, source_2d=args.source, lambda_m=args.lambda_m,
                                profile=args.profile, flip_train=args.flip_train, flip_test=args.flip_test,
                                overrides=tuple(overrides.items()), **fields)
    except ValueError as exc:
        raise HGNError(str(exc)) from None
    check_compile_amp(base.recipe, args.device)
    device = args.device or default_device()
    note = autocast_note(base.recipe.amp, device)
    if note:
        print(note, file=sys.stderr)
    with autocast_products(base.recipe.amp, device):
        results = [run_experiment(base.with_seed(seed), data_folder=args.data_dir, progress=not args.json,
                                  device=args.device, resume=args.resume, restart=args.restart)
                   for seed in args.seeds]
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.json:
        print(json.dumps([{"key": r.key, "config": r.config.to_dict(), "metrics": r.metrics, "seconds": r.seconds,
                           "path": str(r.path)} for r in results], indent=1))
        return 0
    source = "embedded synthetic data" if args.data == "embedded" else "real Human3.6M"
    meshes = (f", {base.body} meshes, {base.mesh_targets} targets, {base.hem} matching"
              if base.mesh_outputs else "")
    print(f"test metrics in mm, mean over actions ({source}, profile {args.profile}, variant {args.variant}"
          f"{meshes})")
    _print_table([_summary_row(r) for r in results])
    if len(results) > 1:
        for metric in ("mpjpe", "pa_mpjpe"):
            s = seed_spread(results, metric)
            print(f"{metric} over {s['n']} seeds: {s['mean']:.1f} +- {s['std']:.1f} (min {s['min']:.1f}, "
                  f"max {s['max']:.1f})")
    for r in results:
        print(f"{r.config.label}: {r.model_path}")
    return 0


def cmd_eval(args) -> int:
    from .experiments.artifacts import load_model
    from .data.folders import dataset_folder
    from .experiments.evaluate import evaluate_model_file
    from .lift.model import resolve_model

    path = resolve_model(args.model, args.profile, args.data, args.data_dir)
    # A bad model file (entries, architecture, weights) is reported before any data is read or made. The model is
    # built again inside evaluate_model_file (a few hundredths of a second); passing it in would change
    # experiments/evaluate.py, part of the result fingerprint (RESULT_CODE), and so re-key every cached run.
    load_model(path)
    folder = dataset_folder(args.data, args.profile, args.data_dir or None, generate=True)
    stride = args.test_stride or get_profile(args.profile).test_stride
    device = args.device or "cpu"
    if args.batchnorm_batches or args.root_offset:
        result, info, recalibrated = _eval_with_diagnostics(path, folder, args, stride, device)
    else:
        result, info = evaluate_model_file(path, folder, args.source, stride, args.flip, device=device)
        recalibrated = None
    if args.json:
        print(json.dumps({"model": str(path), "data": str(folder), "flip_test": args.flip,
                          "batchnorm_reestimated": recalibrated, "root_offset": None, **result}, indent=1))
        return 0
    print(f"{info['model']['name']} from {path} on {folder} (2D: {args.source}, every {stride}th test frame, "
          f"test-time flip {'on' if args.flip else 'off'})")
    if recalibrated:
        print(f"batch-norm statistics of {recalibrated['layers']} layer(s) re-estimated over "
              f"{recalibrated['batches']} training batches of {recalibrated['batch_size']} (every "
              f"{recalibrated['train_stride']}th training frame, seed {recalibrated['seed']}); not the run's result")
    rows = [{"action": a, "mpjpe": result["per_action"]["mpjpe"][a], "pa_mpjpe": result["per_action"]["pa_mpjpe"][a]}
            for a in result["per_action"]["mpjpe"]]
    rows.append({"action": "mean over actions", "mpjpe": result["mpjpe"], "pa_mpjpe": result["pa_mpjpe"]})
    _print_table(rows)
    if args.root_offset:
        offset = result["root_offset"]
        print(f"without root alignment (a diagnostic; Protocol #1 re-centres both poses on their pelvis): MPJPE "
              f"{offset['mpjpe_unaligned']:.1f} mm; the predicted pelvis lies {offset['pelvis_offset']:.1f} mm from "
              "the origin, where the targets put it (means over actions)")
    return 0


def _eval_with_diagnostics(path: Path, folder: Path, args, stride: int, device: str) -> tuple[dict, dict, dict | None]:
    """`hgn eval` with its diagnostics: the model's metrics (after re-estimating its batch-norm statistics over
    training batches when ``--batchnorm-batches N`` asks, :mod:`hgnlib.experiments.batchnorm`) with a 'root_offset'
    entry (:mod:`hgnlib.experiments.root_offset`; None without ``--root-offset``), the model file's metadata, and
    what was re-estimated (None without ``--batchnorm-batches``)."""
    from .data.dataset import TRAIN_SUBJECTS, load_split
    from .experiments.artifacts import load_model
    from .experiments.batchnorm import reestimate_batchnorm
    from .experiments.evaluate import joint_metrics, predict, require_finite
    from .experiments.root_offset import root_offset

    model, info = load_model(path, device)
    train_stride = get_profile(args.profile).train_stride
    split = load_split(folder, args.source, train_subjects=TRAIN_SUBJECTS if args.batchnorm_batches else (),
                       train_stride=train_stride, test_stride=stride)
    recalibrated = None
    if args.batchnorm_batches:
        try:
            layers = reestimate_batchnorm(model, split.train.inputs.to(device), args.batchnorm_batches,
                                          args.batchnorm_batch_size, args.batchnorm_seed)
        except ValueError as exc:
            raise HGNError(f"{path}: {exc}: there are no statistics to re-estimate; evaluate it without "
                           "--batchnorm-batches") from None
        recalibrated = {"layers": layers, "batches": args.batchnorm_batches, "batch_size": args.batchnorm_batch_size,
                        "seed": args.batchnorm_seed, "train_stride": train_stride}
    outputs = predict(model, split.test.inputs.to(device), args.flip)
    require_finite(outputs["joints"], path, info["model"]["name"])
    result = joint_metrics(outputs["joints"], split.test.targets, split.test.action)
    result["root_offset"] = (root_offset(outputs["joints"], split.test.targets, split.test.action)
                             if args.root_offset else None)
    return result, info, recalibrated


def cmd_lift(args) -> int:
    from .fileio import check_output_path
    from .lift import lift_file, render, write_result

    source = Path(args.input)
    out = check_output_path(Path(args.out) if args.out else source.with_name(f"{source.stem}_3d.json"),
                            (".json", ".npz"))
    if args.render in ("gif", "mp4") and args.render_out:
        check_output_path(args.render_out, (f".{args.render}",), "--render-out")
    result = lift_file(source, args.model, layout=args.layout, width=args.width, height=args.height,
                       profile=args.profile, data=args.data, data_dir=args.data_dir, flip=args.flip,
                       min_score=args.min_score, max_missing=args.max_missing)
    write_result(result, out)
    for note in result.warnings:
        print(f"hgn: warning: {note}", file=sys.stderr)
    print(f"lifted {result.summary()}\n3D joints (metres, camera axes, pelvis-relative) -> {out}")
    if args.render:
        default = source.with_name(f"{source.stem}_3d" + ("" if args.render == "png" else f".{args.render}"))
        target = render(result, Path(args.render_out) if args.render_out else default, args.render, fps=args.fps,
                        progress=not args.quiet)
        print(f"rendering ({args.render}) -> {target}")
    return 0


def cmd_export(args) -> int:
    from .export import export_onnx
    from .fileio import check_output_path
    from .lift.model import resolve_model

    check_output_path(args.out, (".onnx",))
    path = resolve_model(args.model, args.profile, args.data, args.data_dir)
    report = export_onnx(path, args.out, check=args.check, opset=args.opset)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{report['model']} from {path} -> {report['file']} (ONNX opset {report['opset']}, outputs "
          f"{', '.join(report['outputs'])}, dynamic batch; {report['seconds']:.1f} s)")
    if "max_abs_diff" in report:
        print(f"ONNX Runtime vs PyTorch: max abs difference {report['max_abs_diff']:.2e} m")
    return 0


def cmd_bench(args) -> int:
    from .tools.bench import run_bench, summary_lines, table_rows

    result = run_bench(models=args.models, batch_sizes=args.batch_sizes, device=args.device, out=args.out,
                       iters=args.iters, warmup=args.warmup, repeats=args.repeats, ref_iters=args.ref_iters,
                       threads=args.threads, compile=args.compile, amp=args.amp, epoch_steps=args.epoch_steps,
                       padded=args.padded, progress=not args.quiet, latency=not args.no_latency, suite=args.suite,
                       jobs=args.jobs)
    print("\n".join(summary_lines(result)))
    _print_table(table_rows(result))
    if "deployment_latency" in result:
        lat = result["deployment_latency"]
        print(f"{lat['model']} inference latency on CPU, ms per frame ({lat['threads']} threads):")
        _print_table([{"runtime": rt, **{f"batch {b}": f"{v:.3f}" for b, v in per.items()}}
                      for rt, per in lat["ms_per_frame"].items()])
    print(f"written to {result['path']}")
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
    graphs.add_argument("--hem", choices=["graclus", "release"],
                    help="heavy edge matching: this project's graclus reading or the authors' released algorithm "
                         "(default: release on smpl, graclus on anny)")
    graphs.set_defaults(func=cmd_graphs)

    params = sub.add_parser("params", help="parameter counts of every model of Tables 2-4 next to the paper's")
    params.add_argument("--body", choices=["anny", "smpl"], default="anny")
    params.add_argument("--padded", action="store_true", help="count on the padded mesh graphs")
    params.add_argument("--hem", choices=["graclus", "release"],
                    help="heavy edge matching: this project's graclus reading or the authors' released algorithm "
                         "(default: release on smpl, graclus on anny)")
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
    pgt.add_argument("--hem", choices=["graclus", "release"],
                    help="heavy edge matching: this project's graclus reading or the authors' released algorithm "
                         "(default: release on smpl, graclus on anny)")
    pgt.add_argument("--stride", type=int, default=1, help="keep every n-th frame")
    pgt.add_argument("--subjects", nargs="+", help="default: the training subjects")
    pgt.add_argument("--report", action="store_true", help="embedded data only: errors against the true meshes")
    pgt.set_defaults(func=cmd_data_pseudo_gt)
    where = data.add_parser("where", help="where each dataset belongs and what is present")
    where.set_defaults(func=cmd_data_where)

    from .models.registry import CONFIGS

    tr = sub.add_parser("train", help="train and evaluate one configuration (cached; resumable; torchrun for DDP)")
    tr.add_argument("--model", required=True, choices=sorted(CONFIGS), metavar="NAME",
                    help=f"a model configuration: {', '.join(sorted(CONFIGS))}")
    tr.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    tr.add_argument("--data-dir", help="dataset folder (default: the profile's embedded folder, or data/h36m)")
    tr.add_argument("--source", choices=["gt", "detected"], default="gt", help="2D input: ground truth or detected")
    tr.add_argument("--padded", action="store_true", help="the mesh graphs with the authors' fake nodes")
    tr.add_argument("--lambda-m", type=_non_negative_float, default=0.01, help="lambda_M of Eq. (4) (default 0.01)")
    tr.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    tr.add_argument("--seeds", type=int, nargs="+", default=[0], help="train once per seed (default: 0)")
    tr.add_argument("--flip-train", action="store_true", help="horizontal-flip augmentation")
    tr.add_argument("--flip-test", action="store_true", help="test-time flip averaging")
    tr.add_argument("--amp", action="store_true", help="mixed precision (bfloat16 autocast; same as --set amp=true)")
    tr.add_argument("--compile", action="store_true", help="torch.compile the model (same as --set compile=true)")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", type=_override,
                    help="change a setting of the profile's recipe, e.g. --set epochs=10 --set lr=2e-3 (repeatable)")
    tr.add_argument("--variant", choices=["paper", "release"], default="paper",
                    help="release: every behaviour of the authors' released code where it differs from the paper "
                         "(fusion, loss, init, hem, padding; strides and epochs on full/paper); each is also "
                         "settable alone, and a flag given alone wins (table: hgnlib/experiments/variants.py)")
    tr.add_argument("--body", choices=["anny", "smpl"],
                    help="body model of the mesh graphs and targets (default: smpl on --profile paper, else anny)")
    tr.add_argument("--mesh-targets", choices=["fit", "authors_smpl"],
                    help="coarse-mesh targets: the body fitted to the 3D joints, or SMPL on the authors' "
                         "parameters (default: authors_smpl with smpl on --profile paper, else fit)")
    tr.add_argument("--hem", choices=["graclus", "release"], help="heavy edge matching (default: the body's)")
    tr.add_argument("--padding", choices=["inert", "release"],
                    help="what the fake nodes of padded graphs do (default inert; release needs --padded)")
    tr.add_argument("--fusion", choices=["paper", "inplace"], help="fusion order (default paper, Eq. 3)")
    tr.add_argument("--train-stride", type=_bench_count, help="keep every n-th training frame (default: profile's)")
    tr.add_argument("--test-stride", type=_bench_count, help="keep every n-th test frame (default: profile's)")
    tr.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run of this configuration")
    tr.add_argument("--restart", action="store_true", help="discard an earlier run of this configuration")
    tr.add_argument("--json", action="store_true", help="print the results as JSON (no progress bar)")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a trained model file on a dataset's test subjects")
    ev.add_argument("model", help="a model.pt, a run key, or a configuration name of the cache (e.g. hgn-128 with --profile)")
    ev.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    ev.add_argument("--data-dir", help="dataset folder (default: the profile's embedded folder, or data/h36m)")
    ev.add_argument("--source", choices=["gt", "detected"], default="gt")
    ev.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="sets the embedded size and stride")
    ev.add_argument("--test-stride", type=_bench_count, help="keep every n-th test frame (default: the profile's)")
    ev.add_argument("--flip", action="store_true", help="test-time flip averaging")
    ev.add_argument("--device", help="cpu or cuda")
    ev.add_argument("--batchnorm-batches", type=_bench_count, metavar="N",
                    help="first re-estimate the batch-norm statistics over N training batches under the final "
                         "weights (a diagnostic of statistics that lag the weights; not the run's result)")
    ev.add_argument("--batchnorm-batch-size", type=_bench_batch_size, default=64, metavar="B",
                    help="samples per re-estimation batch (default 64, the recipes' batch)")
    ev.add_argument("--batchnorm-seed", type=int, default=0, metavar="S", help="which training batches (default 0)")
    ev.add_argument("--root-offset", action="store_true",
                    help="also report the error without root alignment and how far the predicted pelvis lies from "
                         "the origin (a diagnostic of what Protocol #1's re-centring hides)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=cmd_eval)

    li = sub.add_parser("lift", help="lift your own 2D keypoints (COCO results JSON, .npz or .csv) to 3D")
    li.add_argument("input", help="2D keypoints: a COCO results .json, or an .npz (key 'keypoints') or .csv of "
                                  "(frames, 17, 2|3) pixels (layouts and columns: hgnlib/lift/__init__.py)")
    li.add_argument("--model", required=True, help="a model.pt, a run key, or a configuration name of the cache "
                                                   "(e.g. hgn-128: the run of --profile and --data)")
    li.add_argument("--layout", choices=["auto", "coco17", "h36m17"], default="auto",
                    help="joint layout of the input (default: from the file, else from the points' geometry)")
    li.add_argument("--width", type=_positive_float, help="image width in pixels (needed unless the file has it)")
    li.add_argument("--height", type=_positive_float, help="image height in pixels (needed unless the file has it)")
    li.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="profile of a configuration name")
    li.add_argument("--data", choices=["embedded", "h36m"], default="embedded", help="data of a configuration name")
    li.add_argument("--data-dir", help="dataset folder the configuration was trained on (default: the profile's)")
    li.add_argument("--flip", action="store_true", help="test-time flip averaging")
    li.add_argument("--min-score", type=_non_negative_float, default=0.3,
                    help="keypoints scored below this are missing and filled (default 0.3)")
    li.add_argument("--max-missing", type=_non_negative_int, default=6,
                    help="refuse frames missing more joints than this, of 17 (default 6)")
    li.add_argument("--out", help="FILE.json or FILE.npz (default: <input>_3d.json beside the input)")
    li.add_argument("--render", choices=["png", "gif", "mp4"], help="draw the 2D input beside the 3D skeleton")
    li.add_argument("--render-out", help="a folder for png, a file for gif/mp4 (default: beside the input)")
    li.add_argument("--fps", type=_positive_float, default=10.0, help="frames per second of a gif or mp4")
    li.add_argument("--quiet", action="store_true", help="no progress bar")
    li.set_defaults(func=cmd_lift)

    ex = sub.add_parser("export", help="write the ONNX file of a trained model (dynamic batch, metadata inside)")
    ex.add_argument("model", help="a model.pt, a run key, or a configuration name of the cache")
    ex.add_argument("--out", required=True, help="FILE.onnx")
    ex.add_argument("--check", action="store_true", help="compare ONNX Runtime with PyTorch (max abs difference)")
    ex.add_argument("--profile", choices=sorted(PROFILES), default="quick", help="profile of a configuration name")
    ex.add_argument("--data", choices=["embedded", "h36m"], default="embedded", help="data of a configuration name")
    ex.add_argument("--data-dir", help="dataset folder the configuration was trained on (default: the profile's)")
    ex.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    ex.add_argument("--json", action="store_true", help="print the report as JSON")
    ex.set_defaults(func=cmd_export)

    from .tools.bench import DEFAULT_BATCH_SIZES, DEFAULT_MODELS

    be = sub.add_parser("bench", help="training/inference speed of the models, fast layers vs their references (JSON)")
    be.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), metavar="NAME",
                    help=f"model configurations (default: {' '.join(DEFAULT_MODELS)})")
    be.add_argument("--batch-sizes", nargs="+", type=_bench_batch_size, default=list(DEFAULT_BATCH_SIZES),
                    metavar="B", help="batch sizes, each at least 2 (default: 64 256)")
    be.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available")
    be.add_argument("--out", help="JSON file (default: reports/bench/bench-<cpu|cuda>.json)")
    be.add_argument("--iters", type=_bench_count, default=10, help="timed steps per repeat (default 10)")
    be.add_argument("--no-latency", action="store_true",
                    help="skip the PyTorch / ONNX Runtime per-frame latency of the first model")
    be.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    be.add_argument("--repeats", type=_bench_count, default=3, help="repeats; the median is kept (default 3)")
    be.add_argument("--ref-iters", type=_bench_count, default=2,
                    help="timed steps per repeat of the slow reference transcriptions (default 2)")
    be.add_argument("--threads", type=_bench_count, help="torch threads (default: torch's)")
    be.add_argument("--compile", action="store_true", help="CUDA epoch timing: also with torch.compile")
    be.add_argument("--amp", action="store_true", help="CUDA epoch timing: also with bfloat16 autocast")
    be.add_argument("--epoch-steps", type=_bench_count,
                    help="CUDA epoch timing: time this many steps and scale to the epoch (default: the whole epoch)")
    be.add_argument("--padded", action="store_true", help="the mesh graphs with the authors' fake nodes")
    be.add_argument("--suite", choices=sorted(PROFILES),
                    help="also project the training time of this profile's whole suite on the device")
    be.add_argument("--jobs", type=_positive_int, default=1, help="--suite: workers sharing the device, whose speed-up together is measured (default 1)")
    be.add_argument("--quiet", action="store_true", help="no progress bar")
    be.set_defaults(func=cmd_bench)

    co = sub.add_parser("converge", help="the convergence study: long runs, validated often, and their plateaus (JSON)")
    co.add_argument("--models", nargs="+", default=["hgn-128", "semgcn-128"], choices=sorted(CONFIGS), metavar="MODEL")
    co.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    co.add_argument("--epochs", type=_positive_int, default=60, help="epochs of each long run (default: 60)")
    co.add_argument("--evals-per-epoch", type=_positive_int, default=8)
    co.add_argument("--profile", choices=sorted(PROFILES), default="standard", help="data and recipe (default: standard)")
    co.add_argument("--jobs", type=_positive_int, default=1, help="runs in parallel worker processes")
    co.add_argument("--stop-after", type=_positive_float, metavar="MINUTES",
                    help="time limit: MINUTES after the command started, stop each worker after its run's next checkpoint (the summary "
                         "then reads the runs as far as they trained; the same command resumes)")
    co.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    co.add_argument("--out", help="the JSON file (default: reports/convergence/<data>-<profile>.json)")
    co.add_argument("--summary-only", action="store_true",
                    help="train nothing: summarise the runs so far (finished or still training)")
    co.add_argument("--suite", action="store_true",
                    help="the profile's own runs of HGN-128 and SemGCN-128 at its seeds (as hgn reproduce trains them, "
                         "shared with it) instead of longer study runs; --models, --seeds, --epochs and "
                         "--evals-per-epoch are then not used")
    co.set_defaults(func=cmd_converge)

    st = sub.add_parser("status", help="where each run of a profile's suite stands (finished, started, waiting; "
                                       "steps; validation MPJPE; the step from which it has plateaued, < 2 %% over "
                                       "the last quarter), in the order hgn reproduce starts them")
    st.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    st.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    st.add_argument("--json", help="also write the rows to this JSON file")
    st.add_argument("--plot", help="also draw the runs' validation curves so far, with the convergence study's "
                                   "behind them, to this .png, .svg or .pdf file")
    st.set_defaults(func=cmd_status)

    runs = sub.add_parser("runs", help="carry trained runs between result caches (machines, sessions)")
    runs_sub = runs.add_subparsers(dest="action", required=True)
    rex = runs_sub.add_parser("export", help="copy a profile's runs (finished; started ones resumable) to a folder")
    rex.add_argument("dir", nargs="?", help="the folder (default: reports/<data>-<profile>/runs, the runs the "
                                            "project ships with its reports)")
    rex.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    rex.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    rex.add_argument("--finished-only", action="store_true", help="leave out the started runs' checkpoints")
    rex.add_argument("--select", action="append", default=[], metavar="PATTERN",
                     help="only the runs whose labels match this shell-style pattern (repeatable)")
    rex.set_defaults(func=cmd_runs_export)
    rtr = runs_sub.add_parser("train", help="train chosen runs of a profile's suite (e.g. those no machine has "
                                            "started), in parallel, within a time limit")
    rtr.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    rtr.add_argument("--profile", choices=sorted(PROFILES), default="standard")
    rtr.add_argument("--select", action="append", default=[], metavar="PATTERN",
                     help="the runs whose labels match this shell-style pattern, e.g. 'hgn-wo-mesh-c-128 *' "
                          "(repeatable; default: every run of the suite; `hgn status` lists the labels)")
    rtr.add_argument("--waiting", action="store_true",
                     help="only runs that nothing in this cache has trained (machines sharing a suite, each after "
                          "importing the others' exports, then train different runs)")
    rtr.add_argument("--limit", type=_non_negative_int, metavar="N", help="at most N runs, in the suite's start order")
    rtr.add_argument("--list", action="store_true", help="print the chosen runs and train nothing")
    rtr.add_argument("--jobs", type=_positive_int, default=os.cpu_count() or 1,
                     help="worker processes (default: one per core; on one GPU, N workers share it)")
    rtr.add_argument("--device", help="cpu or cuda: the workers' device")
    rtr.add_argument("--stop-after", type=_positive_float, metavar="MINUTES",
                     help="time limit: MINUTES after the command started, start no run and stop each worker after "
                          "its run's next checkpoint; the same command resumes (kill -USR1 PID does the same at "
                          "any time)")
    rtr.set_defaults(func=cmd_runs_train)
    rim = runs_sub.add_parser("import", help="check the runs of an exported folder and copy them into this cache")
    rim.add_argument("dir", help="a folder written by hgn runs export")
    rim.set_defaults(func=cmd_runs_import)

    rep = sub.add_parser("reproduce", help="execute the notebooks and render reports")
    rep.add_argument("--data", choices=["embedded", "h36m"], default="embedded")
    rep.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    rep.add_argument("--out", help="output folder (default: reports/<data>-<profile>)")
    rep.add_argument("--notebooks", default="*.ipynb", help="glob of the notebooks to run (default: all); into a folder that holds the "
                          "others' pages, those are kept and the summary page lists the later render")
    rep.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                     help="train the notebooks' runs first in N parallel worker processes (default: one per core; "
                          "0: let the notebooks train them one by one)")
    rep.add_argument("--device", help="cpu or cuda: the workers' device (on one GPU, N workers share it)")
    rep.add_argument("--executor", choices=["processes", "slurm", "submitit-local"], default="processes",
                     help="worker processes here (default), one Slurm job per run, or submitit's local processes")
    rep.add_argument("--executor-param", dest="executor_params", action="append", type=_override, default=[],
                     metavar="KEY=VALUE", help="submitit parameters, e.g. timeout_min=120 gpus_per_node=1 "
                                               "slurm_partition=gpu (repeatable)")
    rep.add_argument("--stop-after", type=_positive_float, metavar="MINUTES",
                     help="time limit: MINUTES after the command started, start no run, stop each worker after its run's next checkpoint "
                          "(at most an epoch later) and execute no notebook unless every run is trained; the same "
                          "command resumes (kill -USR1 PID does the same at any time)")
    rep.set_defaults(func=cmd_reproduce)
    return parser


def _override(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON when it parses (numbers, null, true), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _bounded(cast: type, low: float, strict: bool = False, why: str = ""):
    """An argparse type: ``cast(text)``, refused below ``low`` (or at it, when ``strict``)."""
    def check(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a{'n integer' if cast is int else ' number'}, got {text!r}")
        if value < low or (strict and value == low):
            bound = f"> {low:g}" if strict else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"must be {bound}{why}, got {text}")
        return value
    return check


_positive_float = _bounded(float, 0, strict=True)
_non_negative_float = _bounded(float, 0)
_non_negative_int = _bounded(int, 0)
_bench_count = _bounded(int, 1)
_positive_int = _bounded(int, 1)
_bench_batch_size = _bounded(int, 2, why=" (a batch size: batch norm needs two samples)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HGNError as exc:
        print(f"hgn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
