"""`had events info` and a smoke run of `had bench events` (no timing asserted)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from had_ros import cli
from had_ros.events import Events, write_events, write_raw


def sample(n=4000, w=320, h=240):
    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(2_000_000, 2_002_000_000, n)) // 1000 * 1000
    t[0], t[-1] = 2_000_000, 2_002_000_000
    p = np.zeros(n, np.uint8)
    p[: n // 4] = 1
    rng.shuffle(p)
    return Events.from_arrays(rng.integers(0, w, n), rng.integers(0, h, n), t, p, w, h)


@pytest.mark.parametrize("name", ["rec.raw", "rec.npz"])
def test_events_info_prints_the_numbers(tmp_path, capsys, name):
    ev = sample()
    path = tmp_path / name
    (write_raw if name.endswith(".raw") else write_events)(path, ev)
    assert cli.main(["events", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "resolution:  320x240" in out
    assert "events:      4000" in out
    assert "duration:    2.000000 s" in out
    assert "rate:        0.0020 Mev/s" in out
    assert "ON fraction: 0.2500" in out
    assert "skipped:" not in out


def test_events_info_reports_what_the_decoder_skipped(tmp_path, capsys):
    ev = sample()
    path = tmp_path / "cut.raw"
    write_raw(path, ev)
    # one stray byte at the end (a truncated word) and, before it, an ADDR_X beyond the sensor
    path.write_bytes(path.read_bytes() + (0x2000 | 2000).to_bytes(2, "little") + b"\x07")
    assert cli.main(["events", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "events:      4000" in out
    assert "skipped:     1 truncated bytes" in out
    assert "skipped:     1 out of sensor" in out


def test_events_info_errors(tmp_path, capsys):
    assert cli.main(["events", "info", str(tmp_path / "missing.raw")]) == 1
    assert "had events: error:" in capsys.readouterr().err
    bad = tmp_path / "bad.raw"
    bad.write_bytes(b"% evt 4.0\n% geometry 4x4\n% end\n\x00\x00")
    assert cli.main(["events", "info", str(bad)]) == 1
    assert "evt 4.0 is not supported" in capsys.readouterr().err


def test_events_info_as_a_command(tmp_path):
    path = tmp_path / "rec.raw"
    write_raw(path, sample(100))
    out = subprocess.run([sys.executable, "-m", "had_ros.cli", "events", "info", str(path)],
                         capture_output=True, text=True, check=True).stdout
    assert "events:      100" in out


def test_bench_events_smoke(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert cli.main(["bench", "events", "--events", "20000", "--repeat", "1", "--width", "320",
                     "--height", "240", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["events"] == 20000
    backends = res["paths"]  # numba and numpy, or numpy alone without numba / with HAD_ROS_NO_NUMBA
    assert res["default_path"] == backends[0] and backends[-1] == "numpy"
    for be in backends:  # both paths are timed, each checked against the encoded events
        for case in ("one call", "64 KiB packets"):
            assert res["decode"][f"had_ros {be} ({case})"]["same_events"] is True
        assert res["decode"][f"had_ros {be} read_raw (file)"]["same_events"] is True
        assert f"{be}, whole stream" in res["voxel_grid"]
    if "numba" in backends:
        for name in ("numba, whole stream", "numba, 33 ms windows, out=VoxelGridBuffer",
                     "count_histogram numba, whole stream", "time_surface numba, whole stream"):
            assert res["voxel_grid"][name]["identical_to_numpy"] is True
    assert res["voxel_grid"]["torch cpu, whole stream"]["max_abs_diff_vs_numpy"] < 1e-4
    assert f"voxel_grid_{backends[0]}_mev_s" in res["targets"]
    assert f"voxel_grid_{backends[0]}_33ms_windows_reused_buffer_mev_s" in res["targets"]
    if "evt3 package (one call)" in res["decode"]:
        assert {"decode_one_call_vs_evt3_decode_bytes", "decode_stream_vs_evt3_feed"} <= set(res["targets"])
    if "real_decode" in res:  # the real recording of ../shared/real, decoded alike in any packets
        for name, r in res["real_decode"]["decode"].items():
            assert r["same_events"] is True, name
        assert res["real_decode"]["events"] == 219_596
