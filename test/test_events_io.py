"""Event files: Prophesee .raw (both header styles), had_ros .npz, AEDAT4 (written from the
format spec, read back by the independent `aedat` package)."""
import numpy as np
import pytest

from had_ros.errors import DecodeError, EventFileError
from had_ros.events import (
    Events, encode_evt3, read_aedat4_frames, read_events, read_raw, write_aedat4, write_events, write_raw,
)


def make_events(n=2000, width=346, height=260, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 3_000_000_000, n)) // 1000 * 1000
    return Events.from_arrays(rng.integers(0, width, n), rng.integers(0, height, n), t,
                              rng.integers(0, 2, n), width, height)


def test_write_raw_then_read_new_style_header(tmp_path):
    ev = make_events()
    path = tmp_path / "a.raw"
    write_raw(path, ev)
    head = path.read_bytes()[:200]
    assert b"% evt 3.0\n" in head and b"% format EVT3;height=260;width=346\n" in head
    assert b"% geometry 346x260\n" in head and b"% end\n" in head
    assert read_events(path).equals(ev)


def test_read_old_style_header_without_end(tmp_path):
    ev = make_events(500, 640, 480)
    path = tmp_path / "old.raw"
    path.write_bytes(b"% date 2019-05-01 10:00:00\n% evt 3.0\n% geometry 640x480\n% sensor_generation 4.1\n"
                     + encode_evt3(ev))
    assert read_events(path).equals(ev)


def test_old_style_header_data_starting_with_percent_byte(tmp_path):
    # The first word TIME_HIGH 0x025 is the bytes 0x25 0x80: '%' then a non-text byte.
    words = np.array([0x8025, 0x6005, 0x0003, 0x2000 | 1 << 11 | 7], "<u2").tobytes()
    assert words[:1] == b"%"
    path = tmp_path / "pct.raw"
    path.write_bytes(b"% evt 3.0\n% geometry 16x8\n" + words)
    ev = read_events(path)
    assert ev.x.tolist() == [7] and ev.y.tolist() == [3]
    assert ev.t.tolist() == [(0x25 << 12 | 5) * 1000]


def test_read_header_with_format_line_only(tmp_path):
    ev = make_events(100, 1280, 720)
    path = tmp_path / "f.raw"
    path.write_bytes(b"% format EVT3;height=720;width=1280\n% end\n" + encode_evt3(ev))
    got = read_events(path)
    assert (got.width, got.height) == (1280, 720) and got.equals(ev)


def test_raw_with_triggers(tmp_path):
    words = np.array([0x8000, 0x6001, 0xA101, 0x0001, 0x2002], "<u2").tobytes()
    path = tmp_path / "t.raw"
    path.write_bytes(b"% evt 3.0\n% geometry 4x4\n% end\n" + words)
    ev, trig = read_raw(path, with_triggers=True)
    assert len(ev) == 1 and trig.t.tolist() == [1000] and trig.id.tolist() == [1]


@pytest.mark.parametrize("header, match", [
    (b"% evt 4.0\n% geometry 640x480\n% end\n", "evt 4.0 is not supported"),
    (b"% format CCAM5;height=4;width=4\n% end\n", "CCAM5 is not supported"),
    (b"% evt 3.0\n% end\n", "no sensor resolution"),
    (b"% date today\n% end\n", "names no event encoding"),
])
def test_raw_header_refusals(tmp_path, header, match):
    path = tmp_path / "bad.raw"
    path.write_bytes(header + b"\x00\x80")
    with pytest.raises(EventFileError, match=match):
        read_events(path)


def test_truncated_raw_file_drops_the_partial_word(tmp_path):
    ev = make_events(300)
    path = tmp_path / "cut.raw"
    write_raw(path, ev)
    path.write_bytes(path.read_bytes() + b"\x01")  # one stray byte at the end
    assert read_events(path).equals(ev)


def test_write_raw_refuses_too_large_sensor(tmp_path):
    with pytest.raises(EventFileError, match="2048"):
        write_raw(tmp_path / "x.raw", Events.empty(4096, 100))


@pytest.mark.parametrize("compress", [False, True])
def test_own_format_round_trip(tmp_path, compress):
    ev = make_events(1000)
    path = tmp_path / "ev.npz"
    write_events(path, ev, compress=compress)
    got = read_events(path)
    assert got.equals(ev) and got.t.dtype == np.int64 and got.x.dtype == np.uint16


def test_own_format_without_suffix_is_sniffed(tmp_path):
    ev = make_events(50)
    path = tmp_path / "events.bin"
    write_events(path, ev)
    assert path.exists() and read_events(path).equals(ev)


