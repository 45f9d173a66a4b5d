"""`had bench models`: the edge student against the base teacher, batch 1, measured in one run.

Rows: each model on torch (CPU, fp32) and ONNX Runtime (CPUExecutionProvider), with the same thread
count; the ratio column is teacher median / student median on the same backend (the baseline is the
teacher). With CUDA available, adds torch fp16 on the GPU with and without CUDA graphs. Weights are
random (seeded): latency does not depend on their values.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

STUDENT = "had_student_event_edge"
TEACHER = "had_teacher_base"
TARGET_SPEEDUP = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--student", default=STUDENT, help="registry name or checkpoint (default %(default)s)")
    parser.add_argument("--teacher", default=TEACHER, help="registry name or checkpoint (default %(default)s)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default %(default)s)")
    parser.add_argument("--iters", type=int, default=50, help="timed iterations, student (default %(default)s)")
    parser.add_argument("--teacher-iters", type=int, default=10,
                        help="timed iterations, teacher (slow on a CPU; default %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up iterations (default %(default)s)")
    parser.add_argument("--backends", default="torch,onnx", help="comma list (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, default=None,
                        help="write a markdown report here, e.g. bench/results/models.md")


def _gpu_rows(specs: dict[str, str], iters: dict[str, int], warmup: int) -> tuple[list[dict], str]:
    """fp16 batch-1 rows on CUDA with and without CUDA graphs, or the reason there are none."""
    import torch

    if not torch.cuda.is_available():
        return [], "no CUDA device here (torch.cuda.is_available() is False): GPU rows (fp16, CUDA graphs) skipped"
    from had_ros.tracking.backends import TorchBackend
    from had_ros.tracking.factory import resolve_model

    rows = []
    gpu_iters = {role: max(n, 100) for role, n in iters.items()}  # GPU calls are fast: more samples
    for graphs in (False, True):
        bes = {role: TorchBackend(resolve_model(spec).eval(), device="cuda", precision="fp16",
                                  cuda_graphs=graphs) for role, spec in specs.items()}
        lats = _interleaved(bes, gpu_iters, max(warmup, 10), desc=f"bench cuda graphs={graphs}")
        for role, lat in lats.items():
            rows.append({"role": role, "model": bes[role].config.name, "backend": bes[role].name,
                         **lat.as_dict()})
    return rows, f"GPU: {torch.cuda.get_device_name(0)}"


def _loadavg() -> list[float] | None:
    """1/5/15-minute load averages (None where the OS has none): other work on the machine slows
    every row, and torch's spinning OpenMP threads far more than ONNX Runtime's pool."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _interleaved(backends: dict[str, object], iters: dict[str, int], warmup: int, desc: str) -> dict:
    """Latency of each role's backend, measured in alternation (one teacher call, then a share of
    the student calls, round after round) so that both see the same machine load: on a shared
    machine a burst of other work then slows both, not only whichever ran during it."""
    import math

    import numpy as np
    from tqdm import tqdm

    from had_ros.tracking.export import example_inputs
    from had_ros.tracking.profile import Latency, measure_latency

    inputs = {role: example_inputs(be.config) for role, be in backends.items()}
    for role, be in backends.items():
        for _ in range(warmup):
            be.run(inputs[role])
    rounds = max(1, min(iters.values()))
    per_round = {role: math.ceil(n / rounds) for role, n in iters.items()}
    times: dict[str, list[float]] = {role: [] for role in backends}
    with tqdm(total=sum(per_round[r] * rounds for r in backends), desc=desc, leave=False,
              file=sys.stderr) as bar:
        for _ in range(rounds):
            for role, be in backends.items():
                lat = measure_latency(lambda: be.run(inputs[role]), per_round[role], 0, bar)
                times[role] += list(lat.samples_ms)
    out = {}
    for role, values in times.items():
        t = np.asarray(values)
        out[role] = Latency(float(np.median(t)), float(np.percentile(t, 99)), float(t.mean()), len(t))
    return out


