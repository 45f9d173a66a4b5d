"""Real Prophesee recordings (../shared/real, GPL-2.0 sample files of the expelliarmus project, read
in place, never copied into the repository) against independent readers: the `evt3` package and
expelliarmus (test-only dependencies pinned in requirements.txt)."""
from pathlib import Path

import numpy as np
import pytest

from had_ros import cli
from had_ros.events import Events, make_decoder, read_events, read_raw
from had_ros.events.evt3 import Evt3Decoder
from had_ros.events.io import iter_windows, parse_raw_header

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "real"
EVT3_RAW, EVT3_NPY, EVT2_RAW = REAL / "evt3_sample.raw", REAL / "evt3_sample.npy", REAL / "evt2_sample.raw"
pytestmark = pytest.mark.skipif(
    not EVT3_RAW.is_file(),
    reason=f"real recordings not found at {REAL.resolve()} (../shared/real relative to the repository "
           "root; GPL-2.0 sample files kept outside the repository: tests on real sensor data skipped)")


def words_of(path: Path) -> np.ndarray:
    with open(path, "rb") as f:
        _, offset = parse_raw_header(f)
        f.seek(offset)
        return np.frombuffer(f.read(), "<u2")


@pytest.fixture(scope="module")
def evt3_events() -> Events:
    return read_raw(EVT3_RAW)


def test_events_info_takes_the_resolution_from_plugin_name(capsys):
    # the EVT3 header has no geometry line: hal_plugin_gen41_evk3 -> 1280x720; gen3 -> 640x480
    assert cli.main(["events", "info", str(EVT3_RAW)]) == 0
    out = capsys.readouterr().out
    assert "format:      Prophesee .raw (EVT3)" in out and "resolution:  1280x720" in out
    assert "events:      219596" in out and "skipped:" not in out
    assert cli.main(["events", "info", str(EVT2_RAW)]) == 0
    out = capsys.readouterr().out
    assert "format:      Prophesee .raw (EVT2)" in out and "resolution:  640x480" in out
    assert "events:      539481" in out


def test_evt3_file_matches_the_evt3_package_event_for_event(evt3_events):
    evt3 = pytest.importorskip("evt3", reason="the evt3 package (pinned in requirements.txt) is not installed")
    ref = evt3.decode_file(str(EVT3_RAW))
    ev = evt3_events
    assert (ev.width, ev.height) == (1280, 720) and len(ev) == len(ref.x) == 219_596
    np.testing.assert_array_equal(ev.x, ref.x)
    np.testing.assert_array_equal(ev.y, ref.y)
    np.testing.assert_array_equal(ev.p, ref.polarity)
    np.testing.assert_array_equal(ev.t, np.asarray(ref.timestamp, np.int64) * 1000)
    assert ev.is_sorted()


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_evt3_file_decodes_alike_in_any_packets(evt3_events, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    data = words_of(EVT3_RAW).tobytes()
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(data), 40))  # odd byte offsets included
    dec = Evt3Decoder(1280, 720, backend)
    parts = [dec.decode(data[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(data)])]
    assert Events.concatenate(parts).equals(evt3_events)
    assert dec.stats["events"] == len(evt3_events) and dec.stats["time_clamped"] == 0


