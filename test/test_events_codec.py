"""EVT3 / mono / trigger codecs: round trips, packet splitting, rollover and bad input."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from had_ros.errors import DecodeError
from had_ros.events import (
    Events, encode_evt3, encode_mono, encode_trigger, make_decoder,
)
from had_ros.events.evt3 import ROLLOVER_MARGIN

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROLL_US = 1 << 24  # the 24-bit µs counter wraps every 16.777216 s


def words(*ws: int) -> bytes:
    return np.array(ws, "<u2").tobytes()


def TH(v): return 0x8000 | v          # noqa: E704  (word builders, named as in the spec)
def TL(v): return 0x6000 | v          # noqa: E704
def Y(v): return 0x0000 | v           # noqa: E704
def X(v, p=1): return 0x2000 | p << 11 | v  # noqa: E704
def BASE(v, p=1): return 0x3000 | p << 11 | v  # noqa: E704
def V12(m): return 0x4000 | m         # noqa: E704
def V8(m): return 0x5000 | m          # noqa: E704
def TRIG(edge, id_): return 0xA000 | id_ << 8 | edge  # noqa: E704


@st.composite
def sensor_events(draw, max_n=150, width=None, height=None, max_gap_us=3_000):
    """Valid events: inside the sensor, sorted, whole µs; runs of same-time same-row events
    with increasing x appear often so the encoder emits vectors."""
    w = width or draw(st.integers(1, 2048))
    h = height or draw(st.integers(1, 2048))
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    gaps = rng.integers(0, max_gap_us + 1, n)
    gaps[rng.random(n) < 0.5] = 0  # many events share a µs
    t_us = np.cumsum(gaps) + draw(st.integers(0, 3 * ROLL_US))
    y = rng.integers(0, h, n)
    p = rng.integers(0, 2, n)
    x = rng.integers(0, w, n)
    # make some runs: same t, y, p, consecutive x
    same = np.zeros(n, bool)
    same[1:] = rng.random(max(n - 1, 0)) < 0.6
    for i in np.flatnonzero(same):
        t_us[i], y[i], p[i] = t_us[i - 1], y[i - 1], p[i - 1]
        x[i] = min(x[i - 1] + rng.integers(1, 4), w - 1)
    t_us = np.maximum.accumulate(t_us)
    return Events.from_arrays(x, y, t_us * 1000, p, w, h)


@SETTINGS
@given(ev=sensor_events(), vectorize=st.booleans())
def test_evt3_encode_decode_is_identity(ev, vectorize):
    dec = make_decoder("evt3", ev.width, ev.height)
    out = dec.decode(encode_evt3(ev, vectorize=vectorize))
    assert out.equals(ev)
    assert dec.stats["events"] == len(ev)
    assert dec.stats["out_of_sensor"] == dec.stats["time_clamped"] == 0


@SETTINGS
@given(ev=sensor_events(max_n=80), data=st.data())
def test_evt3_any_byte_split_decodes_the_same(ev, data):
    buf = encode_evt3(ev)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(buf)), max_size=8)))
    dec = make_decoder("evt3", ev.width, ev.height)
    parts, start = [], 0
    for c in cuts + [len(buf)]:
        parts.append(dec.decode(buf[start:c]))
        start = c
    assert Events.concatenate(parts, ev.width, ev.height).equals(ev)
    assert dec.pending_bytes == 0


def test_evt3_vectors_are_used_and_expanded():
    # 12 ON events in one row at one time: VECT_12 (+ a base word) instead of 12 ADDR_X.
    x = np.arange(100, 112)
    ev = Events.from_arrays(x, np.full(12, 7), np.full(12, 5000), np.ones(12), 640, 480)
    buf = encode_evt3(ev)
    w = np.frombuffer(buf, "<u2")
    assert np.count_nonzero(w >> 12 == 0x4) == 1 and np.count_nonzero(w >> 12 == 0x2) == 0
    assert make_decoder("evt3", 640, 480).decode(buf).equals(ev)


def test_evt3_hand_written_stream():
    # TH 1, TL 5 -> t = 4096 + 5 µs; y 3; ADDR_X 10 OFF; base 20 ON; VECT_12 bits 0,2; VECT_8 bit 1
    buf = words(TH(1), TL(5), Y(3), X(10, 0), BASE(20, 1), V12(0b101), V8(0b10))
    ev = make_decoder("evt3", 64, 8).decode(buf)
    assert ev.x.tolist() == [10, 20, 22, 33]  # the VECT_8 starts at 20 + 12
    assert ev.y.tolist() == [3, 3, 3, 3]
    assert ev.p.tolist() == [0, 1, 1, 1]
    assert ev.t.tolist() == [4101_000] * 4


def test_evt3_new_time_high_starts_its_period_at_low_zero():
    # As Prophesee's decoder (OpenEB): a TIME_HIGH that changes the high part sets the low part to
    # 0 until the next TIME_LOW; one that repeats the high part keeps it.
    buf = words(TH(0), TL(7), Y(1), TH(2), X(4), TL(9), X(5), TH(2), X(6))
    ev = make_decoder("evt3", 8, 8).decode(buf)
    assert ev.t.tolist() == [(2 << 12) * 1000, (2 << 12 | 9) * 1000, (2 << 12 | 9) * 1000]


def test_evt3_event_between_time_high_and_its_time_low_is_not_stamped_ahead():
    # event_camera_codecs keeps the old low part across a TIME_HIGH: the event between the
    # TIME_HIGH and its TIME_LOW comes out ~4 ms ahead and everything after it looks older.
    # Here it gets the start of the new period and the stream stays in order, nothing lost.
    buf = words(TH(5), TL(4090), Y(0), X(1), TH(6), X(2), TL(3), X(3), X(4))
    dec = make_decoder("evt3", 8, 1)
    ev = dec.decode(buf)
    assert ev.x.tolist() == [1, 2, 3, 4]
    assert ev.t.tolist() == [(5 << 12 | 4090) * 1000, (6 << 12) * 1000] + [(6 << 12 | 3) * 1000] * 2
    assert dec.stats["time_clamped"] == 0


def test_evt3_rollover_keeps_time_monotonic():
    # Sparse events over 60 s: three 24-bit wraps, gaps longer than a wrap included.
    t_us = np.array([0, 5, 16_000_000, 16_800_000, 17_000_000, 40_000_000, 60_000_000, 60_000_001])
    ev = Events.from_arrays(np.arange(8), np.zeros(8), t_us * 1000, np.ones(8), 16, 1)
    dec = make_decoder("evt3", 16, 1)
    out = dec.decode(encode_evt3(ev))
    assert out.equals(ev)
    assert np.all(np.diff(out.t) >= 0)
    assert dec.stats["rollovers"] == 60_000_001 // ROLL_US


def test_evt3_small_time_high_step_back_is_jitter_not_rollover():
    buf = words(TH(100), TL(0), Y(0), X(1), TH(100 - ROLLOVER_MARGIN), TL(0), X(2), TH(101), TL(0), X(3))
    dec = make_decoder("evt3", 8, 1)
    ev = dec.decode(buf)
    assert dec.stats["rollovers"] == 0
    assert ev.x.tolist() == [1, 2, 3]  # the event in the stepped-back time is kept...
    assert ev.t.tolist() == [(100 << 12) * 1000, (100 << 12) * 1000, (101 << 12) * 1000]  # ...in order
    assert dec.stats["time_clamped"] == 1  # ...and counted


@pytest.mark.parametrize("back", [1, ROLLOVER_MARGIN])
def test_evt3_time_high_jitter_loses_no_events(back):
    # A sensor stream (64 events a TIME_HIGH period) whose TIME_HIGH steps back by `back` for one
    # period and then goes on: every event is kept, the output stays sorted, and only the events
    # of the stepped-back period are re-stamped (to the newest time seen).
    ws, expected_t = [], []
    for k, high in enumerate([200, 201, 201 - back, 202, 203]):
        ws.append(TH(high))
        for i in range(64):
            ws += [TL(i * 64), Y(i % 4), X(i % 8)]
            expected_t.append((high << 12 | i * 64) if k != 2 else (201 << 12 | 63 * 64))
    dec = make_decoder("evt3", 8, 4)
    ev = dec.decode(words(*ws))
    assert len(ev) == 5 * 64 and ev.is_sorted()
    assert ev.t.tolist() == [t * 1000 for t in expected_t]
    assert dec.stats["time_clamped"] == 64 and dec.stats["rollovers"] == 0


def test_evt3_triggers_reported_separately():
    buf = words(TH(0), TL(10), TRIG(1, 3), Y(0), X(1), TL(20), TRIG(0, 3))
    dec = make_decoder("evt3", 4, 1)
    ev = dec.decode(buf)
    assert len(ev) == 1
    assert dec.triggers.t.tolist() == [10_000, 20_000]
    assert dec.triggers.p.tolist() == [1, 0]
    assert dec.triggers.id.tolist() == [3, 3]
    assert dec.stats["triggers"] == 2


# -- bad input: clear error or counted skip, never a crash -----------------------------------------
def test_unknown_encoding_names_it_and_the_known_ones():
    with pytest.raises(DecodeError, match=r"'evt4'.*evt2, evt21, evt3, libcaer, libcaer_cmp, mono, trigger"):
        make_decoder("evt4", 10, 10)


def test_bad_sensor_size_and_buffer_type():
    with pytest.raises(DecodeError, match="sensor size"):
        make_decoder("evt3", 0, 10)
    dec = make_decoder("evt3", 10, 10)
    with pytest.raises(DecodeError, match="bytes-like"):
        dec.decode("not bytes")
    with pytest.raises(DecodeError, match="bytes-like"):
        dec.decode(12345)


def test_empty_packets_change_nothing():
    dec = make_decoder("evt3", 10, 10)
    assert len(dec.decode(b"")) == 0
    buf = words(TH(0), TL(1), Y(2), X(3))
    assert dec.decode(buf[:3]).equals(Events.empty(10, 10))
    assert len(dec.decode(b"")) == 0
    ev = dec.decode(buf[3:])
    assert ev.x.tolist() == [3] and ev.t.tolist() == [1000]


def test_odd_byte_counts_wait_for_the_next_packet_and_truncation_is_counted():
    dec = make_decoder("evt3", 10, 10)
    buf = words(TH(0), TL(1), Y(2), X(3), X(4))
    ev = dec.decode(buf[:-1])  # the last word is cut in half
    assert ev.x.tolist() == [3] and dec.pending_bytes == 1
    assert dec.finish() == 1 and dec.stats["truncated_bytes"] == 1
    assert dec.pending_bytes == 0


def test_words_before_first_time_high_are_skipped_and_counted():
    dec = make_decoder("evt3", 10, 10)
    ev = dec.decode(words(Y(1), X(1), TL(4), TH(0), TL(2), Y(5), X(6)))
    assert ev.x.tolist() == [6] and ev.t.tolist() == [2000]
    assert dec.stats["before_time_high"] == 3


def test_unknown_and_ignored_word_types_are_counted():
    dec = make_decoder("evt3", 10, 10)
    ev = dec.decode(words(TH(0), TL(2), 0x1234, Y(5), 0x9ABC, X(6), 0xE001, 0x7000, 0xF000, 0xD000))
    assert ev.x.tolist() == [6]
    assert dec.stats["unknown_words"] == 3 and dec.stats["ignored_words"] == 3


def test_out_of_sensor_events_are_dropped_and_counted():
    ev = Events.from_arrays([1, 9, 2, 3], [1, 1, 9, 2], [0, 1000, 2000, 3000], [1, 1, 1, 1], 10, 10)
    dec = make_decoder("evt3", 5, 5)
    out = dec.decode(encode_evt3(ev))
    assert out.x.tolist() == [1, 3] and out.width == 5
    assert dec.stats["out_of_sensor"] == 2


def test_events_before_any_y_or_base_are_dropped_and_counted():
    dec = make_decoder("evt3", 64, 8)
    ev = dec.decode(words(TH(0), TL(1), X(1), Y(2), V12(0b11), BASE(4), V12(0b1)))
    assert ev.x.tolist() == [4] and ev.y.tolist() == [2]
    assert dec.stats["no_address_y"] == 1 and dec.stats["no_base_x"] == 2


@SETTINGS
@given(data=st.binary(max_size=400), width=st.integers(1, 64), height=st.integers(1, 64))
def test_garbage_never_crashes_and_yields_sorted_in_sensor_events(data, width, height):
    dec = make_decoder("evt3", width, height)
    ev = dec.decode(data)
    assert ev.is_sorted()
    assert np.all(ev.x < width) and np.all(ev.y < height) and np.all(ev.t >= 0)


def test_state_is_carried_across_packets():
    dec = make_decoder("evt3", 64, 8)
    a = dec.decode(words(TH(1), TL(3), Y(4), BASE(10, 0)))
    b = dec.decode(words(V12(0b1), X(2)))
    assert len(a) == 0
    assert b.x.tolist() == [10, 2] and b.y.tolist() == [4, 4] and b.p.tolist() == [0, 1]
    assert b.t.tolist() == [(1 << 12 | 3) * 1000] * 2


def test_encoder_refuses_unsorted_negative_and_too_wide():
    with pytest.raises(DecodeError, match="sorted"):
        encode_evt3(Events.from_arrays([1, 2], [1, 1], [2000, 1000], [1, 1], 10, 10))
    with pytest.raises(DecodeError, match=">= 0"):
        encode_evt3(Events.from_arrays([1], [1], [-1000], [1], 10, 10))
    with pytest.raises(DecodeError, match="11-bit"):
        encode_evt3(Events.from_arrays([3000], [1], [0], [1], 4000, 10))


def test_encoder_floors_to_microseconds():
    ev = Events.from_arrays([1, 2], [0, 0], [1999, 2001], [1, 0], 4, 1)
    out = make_decoder("evt3", 4, 1).decode(encode_evt3(ev))
    assert out.t.tolist() == [1000, 2000]


def test_long_buffers_are_decoded_in_chunks_identically():
    from had_ros.events import evt3 as evt3_module

    rng = np.random.default_rng(1)
    n = 30_000
    ev = Events.from_arrays(rng.integers(0, 300, n), rng.integers(0, 200, n),
                            np.sort(rng.integers(0, 10**10, n)) // 1000 * 1000, rng.integers(0, 2, n), 300, 200)
    buf = encode_evt3(ev)
    old = evt3_module._CHUNK_WORDS
    evt3_module._CHUNK_WORDS = 1000  # force many chunks
    try:
        dec = make_decoder("evt3", 300, 200)
        assert dec.decode(buf).equals(ev)
    finally:
        evt3_module._CHUNK_WORDS = old


# -- mono / trigger ------------------------------------------------------------------------------
@SETTINGS
@given(ev=sensor_events(max_n=100, max_gap_us=20_000), base=st.integers(0, 10**15), data=st.data())
def test_mono_round_trip_and_split(ev, base, data):
    ns = Events.from_arrays(ev.x, ev.y, ev.t - (ev.t[0] if len(ev) else 0) + base, ev.p, ev.width, ev.height)
    buf = encode_mono(ns, time_base=base)
    assert len(buf) == 8 * len(ns)
    cut = data.draw(st.integers(0, len(buf)))
    dec = make_decoder("mono", ev.width, ev.height)
    out = Events.concatenate([dec.decode(buf[:cut], time_base=base), dec.decode(buf[cut:], time_base=base)],
                             ev.width, ev.height)
    assert out.equals(ns)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mono_compiled_and_numpy_paths_agree_on_messy_packets(seed):
    """Words off the sensor, times going back within and across packets, a packet split inside
    a word: the compiled kernel gives the numpy path's events and counters."""
    from had_ros.events import accel

    rng = np.random.default_rng(seed)
    w, h, n = 346, 260, 5000
    t = np.sort(rng.integers(0, 10**6, n))
    t[rng.integers(0, n, 40)] -= rng.integers(1, 5000, 40)  # some older than the ones before
    t = np.clip(t, 0, None)
    x, y = rng.integers(0, 400, n), rng.integers(0, 300, n)  # about a quarter off the sensor
    words = (t.astype(np.uint64) | x.astype(np.uint64) << np.uint64(32) | y.astype(np.uint64) << np.uint64(48)
             | rng.integers(0, 2, n).astype(np.uint64) << np.uint64(63))
    buf = words.astype("<u8").tobytes()
    cuts = sorted(rng.integers(0, len(buf), 4))
    results = []
    for numpy_path in (True, False):
        with accel.numpy_only(numpy_path):
            dec = make_decoder("mono", w, h)
            parts = [dec.decode(buf[a:b], time_base=1000 * i) for i, (a, b) in enumerate(zip([0, *cuts], [*cuts, len(buf)]))]
            results.append((Events.concatenate(parts, w, h), dict(dec.stats)))
    (a, sa), (b, sb) = results
    assert a.equals(b) and sa == sb
    assert sa["out_of_sensor"] > 0 and sa["time_clamped"] > 0
    assert np.all(np.diff(b.t) >= 0)