def measure(args: argparse.Namespace) -> dict:
    import torch

    from had_ros.errors import HadError
    from had_ros.tracking.backends import OnnxBackend, TorchBackend
    from had_ros.tracking.export import export_onnx
    from had_ros.tracking.factory import resolve_model
    from had_ros.tracking.profile import analytic_flops, count_parameters

    import onnxruntime

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - {"torch", "onnx"})
    if unknown:
        raise HadError(f"--backends: unknown {unknown}; expected torch and/or onnx")
    torch.set_num_threads(args.threads)
    specs = {"student": args.student, "teacher": args.teacher}
    iters = {"student": args.iters, "teacher": args.teacher_iters}
    load_before = _loadavg()
    modules = {role: resolve_model(spec).eval() for role, spec in specs.items()}
    models = {role: {"name": m.config.name, "parameters": count_parameters(m),
                     "gflops": analytic_flops(m.config) / 1e9, "config": m.config.to_dict()}
              for role, m in modules.items()}
    rows = []
    for name in backends:
        if name == "torch":
            bes = {role: TorchBackend(m, threads=args.threads) for role, m in modules.items()}
        else:
            bes = {role: OnnxBackend(export_onnx(m), m.config, providers=["CPUExecutionProvider"],
                                     intra_op_threads=args.threads) for role, m in modules.items()}
        lats = _interleaved(bes, iters, args.warmup, desc=f"bench {name}")
        for role, lat in lats.items():
            rows.append({"role": role, "model": bes[role].config.name, "backend": bes[role].name,
                         **lat.as_dict()})
        del bes
    gpu_rows, gpu_note = _gpu_rows(specs, iters, args.warmup)
    rows += gpu_rows
    speedups = {}
    for backend in {r["backend"] for r in rows}:
        by_role = {r["role"]: r for r in rows if r["backend"] == backend}
        if "student" in by_role and "teacher" in by_role:
            speedups[backend] = by_role["teacher"]["median_ms"] / by_role["student"]["median_ms"]
    return {
        "command": command_line(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "threads": args.threads, "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(),
                    "loadavg_before": load_before, "loadavg_after": _loadavg()},
        "models": models, "rows": rows, "speedup": speedups, "target_speedup": TARGET_SPEEDUP,
        "gpu": gpu_note,
    }


def command_line(argv: list[str] | None = None) -> str:
    """How this benchmark was started, for the report (`had bench models ...` or `python -m ...`)."""
    argv = list(sys.argv if argv is None else argv)
    rest = " ".join(shlex.quote(a) for a in argv[1:])
    if argv[1:3] == ["bench", "models"]:
        return "had " + rest
    if argv and argv[0].endswith(("bench/models.py", "bench\\models.py")):
        return ("python -m had_ros.bench.models " + rest).strip()
    return " ".join(shlex.quote(a) for a in argv)


def format_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Model speed: edge student vs base teacher (batch 1)",
        "",
        f"Command: `{r['command']}`  ",
        f"Date: {r['date']}  ",
        f"Machine: {m['platform']}, {m['processor']}, {m['threads']} CPU threads; "
        f"torch {m['torch']}, onnxruntime {m['onnxruntime']}  ",
        f"Load average (1/5/15 min) before: {m.get('loadavg_before')}, after: {m.get('loadavg_after')} "
        f"on {m.get('cpus')} CPUs (other work on the machine slows every row)",
        "",
        "| role | model | params (M) | GFLOPs |",
        "| --- | --- | ---: | ---: |",
    ]
    for role, info in r["models"].items():
        lines.append(f"| {role} | {info['name']} | {info['parameters'] / 1e6:.2f} | {info['gflops']:.2f} |")
    lines += ["", "| model | backend | median ms | p99 ms | iters |", "| --- | --- | ---: | ---: | ---: |"]
    for row in r["rows"]:
        lines.append(f"| {row['model']} | {row['backend']} | {row['median_ms']:.2f} | {row['p99_ms']:.2f} | {row['iters']} |")
    if {"student", "teacher"} <= set(r["models"]):
        ratio = r["models"]["teacher"]["gflops"] / r["models"]["student"]["gflops"]
        lines += ["", f"FLOPs ratio teacher / student: {ratio:.1f}x"]
    lines += ["", "Rows of one backend are measured alternately (a teacher call, then a share of the student "
              "calls, repeated), so load from other work on the machine hits both models alike: the "
              "ratios are the robust numbers, absolute latencies and p99 vary with the load.",
              "", f"Speed-up (teacher median / student median, same backend; target >= {r['target_speedup']:g}x):", ""]
    for backend, ratio in sorted(r["speedup"].items()):
        verdict = "meets" if ratio >= r["target_speedup"] else "BELOW"
        lines.append(f"- {backend}: {ratio:.1f}x ({verdict} the target)")
    lines += ["", r["gpu"], ""]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    r = measure(args)
    text = format_markdown(r)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m had_ros.bench.models", description=__doc__)
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
