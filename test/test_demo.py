"""`had demo` end to end on a tiny setting: every step runs for real (simulator, bag check,
representations, ONNX export and check, the tracker node as its own process fed over DDS, the
direct core, scoring, animation) and writes what it promises."""
import json

import numpy as np

from had_ros import cli


def test_demo_runs_the_node_over_dds_and_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = cli.main(["demo", "--out", str(out), "--sequences", "2", "--frames", "6", "--width", "96",
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
    # the node's results, in the keys of had eval, plus the replay's latency and drops
    res = json.loads((out / "results.json").read_text())
    assert set(res["sequences"]) == {"sim_0000", "sim_0001"}
    assert 0.0 <= res["overall"]["success_auc"] <= 100.0
    # the default model: the shipped weights (trained, as their record says), else the untrained
    # registry student, said so
    from had_ros.tracking.factory import default_model

    assert summary["model"] == default_model()
    assert res["trained"] is default_model().endswith(".safetensors")
    rep = res["replay"]
    assert rep["mode"] == "dds" and rep["images"] == 12 and rep["detections_received"] == 12
    assert rep["frames_dropped"] == 0 and rep["e2e_latency_ms"]["p50"] > 0
    assert "student.onnx" in (out / "node.log").read_text()
    boxes = [np.loadtxt(out / f"{name}.txt", delimiter=",") for name in ("sim_0000", "sim_0001")]
    assert all(b.shape == (6, 4) for b in boxes)
    assert any(np.isfinite(b).any() for b in boxes)  # a target may stay hidden in 6 frames
    # over DDS and through the core directly: the same boxes
    assert summary["dds_vs_direct_max_px"] < 0.01
    for plot in ("success.png", "precision.png", "latency.png"):
        assert (out / "plots" / plot).stat().st_size > 5_000
    import imageio.v2 as imageio

    gif = imageio.mimread(out / "tracking.gif")
    assert len(gif) == 6 and gif[0].shape[:2] == (144, 192)
    assert "demo summary" in capsys.readouterr().out
