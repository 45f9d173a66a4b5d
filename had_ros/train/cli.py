"""`had train`, `had distill` and `had pairs` command lines."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="YAML training config")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=2e-4 --set out=runs/x "
                             "(repeatable; values are YAML)")


def _run_options(parser: argparse.ArgumentParser) -> None:
    """Options of the commands that run a training loop (train, distill)."""
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in OUT")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def add_train_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Train a tracker (teacher or any model) with the tracking losses (focal + L1 "
                          "+ GIoU). Writes OUT/{config.yaml, checkpoints/, tb/, scalars.jsonl, "
                          "student.safetensors}. Under `torchrun --nproc_per_node N` it runs DDP.")
    _common(parser)
    _run_options(parser)
    parser.set_defaults(func=lambda a: _run(a, "train"))


def add_distill_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Distill a student from the frozen teacher checkpoint named in the config "
                          "(distill.teacher): tracking losses plus the HAD terms (feature, relation, "
                          "response, temporal, spatial; weight 0 switches one off).")
    _common(parser)
    _run_options(parser)
    parser.set_defaults(func=lambda a: _run(a, "distill"))


def add_pairs_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Render training pairs 0..N-1 of a config's datasets into safetensors shards "
                          "(a cache for data.shards; regenerate any time, never commit). Also measures "
                          "pairs/s of loading.")
    _common(parser)
    parser.add_argument("--out", required=True, type=Path, help="cache folder")
    parser.add_argument("--pairs", type=int, required=True, help="number of pairs to render")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader processes")
    parser.set_defaults(func=run_pairs)


def _run(args: argparse.Namespace, mode: str) -> int:
    from had_ros.train.config import load_config
    from had_ros.train.trainer import run

    cfg = load_config(args.config, args.overrides)
    summary = run(cfg, mode=mode, resume=args.resume, progress=not args.no_progress)
    if "student" in summary:
        last = summary["history"][-1] if summary["history"] else {}
        print(f"had {mode}: {summary['steps']} steps in {summary['out']}; final loss "
              f"{last.get('loss', float('nan')):.4f}; model {summary['student']} "
              f"(scalars: {summary['log']})")
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    from had_ros.errors import HadError
    from had_ros.train.config import load_config
    from had_ros.train.data import geometry_of, open_pairs, write_shards
    from had_ros.train.trainer import build_student

    cfg = load_config(args.config, args.overrides)
    if args.pairs < 1:
        raise HadError(f"--pairs must be >= 1, got {args.pairs}")
    if not cfg["data"]["datasets"]:
        raise HadError("had pairs: the config names no data.datasets to render pairs from")
    model = build_student(cfg).config
    augment = dict(cfg["data"]["augment"])
    pairs = open_pairs(cfg["data"]["datasets"], model, augment, cfg["seed"], cfg["data"]["max_cached_sequences"])
    t0 = time.perf_counter()
    info = {"geometry": geometry_of(model), "sub_windows": int(augment.get("sub_windows", 0)),
            "source": {"datasets": cfg["data"]["datasets"], "augment": augment, "seed": cfg["seed"]}}
    write_shards(pairs, args.pairs, args.out, info, workers=args.workers)
    wall = time.perf_counter() - t0
    index_path = args.out / "index.json"
    index = json.loads(index_path.read_text())
    index["render_s"] = round(wall, 1)
    index["render_pairs_per_s"] = round(args.pairs / wall, 2)
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    print(f"had pairs: {args.pairs} pairs in {index['shards']} shards at {args.out} "
          f"({wall:.0f} s, {args.pairs / wall:.1f} pairs/s of loading)")
    return 0
