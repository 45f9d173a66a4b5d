"""`had eval`: run a tracker over a dataset (or score existing result files) and write the results.

Writes into OUT:
  <sequence>.txt               one ``x,y,w,h`` line per frame (nan,nan,nan,nan = no prediction)
  <sequence>_pred_absent.txt   only if some frame counts as "tracker reports absent" (1 per such frame)
  results.json                 model, whether trained, overall / per-sequence / per-attribute scores
                               with their curves, fps and latency percentiles
  plots/success.png, plots/precision.png, plots/norm_precision.png (+ *_attributes.png)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
from pathlib import Path
from typing import Any

from had_ros.errors import DatasetError, ModelConfigError

PROTOCOL = (
    "One-pass evaluation as pytracking scores it (docs/evaluation.md): init with ground truth on the "
    "first frame where the target is present; that frame is forced to ground truth and counts. "
    "Success: IoU > t for t in 0:0.05:1, AUC = mean of the 21 points (a perfect tracker scores 95.24, "
    "as in OTB/got10k/pytracking). Precision: center error <= 20 px. Normalised precision: "
    "||(pc - gc) / (gw, gh)|| <= 0.2. Frames with the target absent (those before the init frame "
    "too) stay in the denominator as misses{absent}. A sequence whose target is never present is "
    "listed apart and averaged nowhere. Sequences weigh equally."
)


def protocol_text(exclude_absent: bool, lost_as_absent: bool) -> str:
    absent = " (--exclude-absent: here they are left out of the denominator)" if exclude_absent else ""
    if lost_as_absent:
        absent += "; --lost-as-absent: an absent frame the tracker reports lost is a hit (an extension)"
    return PROTOCOL.format(absent=absent)


def add_eval_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Run a tracker over a dataset and score it (OTB-style SR/PR/NPR in percent)."
    parser.add_argument("--dataset", required=True, type=Path,
                        help="dataset root (a folder of sequences in any supported layout)")
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--model", help="registry name (untrained: random weights), checkpoint folder or "
                          ".safetensors, or an exported .onnx (with --backend onnx); default: the "
                          "shipped weights in had_ros/weights/ (had_ros.tracking.factory.default_model)")
    src.add_argument("--predictions", type=Path,
                     help="score existing result files DIR/<sequence>.txt instead of running a tracker")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    from had_ros.data.cli import add_layout_options

    add_layout_options(parser)
    parser.add_argument("--exclude-absent", action="store_true",
                        help="leave frames with the target absent out of the denominator "
                             "(pytracking's exclude_invalid_frames; default: they count as misses)")
    parser.add_argument("--attributes", action="store_true", help="also score per sequence attribute")
    parser.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                        help="inference backend (default torch)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu, cuda:0 (torch backend)")
    parser.add_argument("--providers",
                        help="ONNX Runtime execution providers in order of preference, comma-separated "
                             "(onnx backend; default: CUDA if available, then CPU)")
    parser.add_argument("--threads", type=int, help="CPU threads for inference (default: the library's)")
    parser.add_argument("--sequences", help="comma-separated sequence names to evaluate (default all)")
    parser.add_argument("--max-frames", type=int, help="score only the first N frames of each sequence")
    parser.add_argument("--lost-as-absent", action="store_true",
                        help="count the tracker's lost state as reporting the target absent")
    parser.add_argument("--label", help="name shown in plots and the summary (default: model name)")
    parser.add_argument("--tracker", action="append", default=[], metavar="KEY=VALUE",
                        help="set a TrackerConfig field (had_ros.tracking.TrackerConfig: window_influence, "
                             "lost_threshold, recover_threshold, smoothing, ...), e.g. --tracker "
                             "lost_threshold=0.1 (repeatable; default: the TrackerConfig defaults, as the node)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_eval)


def select_sequences(sequences: list[Any], names: str | None, root: Path) -> list[Any]:
    """Keep the sequences named in the comma-separated ``names`` (in that order)."""
    if not names:
        return sequences
    by_name = {s.name: s for s in sequences}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise DatasetError(f"--sequences: {missing} not in dataset {root}; it has {sorted(by_name)}")
    return [by_name[n] for n in wanted]


def model_info(spec: str) -> dict[str, Any]:
    """What --model names: a checkpoint on disk (trained weights), an exported .onnx file (weights
    from the file, training not recorded) or a registry name (random init, untrained)."""
    from had_ros.models import is_checkpoint, list_models, read_checkpoint_config

    path = Path(spec)
    if path.suffix == ".onnx" and path.is_file():
        from had_ros.tracking.onnx_files import read_onnx_trained

        trained = read_onnx_trained(path)
        note = {None: "exported ONNX file: weights come from the file; whether they were trained "
                      "is not recorded in it",
                True: "exported ONNX file, recorded by `had export` as from a trained checkpoint",
                False: "UNTRAINED: exported ONNX file recorded by `had export` as a registry model's "
                       "random init; the scores measure an untrained network, not the method"}[trained]
        return {"model": path.stem, "checkpoint": str(path.resolve()), "trained": trained, "note": note}
    if path.exists() or is_checkpoint(path):
        from had_ros.models.checkpoint import training_record

        config = read_checkpoint_config(spec)
        record = training_record(config)
        trained = record.get("trained") if record and isinstance(record.get("trained"), bool) else None
        note = {True: "weights loaded from the checkpoint; trained as its record says",
                False: "UNTRAINED: the checkpoint's training record says its weights were not trained",
                None: "weights loaded from the checkpoint; it records no training, so whether they "
                      "were trained is unknown"}[trained]
        info = {"model": config.name, "checkpoint": str(path.resolve()), "trained": trained, "note": note}
        if record:
            info["training"] = {k: record.get(k) for k in ("mode", "steps", "pairs_seen", "date", "data")}
        return info
    if spec in list_models():
        return {"model": spec, "checkpoint": None, "trained": False,
                "note": "UNTRAINED: registry model with randomly initialised (seeded) weights; the "
                        "scores measure an untrained network, not the method"}
    raise ModelConfigError(f"--model {spec!r} is neither a checkpoint on disk, an .onnx file, "
                           f"nor a registered model {list_models()}")


def parse_tracker_options(items: list[str]) -> dict[str, float]:
    """``--tracker KEY=VALUE`` items -> TrackerConfig overrides (names and ranges are checked by
    TrackerConfig itself when the tracker is built)."""
    options: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            options[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise ModelConfigError(f"--tracker {item!r}: expected KEY=NUMBER, e.g. lost_threshold=0.1")
    from had_ros.tracking import TrackerConfig

    TrackerConfig().replace(**options)  # unknown names and out-of-range values are refused here, named
    return options


def run_eval(args: argparse.Namespace) -> int:
    from had_ros.data.cli import open_dataset_args
    from had_ros.eval import plots, runner

    tracker_options = parse_tracker_options(args.tracker)
    if tracker_options and args.predictions is not None:
        raise DatasetError("--tracker sets the tracker's options; it cannot apply to --predictions")
    if args.max_frames is not None and args.max_frames < 1:
        raise DatasetError(f"--max-frames must be at least 1, got {args.max_frames}")
    sequences = select_sequences(open_dataset_args(args, args.dataset), args.sequences, args.dataset)
    if not sequences:
        raise DatasetError(f"no sequences found in {args.dataset}")
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)

    if args.predictions is not None:
        info = {"model": args.label or args.predictions.name, "checkpoint": None, "trained": None,
                "note": f"scored existing predictions from {args.predictions.resolve()}"}
        result = runner.score_prediction_files(args.predictions, sequences, args.max_frames,
                                               args.attributes, args.exclude_absent)
        speed: dict[str, Any] = {"frames_timed": 0, "fps": None, "latency_ms": None}
        tracker = None
    else:
        from had_ros.tracking import build_tracker
        from had_ros.tracking.factory import default_model

        if args.model is None:
            args.model = default_model()
            print(f"had eval: no --model given: using the default model {args.model}", file=sys.stderr)
        providers = [p.strip() for p in args.providers.split(",")] if args.providers else None
        tracker = build_tracker(args.model, backend=args.backend, device=args.device,
                                providers=providers, threads=args.threads, **tracker_options)
        info = model_info(args.model)
        result = runner.evaluate_dataset(tracker, sequences, args.max_frames, args.lost_as_absent,
                                         args.attributes, show_progress=not args.no_progress,
                                         exclude_absent=args.exclude_absent)
        speed = result["speed"]
        for name, run in result["runs"].items():
            runner.write_predictions(out_dir / f"{name}.txt", run.boxes)
            flag_file = out_dir / f"{name}_pred_absent.txt"
            if run.pred_absent.any():
                runner.write_flags(flag_file, run.pred_absent)
            elif flag_file.exists():  # a stale one from an earlier run would be read by --predictions
                flag_file.unlink()
    # an untrained network says so wherever its curves are shown
    label = args.label or (info["model"] + (" (untrained)" if info["trained"] is False else ""))

    report = {
        **info,
        "label": label,
        "backend": None if args.predictions is not None else args.backend,
        "device": None if args.predictions is not None else _device_of(args, tracker),
        "dataset": str(args.dataset.resolve()),
        "max_frames": args.max_frames,
        "lost_as_absent": bool(args.lost_as_absent),
        "exclude_absent": bool(args.exclude_absent),
        "layout": args.layout,
        "fps": args.fps,
        "protocol": protocol_text(args.exclude_absent, args.lost_as_absent),
        "tracker": None if tracker is None else dataclasses.asdict(tracker.config),
        # the command line that made these numbers (None when called as a library, e.g. in tests)
        "command": " ".join(["had", *map(shlex.quote, sys.argv[1:])]) if sys.argv[1:2] == ["eval"] else None,
        "overall": result["overall"],
        "sequences": result["sequences"],
        "speed": speed,
        "dataset_warnings": {s.name: list(s.warnings) for s in sequences if getattr(s, "warnings", None)},
    }
    if args.attributes:
        report["attributes"] = result.get("attributes", {})
    (out_dir / "results.json").write_text(json.dumps(_json_safe(report), indent=1) + "\n")
    plots.write_plots(out_dir / "plots", label, result["overall"],
                      result.get("attributes") if args.attributes else None)
    print(format_summary(report), file=sys.stdout)
    return 0


def _device_of(args: argparse.Namespace, tracker: Any) -> str:
    """Where inference ran: the torch device, or the ONNX Runtime providers the session uses."""
    if args.backend == "onnx":
        return ",".join(getattr(tracker.backend, "providers", None) or ["?"])
    return args.device


def _json_safe(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def format_summary(report: dict[str, Any]) -> str:
    """A compact table: one row per sequence, then attributes and the overall line."""
    rows: list[tuple[str, ...]] = []
    for name, r in report["sequences"].items():
        rows.append((name, str(r["num_frames"]), _fmt(r["success_auc"]), _fmt(r["precision_20"]),
                     _fmt(r["norm_precision_20"]), _fmt(r.get("fps"))))
    attr_rows = [(f"[{a}]", str(r["num_frames"]), _fmt(r["success_auc"]), _fmt(r["precision_20"]),
                  _fmt(r["norm_precision_20"]), "")
                 for a, r in (report.get("attributes") or {}).items()]
    o = report["overall"]
    overall = ("OVERALL", str(o["num_frames"]), _fmt(o["success_auc"]), _fmt(o["precision_20"]),
               _fmt(o["norm_precision_20"]), _fmt(report["speed"].get("fps")))
    not_scored = o.get("sequences_not_scored") or []
    header = ("sequence", "frames", "SR(AUC)", "PR@20", "NPR@0.2", "fps")
    table = [header, *rows, *attr_rows, overall]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])  # noqa: E731
                               for i, c in enumerate(r))
    rule = "-" * len(line(header))
    out = [f"model: {report['model']} ({_trained_word(report)})", rule, line(header), rule]
    out += [line(r) for r in rows]
    if attr_rows:
        out += [rule] + [line(r) for r in attr_rows]
    out += [rule, line(overall)]
    if not_scored:
        out.append(f"not scored (target never present, averaged nowhere): {', '.join(not_scored)}")
    if report.get("exclude_absent"):
        out.append("frames with the target absent are left out of the scores (--exclude-absent)")
    lat = report["speed"].get("latency_ms")
    if lat:
        out.append(f"latency ms: p50 {lat['p50']:.1f}  p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  "
                   f"({report['speed']['frames_timed']} frames, backend {report['backend']}, "
                   f"device {report['device']})")
    if report["trained"] is False:
        out.append("NOTE: " + report["note"])
    return "\n".join(out)


def _trained_word(report: dict[str, Any]) -> str:
    if report["trained"] is None:
        return "external predictions" if report.get("backend") is None else "exported ONNX, training unknown"
    return "trained checkpoint" if report["trained"] else "UNTRAINED, random weights"


__all__ = ["add_eval_parser", "format_summary", "model_info", "run_eval", "select_sequences"]
