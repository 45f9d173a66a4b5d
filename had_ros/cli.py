"""The `had` command line. Each command lives in the module that does the work; only the chosen
command's module is imported, so `had --help` and light commands start fast (no torch import)."""
from __future__ import annotations

import argparse
import importlib
import sys

from had_ros import __version__
from had_ros.errors import HadError

# command -> (module, help). The module defines add_<command>_parser(parser) which adds the
# command's arguments and sets `func` (called with the parsed args, returns an exit code or None).
COMMANDS: dict[str, tuple[str, str]] = {
    "events": ("had_ros.events.cli", "inspect event files (info)"),
    "simulate": ("had_ros.data.cli", "generate synthetic RGB + event sequences"),
    "dataset": ("had_ros.data.cli", "inspect datasets on disk (info)"),
    "eval": ("had_ros.eval.cli", "run a tracker over a dataset and score it"),
    "export": ("had_ros.tracking.cli", "export a student model to ONNX and check it"),
    "profile": ("had_ros.tracking.cli", "parameters, FLOPs and latency of a model per backend"),
    "bench": ("had_ros.bench.cli", "speed benchmarks (events, models) with ratios to baselines"),
    "demo": ("had_ros.demo", "the built-in end-to-end demo (no dataset needed)"),
    "train": ("had_ros.train.cli", "train a tracker with the tracking losses (YAML config)"),
    "distill": ("had_ros.train.cli", "distill a student from a frozen teacher (HAD terms)"),
    "pairs": ("had_ros.train.cli", "render training pairs into cached shards"),
    "replay": ("had_ros.ros.replay", "replay a rosbag2 through the tracker node and score it"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="had",
        description="had_ros: RGB + event-camera tracking (HAD). Run `had COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"had_ros {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def build_parser(command: str) -> argparse.ArgumentParser:
    """The full parser for one command (imports only that command's module)."""
    module_name, help_text = COMMANDS[command]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"had {command}", description=help_text)
    getattr(module, f"add_{command}_parser")(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if not argv:
            parser.print_help()
            return 2
        parser.parse_args(argv)  # prints the usage error or --help/--version and exits
        return 2
    parser = build_parser(argv[0])
    args = parser.parse_args(argv[1:])
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except HadError as exc:
        print(f"had {argv[0]}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