def test_mono_bad_input():
    dec = make_decoder("mono", 10, 10)
    with pytest.raises(DecodeError, match="time_base"):
        dec.decode(b"", time_base=-1)
    ev = Events.from_arrays([1, 20, 3, 4], [1, 1, 1, 1], [100, 200, 300, 250], [1, 0, 1, 0], 30, 30)
    out = dec.decode(encode_mono(ev, time_base=0))
    assert out.x.tolist() == [1, 3, 4] and out.t.tolist() == [100, 300, 300]  # 250 is kept at 300
    assert dec.stats["out_of_sensor"] == 1 and dec.stats["time_clamped"] == 1
    with pytest.raises(DecodeError, match="2\\*\\*32"):
        encode_mono(Events.from_arrays([1], [1], [1 << 33], [1], 4, 4), time_base=0)
    with pytest.raises(DecodeError, match="time_base"):
        encode_mono(Events.from_arrays([1], [1], [5], [1], 4, 4), time_base=10)


def test_trigger_decoder():
    dec = make_decoder("trigger", 10, 10)
    buf = encode_trigger([1000, 5000], [1, 0], time_base=500)
    assert len(dec.decode(buf[:5], time_base=500)) == 0  # triggers are not pixel events
    assert len(dec.triggers) == 0 and dec.pending_bytes == 5
    dec.decode(buf[5:12], time_base=500)
    assert dec.triggers.t.tolist() == [1000] and dec.triggers.p.tolist() == [1]
    dec.decode(buf[12:], time_base=500)
    assert dec.triggers.t.tolist() == [5000] and dec.triggers.p.tolist() == [0]
    assert dec.stats["triggers"] == 2


