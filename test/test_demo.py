"""`had demo` end to end on a tiny setting: every step runs for real (simulator, bag replay,
representations, torch and ONNX Runtime tracking, evaluation) and writes what it promises."""
import json

import numpy as np

from had_ros import cli


def test_demo_runs_end_to_end_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = cli.main(["demo", "--out", str(out), "--sequences", "1", "--frames", "6", "--width", "96",
                   "--height", "72", "--threads", "1"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    replay = summary["replay"]
    assert replay["matches_events_raw"] is True
    assert replay["packets"] > 10 and replay["events"] > 0 and replay["lost_packets"] == 0
    # the simulator's bag stamps carry a host offset of about a day's worth of seconds, never zero
    assert abs(replay["sensor_to_host_offset_ms"]) > 1.0
    assert summary["representations"]["events_in_window"] > 0
    assert (out / "representations.png").stat().st_size > 10_000
    for name in ("eval_torch", "eval_onnx"):
        overall = summary[name]["overall"]
        assert 0.0 <= overall["success_auc"] <= 100.0
        assert (out / name / "sim_0000.txt").read_text().count("\n") == 6
    # the demo runs the default model: the shipped weights (trained, as their record says) or, in a
    # checkout without them, the untrained registry model, reported as such
    from had_ros.tracking.factory import default_model

    shipped = default_model().endswith(".safetensors")
    assert summary["model"] == default_model()
    assert summary["eval_torch"]["trained"] is shipped
    assert summary["eval_onnx"]["trained"] is shipped  # recorded in the .onnx by had export
    # torch and ONNX Runtime run the same weights: same boxes up to float noise
    torch_boxes = np.loadtxt(out / "eval_torch" / "sim_0000.txt", delimiter=",")
    onnx_boxes = np.loadtxt(out / "eval_onnx" / "sim_0000.txt", delimiter=",")
    assert np.isfinite(torch_boxes).any()
    np.testing.assert_allclose(torch_boxes, onnx_boxes, atol=0.5, equal_nan=True)
    assert "demo summary" in capsys.readouterr().out