def test_evt3_timestamps_follow_time_high_not_expelliarmus(evt3_events):
    """The 4096 µs question. The reference decode (expelliarmus) agrees with us on x, y, p and
    differs in t by 4096 µs times the number of TIME_LOW words so far whose value is below the
    TIME_LOW before them: it takes every such step for a wrap of the low 12 bits and carries
    into the high part. In this file 9 of the 11 steps are 3 or 11 µs back under an unchanged
    TIME_HIGH (readout order, not a wrap), and the 2 real wraps come with a TIME_HIGH that
    already carries the new high part, so expelliarmus counts them twice. The format's rule is
    time = TIME_HIGH << 12 | TIME_LOW: the recording's TIME_HIGH words span 2861..2863, so no
    event can be later than (2863 + 1) << 12 µs, which expelliarmus's times pass."""
    ref = np.load(EVT3_NPY)
    ev = evt3_events
    np.testing.assert_array_equal(ref["x"], ev.x)
    np.testing.assert_array_equal(ref["y"], ev.y)
    np.testing.assert_array_equal(ref["p"], ev.p)
    w = words_of(EVT3_RAW)
    typ, val = w >> 12, (w & 0xFFF).astype(np.int64)
    th = val[typ == 0x8]
    assert (th.min(), th.max()) == (2861, 2863)
    assert ev.t.min() >= (2861 << 12) * 1000 and ev.t.max() < (2864 << 12) * 1000
    assert ref["t"].max() >= 2864 << 12  # beyond what the TIME_HIGH words allow
    # expelliarmus's offset, event by event: 4096 µs per TIME_LOW step back before the event
    tl = np.flatnonzero(typ == 0x6)
    steps_back = tl[1:][val[tl[1:]] < val[tl[:-1]]]
    sizes = val[tl[:-1]][val[tl[1:]] < val[tl[:-1]]] - val[steps_back]
    assert sorted(set(sizes.tolist())) == [3, 11, 4095]
    n_per_word = ((typ == 0x2) + np.where(typ == 0x4, [bin(v).count("1") for v in val], 0)
                  + np.where(typ == 0x5, [bin(v & 0xFF).count("1") for v in val], 0))
    event_word = np.repeat(np.arange(len(w)), n_per_word)
    assert len(event_word) == len(ev)
    np.testing.assert_array_equal(ref["t"] - ev.t // 1000, 4096 * np.searchsorted(steps_back, event_word))


def test_evt2_file_matches_expelliarmus():
    expelliarmus = pytest.importorskip("expelliarmus",
                                       reason="expelliarmus (pinned in requirements.txt) is not installed")
    stats = {}
    ev = read_raw(EVT2_RAW, stats=stats)
    ref = expelliarmus.Wizard(encoding="evt2", fpath=str(EVT2_RAW)).read()
    assert (ev.width, ev.height) == (640, 480) and len(ev) == len(ref) == 539_481
    for ours, theirs in ((ev.x, ref["x"]), (ev.y, ref["y"]), (ev.p, ref["p"]), (ev.t, ref["t"] * 1000)):
        np.testing.assert_array_equal(ours, theirs)
    assert ev.t[-1] - ev.t[0] == 50_000_000 and ev.is_sorted()
    assert stats["out_of_sensor"] == stats["unknown_words"] == 0


def test_evt2_file_in_any_packets():
    with open(EVT2_RAW, "rb") as f:
        _, offset = parse_raw_header(f)
        f.seek(offset)
        data = f.read()
    whole = read_raw(EVT2_RAW)
    dec = make_decoder("evt2", 640, 480)
    cuts = np.sort(np.random.default_rng(1).integers(0, len(data), 25))
    parts = [dec.decode(data[a:b]) for a, b in zip(np.r_[0, cuts], np.r_[cuts, len(data)])]
    assert Events.concatenate(parts).equals(whole)


def test_real_files_read_by_time_window(evt3_events):
    # 1 ms windows of the real file, read piece by piece, are the slices of the whole decode
    ev = evt3_events
    t0 = int(ev.t[0])
    windows = list(iter_windows(EVT3_RAW, 1_000_000, chunk_bytes=20_001))  # ~30 reads, cut mid-word
    assert windows[0][0] == t0 and all(b - a == 1_000_000 for (a, _), (b, _) in zip(windows, windows[1:]))
    assert Events.concatenate([w for _, w in windows]).equals(ev)
    for a, w in windows:
        assert w.equals(ev.time_window(a, a + 1_000_000))
    mid = read_events(EVT3_RAW, t0=t0 + 2_000_000, t1=t0 + 5_000_000)
    assert mid.equals(ev.time_window(t0 + 2_000_000, t0 + 5_000_000))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_evt3_padding_words_are_skipped_and_counted(evt3_events, backend):
    # Lucid's IMX636 cameras pad EVT3 streams with the dummy word 0x9999 (type 9, reserved):
    # sprinkled into the real recording, they change no event and are counted
    if backend == "numba":
        pytest.importorskip("numba")
    w = words_of(EVT3_RAW)
    at = np.sort(np.random.default_rng(2).integers(0, len(w), 500))
    padded = np.insert(w, at, 0x9999).astype("<u2")
    dec = Evt3Decoder(1280, 720, backend)
    assert dec.decode(padded.tobytes()).equals(evt3_events)
    assert dec.stats["unknown_words"] == 500


def test_every_evt3_kernel_decodes_the_real_recording_alike(evt3_events, monkeypatch):
    _kernels = pytest.importorskip("had_ros.events._kernels", reason="numba is not installed")
    dec = Evt3Decoder(1280, 720, "numba")
    assert dec.decode(words_of(EVT3_RAW).tobytes()).equals(evt3_events)  # evt3_decode_fast
    monkeypatch.setattr(_kernels, "evt3_decode_fast", lambda *args: (0, 0, _kernels.FAST_NEEDS_EXACT))
    for forced in (_kernels.evt3_decode, _kernels.evt3_decode_vectors):
        monkeypatch.setattr(_kernels, "evt3_decode", forced)
        monkeypatch.setattr(_kernels, "evt3_decode_vectors", forced)
        dec = Evt3Decoder(1280, 720, "numba")
        assert dec.decode(words_of(EVT3_RAW).tobytes()).equals(evt3_events)