def test_decoders_accept_the_buffer_types_ros_delivers():
    import array

    ev = Events.from_arrays([1, 2], [0, 1], [1000, 2000], [1, 0], 4, 4)
    buf = encode_evt3(ev)
    for kind in (bytes, bytearray, memoryview, lambda b: array.array("B", b),
                 lambda b: np.frombuffer(b, np.uint8), lambda b: list(b)):
        assert make_decoder("evt3", 4, 4).decode(kind(buf)).equals(ev)


def test_empty_vector_masks_only_advance_the_base():
    dec = make_decoder("evt3", 64, 8)
    assert len(dec.decode(words(TH(0), TL(1), Y(2), BASE(4), V12(0), V8(0)))) == 0
    ev = dec.decode(words(V12(0b1)))  # base is now 4 + 12 + 8
    assert ev.x.tolist() == [24] and ev.y.tolist() == [2]


@SETTINGS
@given(ws=st.lists(st.tuples(st.sampled_from(list(range(16)) + [0x2, 0x4, 0x5, 0x6, 0x8] * 3),
                             st.integers(0, 0xFFF)), max_size=200),
       cuts=st.lists(st.integers(0, 400), max_size=6))
def test_word_soup_is_decoded_alike_whole_or_split_and_stays_valid(ws, cuts):
    buf = words(TH(0), *[(t << 12) | v for t, v in ws])
    whole_dec = make_decoder("evt3", 100, 50)
    whole = whole_dec.decode(buf)
    assert whole.is_sorted() and np.all(whole.x < 100) and np.all(whole.y < 50)
    dec, parts, start = make_decoder("evt3", 100, 50), [], 0
    for c in sorted(min(c, len(buf)) for c in cuts) + [len(buf)]:
        parts.append(dec.decode(buf[start:c]))
        start = c
    assert Events.concatenate(parts, 100, 50).equals(whole)
    for key in ("events", "out_of_sensor", "time_clamped", "no_address_y", "no_base_x", "unknown_words"):
        assert dec.stats[key] == whole_dec.stats[key], key


