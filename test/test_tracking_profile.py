"""FLOP/parameter counting, latency statistics and the `had profile` command (tiny models)."""
from __future__ import annotations

import itertools
import json

import pytest
import torch

from had_ros.cli import main
from had_ros.models import create_model, model_config, save_checkpoint
from had_ros.tracking import profile as prof
from had_ros.tracking.export import example_inputs, export_onnx, write_sidecar

TINY = dict(depth=2, embed_dim=64, num_heads=2, template_size=64, search_size=128,
            head_channels=16, head_layers=1, init_seed=0)


@pytest.mark.parametrize("name,extra", [
    ("had_student_event_edge", {}),
    ("had_student_rgbe_edge", {"mlp_ratio": 2.0, "head_layers": 2}),
    ("had_teacher_small", {"event_bins": 3, "patch_size": 8, "depth": 1}),
    ("had_student_rgbe_edge", {"stem": "conv"}),
    ("had_student_event_edge", {"stem": "conv", "patch_size": 8, "search_size": 96}),
])
def test_analytic_flops_equal_the_torch_flop_counter(name, extra):
    model = create_model(name, **{**TINY, **extra}).eval()
    inputs = {k: torch.from_numpy(v) for k, v in example_inputs(model.config).items()}
    assert prof.analytic_flops(model.config) == prof.count_flops(model, inputs)


def test_flops_of_registered_sizes_and_teacher_student_ratio():
    edge, base = model_config("had_student_event_edge"), model_config("had_teacher_base")
    # Hand count of the edge student's transformer: 320 tokens, width 192, MLP 768, 4 blocks.
    n, d = 64 + 256, 192
    blocks = 4 * (2 * n * d * 3 * d + 4 * n * n * d + 2 * n * d * d + 4 * n * d * 4 * d)
    assert prof.analytic_flops(edge) > blocks
    assert prof.analytic_flops(base) / prof.analytic_flops(edge) > 50


def test_count_parameters():
    lin = torch.nn.Linear(3, 4)
    assert prof.count_parameters(lin) == 16
    model = create_model("had_student_event_edge", **TINY)
    assert prof.count_parameters(model) == sum(p.numel() for p in model.parameters())


def test_measure_latency_statistics_with_a_fake_clock(monkeypatch):
    # Calls take 1, 2, ..., 100 ms in turn (warm-up calls are not timed).
    ticks = itertools.accumulate([0.0] + [x for i in range(1, 101) for x in (i / 1000.0, 0.0)])
    stamps = iter(list(ticks))
    monkeypatch.setattr(prof.time, "perf_counter", lambda: next(stamps))
    calls = []
    lat = prof.measure_latency(lambda: calls.append(1), iters=100, warmup=3)
    assert len(calls) == 103
    assert lat.median_ms == pytest.approx(50.5)
    assert lat.p99_ms == pytest.approx(99.01)
    assert lat.mean_ms == pytest.approx(50.5)
    with pytest.raises(ValueError):
        prof.measure_latency(lambda: None, iters=0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("prof") / "student"
    save_checkpoint(create_model("had_student_event_edge", **TINY).eval(), path)
    return path


def test_profile_cli_prints_parameters_flops_and_latency_per_backend(ckpt, capsys):
    rc = main(["profile", "--model", str(ckpt), "--iters", "3", "--warmup", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    model = create_model("had_student_event_edge", **TINY)
    params = prof.count_parameters(model)
    flops = prof.analytic_flops(model.config)
    assert "model: had_student_event_edge (modalities events; depth 2, width 64" in out
    assert f"parameters: {params:,} ({params / 1e6:.2f} M)" in out
    assert f"FLOPs: {flops / 1e9:.3f} G per frame at batch 1" in out
    for backend in ("torch-cpu-fp32", "onnx-cpu"):
        line = next(l for l in out.splitlines() if l.startswith(f"latency {backend}:"))
        assert "median" in line and "p99" in line and "(3 iters, batch 1, 1 threads)" in line


def test_profile_cli_json_and_onnx_file(ckpt, tmp_path, capsys):
    rc = main(["profile", "--model", str(ckpt), "--backends", "torch", "--iters", "2", "--warmup", "0",
               "--json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and list(r["latency"]) == ["torch-cpu-fp32"]
    lat = r["latency"]["torch-cpu-fp32"]
    assert lat["iters"] == 2 and 0 < lat["median_ms"] <= lat["p99_ms"] * (1 + 1e-9)
    assert r["flops"] == r["flops_analytic"]
    model = create_model("had_student_event_edge", **TINY).eval()
    onnx_path = tmp_path / "m.onnx"
    export_onnx(model, onnx_path)
    write_sidecar(onnx_path, model.config, 17, False)
    rc = main(["profile", "--model", str(onnx_path), "--backends", "onnx", "--iters", "2", "--json"])
    r2 = json.loads(capsys.readouterr().out)
    assert rc == 0 and list(r2["latency"]) == ["onnx-cpu"]
    # BatchNorm is folded into the convolutions at export, so ONNX holds fewer stored values.
    assert 0 < r2["parameters"] <= r["parameters"]
    assert main(["profile", "--model", str(onnx_path), "--backends", "torch"]) == 1
    assert "--backends onnx" in capsys.readouterr().err


def test_profile_cli_rejects_unknown_backend(ckpt, capsys):
    assert main(["profile", "--model", str(ckpt), "--backends", "tensorflow"]) == 1
    assert "tensorflow" in capsys.readouterr().err


def test_parse_provider_options():
    from had_ros.errors import HadError
    from had_ros.tracking.cli import parse_provider_options

    assert parse_provider_options([
        "TensorrtExecutionProvider:trt_fp16_enable=True",
        "TensorrtExecutionProvider:trt_engine_cache_path=/a:b",
        "CUDAExecutionProvider:device_id=0",
    ]) == {"TensorrtExecutionProvider": {"trt_fp16_enable": "True", "trt_engine_cache_path": "/a:b"},
           "CUDAExecutionProvider": {"device_id": "0"}}
    for bad in ("trt_fp16_enable=True", "Prov:novalue", ":k=v"):
        with pytest.raises(HadError, match="PROVIDER:KEY=VALUE"):
            parse_provider_options([bad])


def test_profile_cli_with_provider_options_for_an_absent_provider(ckpt, capsys, caplog):
    # TensorRT is not in this onnxruntime build: it is dropped with a warning, CPU runs.
    rc = main(["profile", "--model", str(ckpt), "--backends", "onnx", "--iters", "1", "--warmup", "0",
               "--provider-option", "TensorrtExecutionProvider:trt_fp16_enable=True"])
    assert rc == 0
    assert "latency onnx-cpu:" in capsys.readouterr().out
    assert "TensorrtExecutionProvider is not available" in caplog.text
