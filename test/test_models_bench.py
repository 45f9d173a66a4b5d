"""`had bench models` code paths on tiny checkpoints (no timing assertions: numbers vary by machine)."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from had_ros.bench import models as bench
from had_ros.models import create_model, save_checkpoint

TINY = dict(template_size=64, search_size=128, head_channels=8, head_layers=1, init_seed=0)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    save_checkpoint(create_model("had_student_event_edge", depth=1, embed_dim=32, num_heads=2, **TINY),
                    root / "student")
    save_checkpoint(create_model("had_teacher_base", depth=2, embed_dim=96, num_heads=2, **TINY),
                    root / "teacher")
    return root


def _args(pair, tmp_path, *extra):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    return parser.parse_args(["--student", str(pair / "student"), "--teacher", str(pair / "teacher"),
                              "--iters", "2", "--teacher-iters", "2", "--warmup", "0", "--threads", "1",
                              *extra])


def test_bench_defaults_are_the_edge_student_and_base_teacher():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.student, args.teacher, args.threads) == ("had_student_event_edge", "had_teacher_base", 2)


def test_bench_measures_both_backends_and_writes_markdown(pair, tmp_path, capsys):
    out = tmp_path / "results" / "models.md"
    rc = bench.run(_args(pair, tmp_path, "--out", str(out)))
    assert rc == 0
    text = out.read_text()
    assert capsys.readouterr().out == text + "\n"  # the report printed is the one written
    for needle in ("| had_student_event_edge | torch-cpu-fp32 |", "| had_teacher_base | torch-cpu-fp32 |",
                   "| had_student_event_edge | onnx-cpu |", "| had_teacher_base | onnx-cpu |",
                   "Command: `", "1 CPU threads", "- torch-cpu-fp32:", "- onnx-cpu:"):
        assert needle in text, needle
    if not torch.cuda.is_available():
        assert "no CUDA device here" in text and "GPU rows (fp16, CUDA graphs) skipped" in text


def test_bench_json_speedup_is_teacher_over_student(pair, tmp_path, capsys):
    assert bench.run(_args(pair, tmp_path, "--json", "--backends", "torch")) == 0
    r = json.loads(capsys.readouterr().out)
    rows = {row["role"]: row for row in r["rows"]}
    assert set(rows) == {"student", "teacher"}
    assert rows["student"]["iters"] == rows["teacher"]["iters"] == 2
    assert r["speedup"]["torch-cpu-fp32"] == pytest.approx(rows["teacher"]["median_ms"] / rows["student"]["median_ms"])
    assert r["models"]["teacher"]["parameters"] > r["models"]["student"]["parameters"]
    assert r["target_speedup"] == 10.0


def test_gpu_rows_fall_back_with_a_message_on_cpu():
    if torch.cuda.is_available():  # pragma: no cover - CI has no GPU
        pytest.skip("a GPU is present: the GPU rows run instead")
    rows, note = bench._gpu_rows({"student": "x"}, {"student": 1}, 0)
    assert rows == [] and "torch.cuda.is_available() is False" in note


def test_markdown_verdicts():
    r = {"command": "had bench models", "date": "d", "gpu": "none",
         "machine": {"platform": "p", "processor": "c", "threads": 2, "torch": "t", "onnxruntime": "o"},
         "models": {"student": {"name": "s", "parameters": 2e6, "gflops": 1.0},
                    "teacher": {"name": "t", "parameters": 9e7, "gflops": 100.0}},
         "rows": [], "speedup": {"torch-cpu-fp32": 12.0, "onnx-cpu": 7.5}, "target_speedup": 10.0}
    text = bench.format_markdown(r)
    assert "- torch-cpu-fp32: 12.0x (meets the target)" in text
    assert "- onnx-cpu: 7.5x (BELOW the target)" in text
    assert "FLOPs ratio teacher / student: 100.0x" in text


def test_command_line_in_the_report():
    assert bench.command_line(["/v/bin/had", "bench", "models", "--iters", "5"]) == "had bench models --iters 5"
    assert bench.command_line(["/x/had_ros/bench/models.py", "--out", "a b.md"]) == \
        "python -m had_ros.bench.models --out 'a b.md'"
