"""`had events stats`: known answers on constructed streams, a real Prophesee recording (checked
against the independent expelliarmus decode stored beside it) and a generated had_sim sequence."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from had_ros.cli import main
from had_ros.errors import EventFileError
from had_ros.events.container import Events
from had_ros.events.stats import StatsSettings, event_stats, line_strength, load_events, spectrum_peaks

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real"
real = pytest.mark.skipif(not (REAL / "evt3_sample.raw").is_file(),
                          reason=f"real recordings not found at {REAL} (../shared/real beside the repository)")


def _events(x, y, t, p, w=64, h=48) -> Events:
    order = np.argsort(t, kind="stable")
    return Events(np.asarray(x, np.uint16)[order], np.asarray(y, np.uint16)[order],
                  np.asarray(t, np.int64)[order], np.asarray(p, np.uint8)[order], w, h)


def _poisson_noise(rate: float, seconds: float, w=64, h=48, on=0.8, seed=0) -> Events:
    rng = np.random.default_rng(seed)
    n = rng.poisson(rate * w * h * seconds)
    return _events(rng.integers(0, w, n), rng.integers(0, h, n), rng.uniform(0, seconds * 1e9, n).astype(np.int64),
                   rng.random(n) < on, w, h)


def test_background_rate_polarity_and_isolation_of_pure_noise():
    st = event_stats(_poisson_noise(0.05, 20.0))
    assert st["noise_ev_per_pixel_s"] == pytest.approx(0.05, rel=0.1)
    assert st["noise_on_share"] == pytest.approx(0.8, abs=0.03)
    assert st["noise_isolated_share"] > 0.9  # 8 neighbours x 20 ms x 0.05 Hz: ~1 % have a neighbour
    assert st["quiet_share_of_pixel_time"] > 0.95


def test_a_moving_edge_is_not_background_and_counts_its_events_per_crossing():
    # A vertical edge sweeping right at 1 px/ms; every pixel it passes fires 3 ON events 1.2 ms apart.
    xs, ys, ts = np.meshgrid(np.arange(64), np.arange(48), np.arange(3), indexing="ij")
    t = (xs * 1_000_000 + ts * 1_200_000 + 5_000_000).ravel()
    edge = _events(xs.ravel(), ys.ravel(), t, np.ones(t.size), 64, 48)
    noise = _poisson_noise(0.01, 1.0, seed=3)
    both = Events.concatenate([edge, noise], 64, 48)
    both = both[np.argsort(both.t, kind="stable")]
    st = event_stats(both)
    assert st["events_per_crossing"]["mean"] == pytest.approx(3.0, abs=0.05)
    assert st["events_per_crossing"]["p99"] == 3
    assert st["noise_ev_per_pixel_s"] < 0.05  # the edge's 3 ev/pixel did not leak into the background
    iv = st["interval_us"]
    assert iv["min"] == pytest.approx(1200.0) and st["interval_under_1ms_share"] < 0.01


def test_active_pixel_share_per_window():
    # 10 % of the pixels fire once in each 33 ms window.
    rng = np.random.default_rng(1)
    parts = []
    for k in range(30):
        pix = rng.choice(64 * 48, 307, replace=False)
        parts.append(_events(pix % 64, pix // 64, np.full(307, k * 33_000_000 + 1000), np.ones(307)))
    st = event_stats(Events.concatenate(parts, 64, 48))
    assert st["active_pixel_share"]["median"] == pytest.approx(307 / 3072, rel=0.01)


def test_spectrum_finds_a_render_grid_line():
    # Events piled on a 1 kHz grid (what a naive simulator does) on top of uniform noise.
    rng = np.random.default_rng(2)
    noise = rng.uniform(0, 2e9, 100_000)
    grid = (rng.integers(0, 2000, 30_000) * 1_000_000 + rng.integers(0, 5_000, 30_000)).astype(np.float64)
    t = np.concatenate([noise, grid]).astype(np.int64)
    combed = _events(rng.integers(0, 64, t.size), rng.integers(0, 48, t.size), t, np.ones(t.size))
    flat = _events(rng.integers(0, 64, noise.size), rng.integers(0, 48, noise.size), noise.astype(np.int64),
                   np.ones(noise.size))
    assert line_strength(combed, 1000.0) > 100 and line_strength(combed, 2000.0) > 100
    assert line_strength(flat, 1000.0) < 10
    peaks = spectrum_peaks(combed, StatsSettings())
    assert len(peaks) == 5 and all(abs(p["hz"] / 1000.0 - round(p["hz"] / 1000.0)) < 0.01 for p in peaks)


@real
def test_real_imx636_recording_reads_and_measures():
    ev, _ = load_events(REAL / "evt3_sample.raw")
    assert (ev.width, ev.height) == (1280, 720) and len(ev) == 219_596  # the README's count
    # Independent reader: expelliarmus's decode of the same file has the same pixels and polarities.
    ref = np.load(REAL / "evt3_sample.npy")
    assert np.array_equal(np.sort(ev.y.astype(np.int64) * 1280 + ev.x),
                          np.sort(ref["y"].astype(np.int64) * 1280 + ref["x"]))
    assert float(np.mean(ev.p)) == pytest.approx(float(np.mean(ref["p"])))
    st = event_stats(ev)
    assert 0.0 < st["on_share"] < 1.0 and st["interval_us"]["min"] >= 1.0
    assert 1.0 <= st["events_per_crossing"]["mean"] < 2.0
    assert 0.0 < st["interval_under_1ms_share"] < 0.2


@real
def test_cli_on_the_real_recordings(capsys):
    assert main(["events", "stats", str(REAL / "evt3_sample.raw")]) == 0
    out = capsys.readouterr().out
    for word in ("background (quiet)", "events per crossing", "same-pixel intervals", "active pixels", "spectrum"):
        assert word in out
    # The EVT 2.0 recording (Gen3, 640x480): expelliarmus reads 539,481 events over 50 ms.
    assert main(["events", "stats", str(REAL / "evt2_sample.raw"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"]["events"] == 539_481 and (data["events"]["width"], data["events"]["height"]) == (640, 480)
    assert data["events"]["duration_s"] == pytest.approx(0.05, abs=0.002)
    assert data["events"]["interval_us"]["min"] >= 1.0


def test_generated_sequence_with_frames(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--sequences", "1", "--frames", "8", "--width", "96",
                 "--height", "72", "--mix-probability", "0", "--attributes", "camera_motion"]) == 0
    capsys.readouterr()
    assert main(["events", "stats", str(tmp_path / "sim_0000"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["events"]["events"] > 1000 and data["frames"]["frames"] == 8
    assert 0 <= data["frames"]["dn_percentiles"]["p1"] <= data["frames"]["dn_percentiles"]["p99"] <= 255
    # Several paths: one markdown table, a column each.
    assert main(["events", "stats", str(tmp_path / "sim_0000"), str(tmp_path / "sim_0000" / "events.raw")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| statistic | sim_0000 | events.raw |"
    row = next(line for line in table if line.startswith("| background ev/pixel/s"))
    assert row.split("|")[2] == row.split("|")[3]  # the same events, the same number
    assert next(line for line in table if line.startswith("| frames: DN")).split("|")[3].strip() == "-"


def test_bad_paths(tmp_path):
    with pytest.raises(EventFileError, match="had_sim sequence"):
        load_events(tmp_path)
    with pytest.raises(EventFileError, match="no such event file"):
        load_events(tmp_path / "missing.raw")
