"""`had simulate` from the command line."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from had_ros.cli import main

SMALL = ["--sequences", "2", "--frames", "10", "--width", "64", "--height", "48"]


def test_help_lists_the_options():
    out = subprocess.run([sys.executable, "-m", "had_ros.cli", "simulate", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--out", "--sequences", "--frames", "--seed", "--bag", "--attributes", "--render-rate", "--fps",
                 "--sensor"):
        assert flag in out.stdout
    assert "low_light" in out.stdout


def test_small_run_writes_sequences_and_reports_speed(tmp_path, capsys):
    rc = main(["simulate", "--out", str(tmp_path), *SMALL, "--seed", "3", "--attributes", "occlusion"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "sequences/min at 64x48" in out and "frames/s" in out
    for name in ("sim_0000", "sim_0001"):
        meta = json.loads((tmp_path / name / "meta.json").read_text())
        assert meta["seed"] == 3 and "occlusion" in meta["attributes"] and meta["num_frames"] == 10
        assert (tmp_path / name / "preview.png").is_file() and not (tmp_path / name / f"{name}.mcap").exists()


def test_settings_reach_the_generator(tmp_path):
    rc = main(["simulate", "--out", str(tmp_path), "--sequences", "1", "--frames", "3", "--width", "40",
               "--height", "30", "--fps", "60", "--render-rate", "2000", "--contrast-threshold", "0.3",
               "--noise-rate", "0", "--mix-probability", "0", "--bag"])
    assert rc == 0
    meta = json.loads((tmp_path / "sim_0000" / "meta.json").read_text())
    assert (meta["width"], meta["height"], meta["fps"], meta["render_rate"]) == (40, 30, 60.0, 2000.0)
    assert meta["event_sensor"]["threshold_on"] == 0.3 and meta["event_sensor"]["noise_rate_hz"] == 0.0
    assert meta["requested_attributes"] == []
    assert meta["event_sensor"]["name"] == "davis346"  # the default profile, with the flags on top
    assert (tmp_path / "sim_0000" / "sim_0000.mcap" / "metadata.yaml").is_file()


@pytest.mark.parametrize("sensor", ["ideal", "imx636"])
def test_sensor_profile_reaches_the_generator(tmp_path, sensor):
    from had_ros.data.sim_sensors import sensor_profile

    rc = main(["simulate", "--out", str(tmp_path), "--sequences", "1", "--frames", "2", "--width", "40",
               "--height", "30", "--mix-probability", "0", "--sensor", sensor])
    assert rc == 0
    meta = json.loads((tmp_path / "sim_0000" / "meta.json").read_text())
    profile = sensor_profile(sensor)
    assert meta["event_sensor"]["name"] == sensor
    assert meta["event_sensor"]["refractory_ns"] == profile.refractory_ns
    assert meta["event_sensor"]["threshold_off"] == profile.threshold_off


@pytest.mark.parametrize("args, message", [
    (["--attributes", "rain"], "unknown ['rain']"),
    (["--sequences", "0"], "--sequences"),
    (["--width", "4"], "width"),
    (["--mix-probability", "2"], "--mix-probability"),
    (["--noise-rate", "-1"], "--noise-rate"),
])
def test_bad_arguments_fail_with_a_clear_message(tmp_path, capsys, args, message):
    assert main(["simulate", "--out", str(tmp_path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("had simulate: error:") and message in err


def test_rerun_needs_overwrite(tmp_path, capsys):
    args = ["simulate", "--out", str(tmp_path), "--sequences", "1", "--frames", "2", "--width", "40", "--height", "30",
            "--mix-probability", "0"]
    assert main(args) == 0
    assert main(args) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_parallel_workers_write_the_same_files(tmp_path):
    args = ["--sequences", "2", "--frames", "6", "--width", "48", "--height", "36", "--seed", "8",
            "--attributes", "camera_motion,distractors", "--mix-probability", "0"]
    assert main(["simulate", "--out", str(tmp_path / "one"), *args]) == 0
    assert main(["simulate", "--out", str(tmp_path / "two"), *args, "--workers", "2"]) == 0
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    assert one == two and len(one) > 10
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "two" / p).read_bytes() for p in one)