def test_own_format_refusals(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros(2), y=np.zeros(2))
    with pytest.raises(EventFileError, match=r"missing fields \['height', 'p', 't', 'width'\]"):
        read_events(path)
    pick = tmp_path / "pickle.npz"
    np.savez(pick, x=np.array([object()], dtype=object), y=np.zeros(1), t=np.zeros(1), p=np.zeros(1),
             width=1, height=1)
    with pytest.raises(EventFileError, match="cannot read"):
        read_events(pick)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(EventFileError, match="no such event file"):
        read_events(tmp_path / "nope.raw")
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(EventFileError, match="unknown event file format"):
        read_events(junk)
    with pytest.raises(EventFileError, match="is not a file"):
        read_events(tmp_path)


def test_aedat4_events_and_frames_round_trip(tmp_path):
    ev = make_events(5000, 346, 260)
    rng = np.random.default_rng(3)
    rgb = [rng.integers(0, 256, (260, 346, 3), dtype=np.uint8) for _ in range(3)]
    times = np.array([0, 1_000_000_000, 2_000_000_000])
    path = tmp_path / "rec.aedat4"
    write_aedat4(path, ev, rgb, times, packet_events=1000)
    assert read_events(path).equals(ev)
    frames, t = read_aedat4_frames(path)
    assert t.tolist() == times.tolist()
    assert all(np.array_equal(a, b) for a, b in zip(frames, rgb))
    gray = [rng.integers(0, 256, (260, 346), dtype=np.uint8)]
    write_aedat4(tmp_path / "g.aedat4", ev, gray, [5000])
    frames, _ = read_aedat4_frames(tmp_path / "g.aedat4")
    assert frames[0].shape == (260, 346) and np.array_equal(frames[0], gray[0])


def test_aedat4_refusals(tmp_path):
    path = tmp_path / "rec.aedat4"
    write_aedat4(path, make_events(100))
    with pytest.raises(EventFileError, match="no frame stream"):
        read_aedat4_frames(path)
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"#!AER-DAT4.0\r\n\x05\x00")
    with pytest.raises(EventFileError, match="AEDAT4"):
        read_events(bad)
    cut = tmp_path / "cut.aedat4"
    cut.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(EventFileError):
        read_events(cut)


@pytest.mark.parametrize("chunk", [1, 7, 333, 10_000])
def test_write_raw_in_chunks_is_one_stream_across_rollovers(tmp_path, chunk):
    """Chunked encoding continues TIME_HIGH from the previous chunk: no false rollover at chunk
    edges, and the 24-bit wrap at 16.77 s inside the stream still decodes monotonically."""
    rng = np.random.default_rng(3)
    n = 1500
    t = np.sort(rng.integers(0, 40_000_000_000, n)) // 1000 * 1000  # 40 s: two rollovers
    ev = Events.from_arrays(rng.integers(0, 346, n), rng.integers(0, 260, n), t, rng.integers(0, 2, n), 346, 260)
    path = tmp_path / f"chunked_{chunk}.raw"
    write_raw(path, ev, chunk_events=chunk)
    assert read_events(path).equals(ev)


def test_encode_chunk_before_previous_time_is_refused():
    ev = make_events(10)
    with pytest.raises(DecodeError, match="before the previous chunk"):
        encode_evt3(ev, prev_time_us=int(ev.t[0]) // 1000 + 1)


@pytest.mark.parametrize("suffix", [".raw", ".aedat4"])
def test_large_files_are_read_by_time_window_in_bounded_memory(tmp_path, suffix):
    import tracemalloc

    from had_ros.events.io import iter_windows

    n, window = 400_000, 50_000_000
    ev = make_events(n, 346, 260, seed=4)  # 3 s
    path = tmp_path / f"big{suffix}"
    (write_raw(path, ev) if suffix == ".raw" else write_aedat4(path, ev, packet_events=4096))
    tracemalloc.start()
    try:
        count, starts = 0, []
        for a, w in iter_windows(path, window, chunk_bytes=1 << 16):
            assert w.equals(ev.time_window(a, a + window))
            count += len(w)
            starts.append(a)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n and starts[0] == ev.t[0] and np.all(np.diff(starts) == window)
    # the whole decode needs 13 bytes an event (x, y, t, p); the windows a small part of that
    assert peak < 13 * n / 4, peak
    part = read_events(path, t0=int(ev.t[n // 2]), t1=int(ev.t[n // 2]) + window)
    assert part.equals(ev.time_window(int(ev.t[n // 2]), int(ev.t[n // 2]) + window))


def test_windows_from_a_start_time_and_a_window_refusal(tmp_path):
    from had_ros.events.io import iter_windows

    ev = make_events(3000, seed=6)
    path = tmp_path / "w.raw"
    write_raw(path, ev)
    start = int(ev.t[1500])
    got = list(iter_windows(path, 100_000_000, t_start=start, chunk_bytes=512))
    assert got[0][0] == start and Events.concatenate([w for _, w in got]).equals(ev.time_window(start, 1 << 62))
    with pytest.raises(EventFileError, match="window must be > 0"):
        list(iter_windows(path, 0))
