"""`had bench events|models`: dispatch to the benchmark modules."""
from __future__ import annotations

import argparse
import importlib

BENCHES = {
    "events": ("had_ros.bench.events", "EVT3 decoding vs the evt3/expelliarmus packages; voxel grids"),
    "models": ("had_ros.bench.models", "edge student vs base teacher, torch and ONNX Runtime, batch 1"),
    "node": ("had_ros.bench.node", "the tracker node under a live stream over DDS vs its core without DDS"),
}


def add_bench_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    for name, (module_name, help_text) in BENCHES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Each bench module defines add_arguments(parser) and run(args).
        module = importlib.import_module(module_name)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
