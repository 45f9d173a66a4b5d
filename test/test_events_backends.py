"""The compiled (numba) kernels against the numpy references: same events, triggers, counters and
state for EVT3 decoding; bit-identical voxel grids, histograms and time surfaces."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from had_ros.errors import DecodeError, HadError
from had_ros.events import Events, accel, encode_evt3
from had_ros.events.evt3 import Evt3Decoder
from had_ros.events.representations import (
    VoxelGridBuffer, count_histogram, count_histogram_numpy, time_surface, time_surface_numpy, voxel_grid,
    voxel_grid_numpy,
)
from test_events_codec import BASE, TH, TL, TRIG, V8, V12, X, Y, sensor_events, words
from test_events_representations import random_events

pytest.importorskip("numba")
from had_ros.events import _kernels  # noqa: E402  (needs numba)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_packets(dec, buf: bytes, cuts) -> list:
    """(events, triggers) of each packet, the stream cut at the byte offsets ``cuts``."""
    out, start = [], 0
    for c in sorted(min(c, len(buf)) for c in cuts) + [len(buf)]:
        ev = dec.decode(buf[start:c])
        out.append((ev, dec.triggers))
        start = c
    dec.finish()
    return out


def assert_same_decoding(buf: bytes, cuts, width: int, height: int) -> None:
    """numba and numpy decoders give the same packets, triggers, counters and end state."""
    fast, ref = Evt3Decoder(width, height, "numba"), Evt3Decoder(width, height, "numpy")
    for (e1, t1), (e2, t2) in zip(decode_packets(fast, buf, cuts), decode_packets(ref, buf, cuts)):
        assert e1.equals(e2)
        assert e1.x.dtype == e2.x.dtype and e1.t.dtype == e2.t.dtype and e1.p.dtype == e2.p.dtype
        for f in ("t", "p", "id"):
            np.testing.assert_array_equal(getattr(t1, f), getattr(t2, f))
            assert getattr(t1, f).dtype == getattr(t2, f).dtype
    assert fast.stats == ref.stats
    assert fast.state.values() == ref.state.values()
    assert fast.time_us == ref.time_us


def assert_same_on_every_kernel(buf: bytes, cuts, width: int, height: int) -> None:
    """assert_same_decoding as Evt3Decoder runs (evt3_decode_fast, which hands a packet whose time
    goes back to evt3_decode or evt3_decode_vectors), and with each of those two forced for every
    packet, the fast kernel off."""
    assert_same_decoding(buf, cuts, width, height)
    original = (_kernels.evt3_decode_fast, _kernels.evt3_decode, _kernels.evt3_decode_vectors)

    def fast_off(*args):
        return 0, 0, _kernels.FAST_NEEDS_EXACT

    for forced in original[1:]:
        _kernels.evt3_decode_fast, _kernels.evt3_decode, _kernels.evt3_decode_vectors = fast_off, forced, forced
        try:
            assert_same_decoding(buf, cuts, width, height)
        finally:
            _kernels.evt3_decode_fast, _kernels.evt3_decode, _kernels.evt3_decode_vectors = original


# -- EVT3 ----------------------------------------------------------------------------------------
@SETTINGS
@given(ev=sensor_events(max_n=120), vectorize=st.booleans(), cuts=st.lists(st.integers(0, 2000), max_size=6),
       sensor_cut=st.booleans())
def test_evt3_paths_agree_on_valid_streams_split_anywhere(ev, vectorize, cuts, sensor_cut):
    # sensor_cut: decode on a smaller sensor, so some events fall outside and are counted
    w, h = (max(1, ev.width // 2), max(1, ev.height // 2)) if sensor_cut else (ev.width, ev.height)
    assert_same_decoding(encode_evt3(ev, vectorize=vectorize), cuts, w, h)


WORD_TYPES = list(range(16)) + [0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x8] * 3


@SETTINGS
@given(ws=st.lists(st.tuples(st.sampled_from(WORD_TYPES), st.integers(0, 0xFFF)), max_size=300),
       lead=st.lists(st.integers(0, 0xFFFF), max_size=4), cuts=st.lists(st.integers(0, 700), max_size=6),
       width=st.integers(1, 300), height=st.integers(1, 100))
def test_evt3_paths_agree_on_word_soup(ws, lead, cuts, width, height):
    # Any word type (unknown, ignored, triggers, TIME_HIGH steps back and wraps), words before
    # the first TIME_HIGH, odd byte cuts: every counter and the state must match.
    buf = words(*lead, TH(0), *[(t << 12) | v for t, v in ws])
    assert_same_decoding(buf, cuts, width, height)


@SETTINGS
@given(ws=st.lists(st.tuples(st.sampled_from(WORD_TYPES), st.integers(0, 0xFFF)), max_size=300),
       cuts=st.lists(st.integers(0, 700), max_size=4), width=st.integers(1, 300), height=st.integers(1, 100))
def test_every_evt3_kernel_agrees_with_the_numpy_path(ws, cuts, width, height):
    # Evt3Decoder runs evt3_decode_fast, and evt3_decode (streams of ADDR_X) or evt3_decode_vectors
    # (streams of vector words) for a packet whose time goes back; each of the two alone must
    # give the numpy path's packets, counters and state too.
    buf = words(TH(0), *[(t << 12) | v for t, v in ws])
    assert_same_on_every_kernel(buf, cuts, width, height)


@SETTINGS
@given(groups=st.lists(st.tuples(st.integers(0, 2047), st.integers(0, 1), st.integers(0, 0xFFF), st.integers(0, 0xFFF),
                                 st.integers(0, 0xFF), st.integers(0, 3), st.integers(0, 60)), max_size=40),
       cuts=st.lists(st.integers(0, 600), max_size=4), width=st.integers(1, 300), height=st.integers(1, 64))
def test_32_pixel_vector_groups_decode_alike_on_every_path(groups, cuts, width, height):
    # IMX636 streams send 32-pixel vectors as VECT_BASE_X, VECT_12, VECT_12, VECT_8, which
    # evt3_decode_fast and evt3_decode take in one step: bases near and past the right edge, rows outside, time steps
    # back (re-stamped), single ADDR_X between groups, cuts through a group.
    ws = [TH(0)]
    for base, pol, m1, m2, m3, extra, y in groups:
        ws += [TL(extra * 7 % 50), Y(y), BASE(base, pol), V12(m1), V12(m2), V8(m3)]
        ws += [X((base + k) % 2048) for k in range(extra)]
    buf = words(*ws)
    assert_same_on_every_kernel(buf, cuts, width, height)


def test_evt3_paths_agree_across_rollovers_and_numpy_chunks(monkeypatch):
    from had_ros.events import evt3 as evt3_module

    rng = np.random.default_rng(5)
    n = 20_000
    t_us = np.sort(rng.integers(0, 60_000_000, n))  # three 24-bit wraps
    t_us[rng.random(n) < 0.6] = 0
    t_us = np.maximum.accumulate(t_us)
    ev = Events.from_arrays(rng.integers(0, 200, n), rng.integers(0, 50, n), t_us * 1000, rng.integers(0, 2, n), 200, 50)
    buf = encode_evt3(ev)
    monkeypatch.setattr(evt3_module, "_CHUNK_WORDS", 777)  # the numpy path cuts into many chunks
    assert_same_decoding(buf, [1, 1001, 4096 * 3 + 1, len(buf) // 2], 200, 50)
    dec = Evt3Decoder(200, 50, "numba")
    assert dec.decode(buf).equals(ev) and dec.stats["rollovers"] == 3


def test_an_empty_vector_word_does_not_advance_time_order():
    # The last event is at t=5; a later empty vector word at t=9 gives no event, so an event at
    # t=7 in the next packet is in order on both paths (and so the same whatever the cuts).
    first = words(TH(0), TL(5), Y(1), BASE(0), V8(0b1), TL(9), V8(0))
    second = words(TL(7), X(3))
    for backend in ("numba", "numpy"):
        dec = Evt3Decoder(16, 4, backend)
        assert dec.decode(first).x.tolist() == [0]
        assert dec.decode(second).t.tolist() == [7000]
        assert dec.stats["time_clamped"] == 0


def test_evt3_vector_edges_and_drops_match():
    # vectors across the right edge of the sensor, before any y, before any base, backwards in time
    buf = words(TH(0), TL(1), V12(0xFFF), Y(2), V8(0xFF), BASE(10, 0), V12(0xFFF), V8(0xFF), TL(0),
                V8(0b1), X(1), TL(3), TRIG(1, 5), BASE(0), V12(0b101), Y(4000), V8(0b11))
    assert_same_decoding(buf, [], 24, 8)
    dec = Evt3Decoder(24, 8, "numba")
    ev = dec.decode(buf)
    # X(1) after TL(0) is older than the events before it: kept, stamped t=1 µs, counted
    assert ev.x.tolist() == [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 1, 0, 2]
    assert ev.t.tolist() == [1000] * 15 + [3000] * 2
    assert dec.stats["out_of_sensor"] == 6 + 1 + 2 and dec.stats["time_clamped"] == 1
    assert dec.stats["no_address_y"] == 12 and dec.stats["no_base_x"] == 8
    assert dec.triggers.t.tolist() == [3000] and dec.triggers.id.tolist() == [5]


def test_the_fast_kernel_hands_on_what_it_cannot_do_and_leaves_the_state_alone():
    # evt3_decode_fast refuses a packet whose time goes back (FAST_NEEDS_EXACT) and outputs too
    # short for its vectors or triggers (FAST_NEEDS_ROOM), with the state as it was.
    back = np.frombuffer(words(TH(0), TL(9), Y(1), X(2), TL(5), X(3)), np.uint16)
    dense = np.frombuffer(words(TH(0), Y(1), BASE(0), *[V12(0xFFF)] * 60), np.uint16)
    trig = np.frombuffer(words(TH(0), *[TRIG(1, 2)] * 5), np.uint16)
    for w, room, n_trig, status in ((back, 300, 4, _kernels.FAST_NEEDS_EXACT),
                                    (dense, 400, 4, _kernels.FAST_NEEDS_ROOM),
                                    (trig, 300, 4, _kernels.FAST_NEEDS_ROOM),
                                    (trig, 300, 5, _kernels.FAST_OK_COUNTED)):
        state = Evt3Decoder(1000, 10).state
        before = state.array.copy()
        out = (np.empty(room, np.uint16), np.empty(room, np.uint16), np.empty(room, np.int64), np.empty(room, np.uint8))
        res = _kernels.evt3_decode_fast(w, state.array, 1000, 10, *out, np.empty((n_trig, 3), np.int64))
        assert res[2] == status
        if status < 0:
            np.testing.assert_array_equal(state.array, before)
    # words + FAST_SLACK events: always enough for a stream of single events
    w = np.frombuffer(words(TH(0), Y(1), *[X(3)] * 50), np.uint16)
    room = len(w) + _kernels.FAST_SLACK
    out = (np.empty(room, np.uint16), np.empty(room, np.uint16), np.empty(room, np.int64), np.empty(room, np.uint8))
    assert _kernels.evt3_decode_fast(w, Evt3Decoder(8, 8).state.array, 8, 8, *out, np.empty((1, 3), np.int64)) == (
        50, 0, _kernels.FAST_OK)


def test_dense_vectors_and_many_triggers_grow_the_fast_path_room():
    # The first packet of dense vectors (12 events a word) and 40 triggers outruns the room of
    # one event a word: decoded exactly all the same, and the decoder gives the next packets room.
    def packet(t):
        return words(TL(t), Y(3), BASE(0), *[V12(0xFFF), V8(0xFF)] * 20, *[TRIG(t % 2, 1)] * 40)

    stream = words(TH(0)) + b"".join(packet(t) for t in range(1, 40))
    cuts = list(range(2 + len(packet(1)), len(stream), len(packet(1))))
    assert_same_decoding(stream, cuts, 1000, 8)
    dec = Evt3Decoder(1000, 8, "numba")
    calls = []
    fast = _kernels.evt3_decode_fast

    def counting(*args):
        res = fast(*args)
        calls.append(res[2])
        return res

    _kernels.evt3_decode_fast = counting
    try:
        events = [dec.decode(p) for p in (stream[:2 + len(packet(1))], *[packet(t) for t in range(2, 6)])]
    finally:
        _kernels.evt3_decode_fast = fast
    assert [len(e) for e in events] == [400] * 5 and [len(dec.triggers)] == [40]
    assert calls[0] == _kernels.FAST_NEEDS_ROOM and set(calls[1:]) == {_kernels.FAST_OK_COUNTED}
    assert dec._room > 5 and len(dec._trig) >= 40  # 400 events in 83 words


def test_invalid_single_events_are_dropped_in_order_by_the_fast_path():
    # ADDR_X events before any row and outside the sensor are removed after the word loop,
    # the others kept in order with their times
    buf = words(TH(0), TL(1), X(0), X(1), Y(2), X(3), X(50), TL(4), X(4), Y(9), X(5), Y(3), X(6))
    dec = Evt3Decoder(10, 4, "numba")
    ev = dec.decode(buf)
    assert ev.x.tolist() == [3, 4, 6] and ev.y.tolist() == [2, 2, 3] and ev.t.tolist() == [1000, 4000, 4000]
    assert dec.stats["no_address_y"] == 2 and dec.stats["out_of_sensor"] == 2
    assert_same_decoding(buf, [5, 11], 10, 4)


def test_a_stream_may_switch_paths_at_any_packet():
    ev = Events.from_arrays(np.arange(40) % 30, np.arange(40) // 4, np.arange(40) * 777_000, np.arange(40) % 2, 30, 10)
    buf = encode_evt3(ev)
    dec, parts = Evt3Decoder(30, 10), []
    for i, start in enumerate(range(0, len(buf), 7)):
        with accel.numpy_only(i % 2 == 1):
            parts.append(dec.decode(buf[start:start + 7]))
    assert Events.concatenate(parts).equals(ev)


def test_unaligned_and_writable_buffers_decode_alike():
    ev = Events.from_arrays([1, 2, 3, 9], [0, 0, 1, 2], [1000, 1000, 2000, 2000], [1, 1, 0, 1], 10, 4)
    buf = encode_evt3(ev)
    unaligned = memoryview(b"\0" + buf)[1:]
    for data in (buf, bytearray(buf), unaligned, np.frombuffer(buf, np.uint8).copy()):
        assert Evt3Decoder(10, 4, "numba").decode(data).equals(ev)


def test_no_numba_env_forces_the_numpy_path(monkeypatch):
    monkeypatch.setenv(accel.ENV_NO_NUMBA, "1")
    assert accel.kernels() is None and accel.backend() == "numpy"

    def fail(*args):
        raise AssertionError("the compiled path ran")

    monkeypatch.setattr(Evt3Decoder, "_decode_compiled", fail)
    monkeypatch.setattr(_kernels, "voxel_grid", fail)
    ev = Events.from_arrays([1], [1], [1000], [1], 4, 4)
    assert Evt3Decoder(4, 4).decode(encode_evt3(ev)).equals(ev)
    assert voxel_grid(ev, 2, 4, 4, 0, 2000).sum() == 1.0
    monkeypatch.setenv(accel.ENV_NO_NUMBA, "0")  # '0' means: do not force
    assert accel.backend() == "numba"
    with accel.numpy_only():
        assert accel.backend() == "numpy"
        with accel.numpy_only(False):
            assert accel.backend() == "numba"
        assert accel.backend() == "numpy"
    assert os.environ[accel.ENV_NO_NUMBA] == "0"  # restored


def test_missing_numba_falls_back_and_explicit_backends(monkeypatch):
    monkeypatch.delenv(accel.ENV_NO_NUMBA, raising=False)
    monkeypatch.setattr(accel, "_kernels", None)
    monkeypatch.setattr(accel, "_import_failed", True)  # as after a failed `import numba`
    assert accel.kernels() is None
    ev = Events.from_arrays([2], [1], [5000], [0], 4, 4)
    assert Evt3Decoder(4, 4).decode(encode_evt3(ev)).equals(ev)
    with pytest.raises(DecodeError, match="backend"):
        Evt3Decoder(4, 4, "rust")


def test_require_kernels_names_numba_when_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_kernels(name, globals=None, locals=None, fromlist=(), level=0):
        if fromlist and "_kernels" in fromlist:
            raise ImportError("No module named 'numba'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", no_kernels)
    with pytest.raises(HadError, match="numba"):
        accel.require_kernels()


def test_jit_drops_the_disk_cache_when_no_location_is_writable(monkeypatch):
    calls = []

    def fake_njit(**options):
        calls.append(options)
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return lambda fn: ("compiled", fn)

    monkeypatch.setattr(_kernels.numba, "njit", fake_njit)

    def f():
        return 1

    assert _kernels._jit(f) == ("compiled", f)
    assert calls == [{"cache": True, "nogil": True}, {"nogil": True}]


# -- representations -----------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(data=random_events(), bins=st.integers(1, 7), shuffle=st.booleans(),
       window=st.tuples(st.integers(0, 50_000_000), st.integers(1, 50_000_000)))
def test_representations_are_identical_on_both_paths(data, bins, shuffle, window):
    ev, h, w = data
    if shuffle:  # unsorted input is sorted first, on both paths
        ev = ev[np.random.default_rng(len(ev)).permutation(len(ev))]
    t0, t1 = window[0], window[0] + window[1]
    g = voxel_grid(ev, bins, h, w, t0, t1)
    ref = voxel_grid_numpy(ev, bins, h, w, t0, t1)
    assert g.dtype == ref.dtype == np.float32 and g.shape == ref.shape
    np.testing.assert_array_equal(g.view(np.uint32), ref.view(np.uint32))  # bit for bit
    np.testing.assert_array_equal(count_histogram(ev, h, w), count_histogram_numpy(ev, h, w))
    t_ref = None if shuffle else t0 + window[1] // 2
    s = time_surface(ev, h, w, 3e6, t_ref)
    np.testing.assert_array_equal(s.view(np.uint32), time_surface_numpy(ev, h, w, 3e6, t_ref).view(np.uint32))


def test_voxel_grid_windows_on_a_large_sensor_are_identical():
    # Short windows on a large grid and long ones, one grid size after another.
    rng = np.random.default_rng(3)
    n, W, H = 30_000, 320, 240
    t = np.sort(rng.integers(0, 10**9, n))
    ev = Events.from_arrays(rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n), W, H)
    for t0, t1 in [(0, 10**9), (0, 33_000_000), (33_000_000, 66_000_000), (500_000_000, 500_001_000), (0, 10**9)]:
        for bins in (1, 5):
            g, ref = voxel_grid(ev, bins, H, W, t0, t1), voxel_grid_numpy(ev, bins, H, W, t0, t1)
            np.testing.assert_array_equal(g.view(np.uint32), ref.view(np.uint32))
    g = voxel_grid(ev, 5, 64, 64, 0, 10**9)  # a crop-sized grid after a large one
    np.testing.assert_array_equal(g, voxel_grid_numpy(ev, 5, 64, 64, 0, 10**9))


def _bits(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).view(np.uint32)


def test_voxel_grid_into_a_reused_output_equals_a_new_grid():
    # Window after window into one VoxelGridBuffer (which zeroes only what its last grid wrote)
    # and into one array (zeroed whole): every grid bit for bit the new grid of both paths, also
    # after a busier window, an empty one, unsorted events and a numpy-path call in between.
    rng = np.random.default_rng(11)
    n, W, H, bins = 40_000, 320, 240, 5
    t = np.sort(rng.integers(0, 10**9, n))
    ev = Events.from_arrays(rng.integers(0, W, n), rng.integers(0, H, n), t, rng.integers(0, 2, n), W, H)
    buf, arr = VoxelGridBuffer(bins, H, W), np.full((bins, H, W), 7.0, np.float32)
    windows = [(0, 10**9), (0, 33_000_000), (33_000_000, 66_000_000), (700_000_000, 700_000_001),
               (66_000_000, 99_000_000), (0, 500_000_000), (10**9, 2 * 10**9), (5_000_000, 40_000_000)]
    for i, (t0, t1) in enumerate(windows):
        src = ev if i != 4 else ev[rng.permutation(n)]  # unsorted: sorted first
        ref = voxel_grid_numpy(ev, bins, H, W, t0, t1)
        if i == 6:  # the numpy path into the buffer: it forgets which cells were written
            with accel.numpy_only():
                assert voxel_grid(src, bins, H, W, t0, t1, out=buf) is buf.grid
        g = voxel_grid(src, bins, H, W, t0, t1, out=buf)
        assert g is buf.grid and not g.flags.writeable
        np.testing.assert_array_equal(_bits(g), _bits(ref))
        assert voxel_grid(src, bins, H, W, t0, t1, out=arr) is arr
        np.testing.assert_array_equal(_bits(arr), _bits(ref))
        np.testing.assert_array_equal(_bits(voxel_grid_numpy(src, bins, H, W, t0, t1, out=arr)), _bits(ref))
        np.testing.assert_array_equal(_bits(voxel_grid(src, bins, H, W, t0, t1)), _bits(ref))


@pytest.mark.parametrize("path", [voxel_grid, voxel_grid_numpy])
def test_voxel_grid_refuses_an_output_that_does_not_fit(path):
    ev = Events.from_arrays([1, 2], [1, 1], [0, 10], [1, 0], 8, 4)
    read_only = np.zeros((2, 4, 8), np.float32)
    read_only.flags.writeable = False
    bad = {"got float32 (3, 4, 8)": np.zeros((3, 4, 8), np.float32), "got float64 (2, 4, 8)": np.zeros((2, 4, 8)),
           "not C-contiguous": np.zeros((2, 8, 4), np.float32).transpose(0, 2, 1), "read-only": read_only,
           "VoxelGridBuffer of (2, 4, 9)": VoxelGridBuffer(2, 4, 9), "got list": [0.0] * 64}
    for message, out in bad.items():
        with pytest.raises(DecodeError, match="voxel_grid: out") as info:
            path(ev, 2, 4, 8, 0, 20, out=out)
        assert message in str(info.value)
    with pytest.raises(DecodeError, match="size must be positive"):
        VoxelGridBuffer(0, 4, 8)


def test_representation_inputs_of_any_layout_use_one_signature():
    ev = Events.from_arrays([0, 1, 2, 3], [0, 1, 1, 2], [0, 10, 20, 30], [1, 0, 1, 1], 4, 3)
    rec = ev.as_structured()  # strided field views, another dtype layout
    strided = Events(rec["x"], rec["y"], rec["t"], rec["p"], 4, 3)
    for e in (ev, strided):
        np.testing.assert_array_equal(voxel_grid(e, 3, 3, 4, 0, 40), voxel_grid_numpy(e, 3, 3, 4, 0, 40))
        np.testing.assert_array_equal(count_histogram(e, 3, 4), count_histogram_numpy(e, 3, 4))
        np.testing.assert_array_equal(time_surface(e, 3, 4, 25.0), time_surface_numpy(e, 3, 4, 25.0))
    for kernel in (_kernels.voxel_grid, _kernels.clear_cells, _kernels.count_histogram, _kernels.latest_times,
                   _kernels.is_sorted, _kernels.evt3_count, _kernels.evt3_decode, _kernels.evt3_decode_vectors,
                   _kernels.evt3_decode_fast, _kernels._drop_invalid):
        assert len(kernel.signatures) <= 1, kernel