def test_triggers_of_a_chunked_buffer_are_all_reported_and_time_us_follows():
    from had_ros.events import evt3 as evt3_module

    ws = [TH(0)]
    for k in range(1, 301):
        ws += [TL(k), TRIG(k % 2, 2), Y(1), X(k % 7)]
    old = evt3_module._CHUNK_WORDS
    evt3_module._CHUNK_WORDS = 64
    try:
        dec = make_decoder("evt3", 8, 2)
        assert dec.time_us is None
        ev = dec.decode(words(*ws))
    finally:
        evt3_module._CHUNK_WORDS = old
    assert len(ev) == 300 and dec.triggers.t.tolist() == [k * 1000 for k in range(1, 301)]
    assert dec.triggers.p.tolist() == [k % 2 for k in range(1, 301)]
    assert dec.time_us == 300


def test_dropped_events_do_not_re_stamp_kept_ones():
    # An event outside the sensor at t=10 is dropped; the real event after it at t=5 keeps its
    # time (only kept events set the newest time), on every decoder path.
    from had_ros.events.evt3 import Evt3Decoder

    buf = words(TH(0), TL(10), Y(500), X(1), Y(0), TL(5), X(2))
    for backend in ("numpy", "numba"):
        if backend == "numba":
            pytest.importorskip("numba")
        dec = Evt3Decoder(8, 8, backend)
        ev = dec.decode(buf)
        assert ev.x.tolist() == [2] and ev.t.tolist() == [5000]
        assert dec.stats["out_of_sensor"] == 1 and dec.stats["time_clamped"] == 0
    mono = make_decoder("mono", 10, 10)
    out = mono.decode(encode_mono(Events.from_arrays([20, 1], [1, 1], [900, 500], [1, 1], 30, 30), time_base=0))
    assert out.t.tolist() == [500] and mono.stats["time_clamped"] == 0
