"""EVT 2.0 / 2.1, libcaer and libcaer_cmp: round trips, any split point, hand-written words from the
format descriptions, and padding/vendor words skipped and counted. (The real EVT 2.0 recording is
checked against expelliarmus in test_events_real.py.)"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from had_ros.errors import DecodeError
from had_ros.events import Events, make_decoder
from had_ros.events.evt2 import encode_evt2, encode_evt21
from had_ros.events.libcaer import encode_libcaer, encode_libcaer_cmp
from test_events_codec import sensor_events

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def split_decode(dec, buf: bytes, cuts, **kw) -> Events:
    parts, start = [], 0
    for c in sorted(min(c, len(buf)) for c in cuts) + [len(buf)]:
        parts.append(dec.decode(buf[start:c], **kw))
        start = c
    assert dec.pending_bytes == 0
    return Events.concatenate(parts, dec.width, dec.height)


def shifted(ev: Events, time_base: int) -> Events:
    """ev moved to start at time_base (ns, whole µs kept)."""
    t0 = int(ev.t[0]) if len(ev) else 0
    return Events(ev.x, ev.y, ev.t - t0 + time_base, ev.p, ev.width, ev.height)


# -- EVT 2.0 / 2.1 ---------------------------------------------------------------------------------
@SETTINGS
@given(ev=sensor_events(max_n=120, max_gap_us=300), data=st.data())
def test_evt2_round_trip_and_any_split(ev, data):
    buf = encode_evt2(ev)
    cuts = data.draw(st.lists(st.integers(0, len(buf)), max_size=6))
    dec = make_decoder("evt2", ev.width, ev.height)
    assert split_decode(dec, buf, cuts).equals(ev)
    assert dec.stats["events"] == len(ev) and dec.stats["time_clamped"] == 0


@SETTINGS
@given(ev=sensor_events(max_n=120, max_gap_us=300), endianness=st.sampled_from(["little", "legacy"]),
       data=st.data())
def test_evt21_round_trip_and_any_split(ev, endianness, data):
    buf = encode_evt21(ev, endianness)
    cuts = data.draw(st.lists(st.integers(0, len(buf)), max_size=6))
    dec = make_decoder("evt21", ev.width, ev.height, endianness=endianness)
    assert split_decode(dec, buf, cuts).equals(ev)
    assert len(buf) < 8 * (2 * len(ev) + 1) or len(ev) == 0


def test_evt2_hand_written_words():
    # TIME_HIGH 5 -> t = 5 << 6 | lsb; CD_ON at (3, 2) lsb 7; CD_OFF at (9, 1) lsb 8; trigger id 4
    w = [0x8 << 28 | 5, 0x1 << 28 | 7 << 22 | 3 << 11 | 2, 0xA << 28 | 8 << 22 | 4 << 8 | 1,
         0x0 << 28 | 8 << 22 | 9 << 11 | 1, 0xE << 28, 0x3 << 28 | 123]
    dec = make_decoder("evt2", 16, 4)
    ev = dec.decode(np.array(w, "<u4").tobytes())
    assert ev.x.tolist() == [3, 9] and ev.y.tolist() == [2, 1] and ev.p.tolist() == [1, 0]
    assert ev.t.tolist() == [(5 << 6 | 7) * 1000, (5 << 6 | 8) * 1000]
    assert dec.triggers.t.tolist() == [(5 << 6 | 8) * 1000] and dec.triggers.id.tolist() == [4]
    assert dec.stats["ignored_words"] == 1 and dec.stats["unknown_words"] == 1  # padding/vendor: skipped


def test_evt21_hand_written_words_both_byte_orders():
    upper = 0x1 << 28 | 3 << 22 | 64 << 11 | 5  # ON, lsb 3, x base 64, y 5
    word = upper << 32 | 0b1001  # events at x 64 and 67
    high = (0x8 << 28 | 2) << 32
    for endianness, raw in (("little", np.array([high, word], "<u8").tobytes()),
                            ("legacy", np.array([high >> 32, high & 0xFFFFFFFF, word >> 32, word & 0xFFFFFFFF],
                                                "<u4").tobytes())):
        ev = make_decoder("evt21", 128, 8, endianness=endianness).decode(raw)
        assert ev.x.tolist() == [64, 67] and ev.y.tolist() == [5, 5] and ev.p.tolist() == [1, 1]
        assert ev.t.tolist() == [(2 << 6 | 3) * 1000] * 2
    with pytest.raises(DecodeError, match="endianness"):
        make_decoder("evt21", 4, 4, endianness="big")


def test_evt2_time_high_jitter_keeps_events_in_order():
    w = [0x8 << 28 | 10, 0x1 << 28 | 5 << 22 | 1 << 11, 0x8 << 28 | 9, 0x1 << 28 | 6 << 22 | 2 << 11,
         0x8 << 28 | 11, 0x1 << 28 | 0 << 22 | 3 << 11]
    dec = make_decoder("evt2", 8, 1)
    ev = dec.decode(np.array(w, "<u4").tobytes())
    assert ev.x.tolist() == [1, 2, 3] and ev.is_sorted()
    assert ev.t.tolist() == [(10 << 6 | 5) * 1000, (10 << 6 | 5) * 1000, (11 << 6) * 1000]
    assert dec.stats["time_clamped"] == 1 and dec.stats["rollovers"] == 0


# -- libcaer --------------------------------------------------------------------------------------
@SETTINGS
@given(ev=sensor_events(max_n=120, max_gap_us=20_000), base=st.integers(0, 10**15), data=st.data())
def test_libcaer_round_trip_and_any_split(ev, base, data):
    ev = shifted(ev, base)
    buf = encode_libcaer(ev, time_base=base)
    assert len(buf) == 8 * len(ev)
    cuts = data.draw(st.lists(st.integers(0, len(buf)), max_size=6))
    assert split_decode(make_decoder("libcaer", ev.width, ev.height), buf, cuts, time_base=base).equals(ev)


def test_libcaer_hand_written_events_wrap_and_invalid_mark():
    def event(x, y, p, ts, valid=1):
        return [x << 17 | y << 2 | p << 1 | valid, ts]

    rec = np.array([event(3, 4, 1, 2**31 - 10), event(5, 6, 0, 2**31 - 1, valid=0), event(7, 8, 0, 5),
                    event(400, 1, 1, 6)], "<u4")
    dec = make_decoder("libcaer", 346, 260)
    ev = dec.decode(rec.tobytes(), time_base=1_000_000)
    assert ev.x.tolist() == [3, 7] and ev.y.tolist() == [4, 8] and ev.p.tolist() == [1, 0]
    # the third event's timestamp wrapped (31-bit counter) inside the packet
    assert ev.t.tolist() == [1_000_000 + (2**31 - 10) * 1000, 1_000_000 + (2**31 + 5) * 1000]
    assert dec.stats["invalid_events"] == 1 and dec.stats["out_of_sensor"] == 1
    assert dec.stats["rollovers"] == 1
    with pytest.raises(DecodeError, match="time_base"):
        dec.decode(b"", time_base=-1)


# -- libcaer_cmp ------------------------------------------------------------------------------------
def column_runs(ev: Events) -> Events:
    """Events with runs of same-time same-column events down a column (as a DAVIS reads out)."""
    order = np.lexsort((ev.y, ev.x, ev.p, ev.t))
    return ev[order]


@SETTINGS
@given(ev=sensor_events(max_n=120, max_gap_us=2000, width=64, height=64),
       base=st.integers(0, 10**12).map(lambda us: us * 1000), data=st.data())
def test_libcaer_cmp_round_trip_and_packets_anywhere(ev, base, data):
    # Times restart in every packet (relative to its time_base): a stream cut into packets at
    # any event, each packet with its own time_base, decodes back to the events; x, base y and
    # polarity carry across packets.
    ev = column_runs(shifted(ev, base))
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(ev)), max_size=5))) | {0, len(ev)})
    dec = make_decoder("libcaer_cmp", 64, 64)
    parts = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        tb = int(ev.t[a]) // 1000 * 1000
        parts.append(dec.decode(encode_libcaer_cmp(ev[a:b], tb), time_base=tb))
    assert Events.concatenate(parts, 64, 64).equals(ev)
    assert dec.stats["no_address_x"] == dec.stats["no_base_y"] == 0


def test_libcaer_cmp_vectors_are_used():
    y = np.arange(10, 17)  # 7 events down column 5 at one time: one VECT_BASE_Y + VECT_8
    ev = Events.from_arrays(np.full(7, 5), y, np.full(7, 3000), np.ones(7), 32, 32)
    buf = encode_libcaer_cmp(ev, 0)
    codes = np.frombuffer(buf, "<u2") >> 12
    assert codes.tolist() == [0, 1, 2, 4, 5]
    assert make_decoder("libcaer_cmp", 32, 32).decode(buf).equals(ev)


def test_libcaer_cmp_hand_written_words_and_padding():
    # TIME_HIGH 1, TIME_LOW 2 -> 4098 µs; ADDR_X 7; ADDR_Y 3 ON; VECT_BASE_Y 10 OFF; VECT_8 bits 0, 2;
    # VECT_12 bit 11 (base is now 18); a padding word (code 0xF) and a vendor code 9, skipped
    w = [0x0001, 0x1002, 0x2007, 0x3000 | 1 << 11 | 3, 0xF000, 0x4000 | 10, 0x5000 | 0b101, 0x9ABC, 0x6000 | 1 << 11]
    dec = make_decoder("libcaer_cmp", 32, 32)
    ev = dec.decode(np.array(w, "<u2").tobytes(), time_base=5_000)
    assert ev.x.tolist() == [7, 7, 7, 7] and ev.y.tolist() == [3, 10, 12, 29]
    assert ev.p.tolist() == [1, 0, 0, 0] and ev.t.tolist() == [5_000 + 4098_000] * 4
    assert dec.stats["unknown_words"] == 2
    # the next packet restarts its time at 0 but keeps x
    ev2 = dec.decode(np.array([0x1005, 0x3000 | 4], "<u2").tobytes(), time_base=9_000_000)
    assert ev2.x.tolist() == [7] and ev2.t.tolist() == [9_005_000]


def test_libcaer_cmp_events_before_any_x_or_base_are_counted():
    dec = make_decoder("libcaer_cmp", 32, 32)
    ev = dec.decode(np.array([0x1001, 0x3003, 0x2004, 0x5003, 0x4002, 0x5001], "<u2").tobytes())
    assert ev.y.tolist() == [2] and ev.x.tolist() == [4]
    assert dec.stats["no_address_x"] == 1 and dec.stats["no_base_y"] == 2


@SETTINGS
@given(data=st.binary(max_size=300), enc=st.sampled_from(["evt2", "evt21", "libcaer", "libcaer_cmp"]))
def test_garbage_never_crashes_and_output_stays_valid(data, enc):
    dec = make_decoder(enc, 40, 30)
    ev = dec.decode(data)
    assert ev.is_sorted() and np.all(ev.x < 40) and np.all(ev.y < 30)
