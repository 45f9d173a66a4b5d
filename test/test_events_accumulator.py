"""EventAccumulator: windows, bounds (count and age), late packets, clock offset."""
import numpy as np
import pytest

from had_ros.errors import DecodeError
from had_ros.events import EventAccumulator, Events


def packet(t, w=8, h=4, x=None):
    t = np.asarray(t, np.int64)
    x = np.arange(len(t)) % w if x is None else x
    return Events.from_arrays(x, np.zeros(len(t)), t, np.ones(len(t)), w, h)


def test_window_and_latest_return_copies_in_range():
    acc = EventAccumulator(8, 4, max_events=100, max_age_ns=None)
    acc.push(packet([10, 20, 30]))
    acc.push(packet([30, 40, 50]))
    assert len(acc) == 6 and acc.t_start == 10 and acc.t_end == 50
    assert acc.window(20, 40).t.tolist() == [20, 30, 30]
    assert acc.latest(21).t.tolist() == [30, 30, 40, 50]
    w = acc.window(0, 100)
    w.t[0] = -1  # a copy: the buffer is unchanged
    assert acc.t_start == 10


def test_overflow_drops_oldest_and_counts():
    acc = EventAccumulator(8, 4, max_events=5, max_age_ns=None)
    for k in range(4):
        acc.push(packet([k * 10 + 1, k * 10 + 2, k * 10 + 3]))
    assert len(acc) == 5 and acc.dropped_overflow == 7
    assert acc.window(0, 100).t.tolist() == [22, 23, 31, 32, 33]
    acc.push(packet(np.arange(100, 112)))  # one packet larger than the buffer
    assert acc.window(0, 1000).t.tolist() == list(range(107, 112))
    assert acc.dropped_overflow == 7 + 5 + 7


def test_many_pushes_compact_without_losing_order():
    acc = EventAccumulator(8, 4, max_events=50, max_age_ns=None)
    t = 0
    for k in range(200):
        n = (k * 7) % 13 + 1
        acc.push(packet(np.arange(t, t + n)))
        t += n
    assert len(acc) == 50 and acc.window(0, t).t.tolist() == list(range(t - 50, t))


def test_max_age_expires_old_events():
    acc = EventAccumulator(8, 4, max_events=1000, max_age_ns=100)
    acc.push(packet([0, 50, 100]))
    acc.push(packet([180, 250]))
    assert acc.window(0, 1000).t.tolist() == [180, 250] and acc.expired == 3


def test_late_events_are_skipped_and_counted():
    acc = EventAccumulator(8, 4, max_age_ns=None)
    acc.push(packet([100, 200]))
    acc.push(packet([150, 200, 300]))
    assert acc.window(0, 1000).t.tolist() == [100, 200, 200, 300] and acc.dropped_late == 1


def test_offset_estimate_is_the_minimum_latency_and_follows_the_window():
    rng = np.random.default_rng(0)
    acc = EventAccumulator(8, 4, offset_window=50)
    true_offset = 1_000_000_000
    assert acc.offset_ns is None and acc.to_host_time(5) is None
    for k in range(200):
        t_last = 1000 + k * 1_000_000
        latency = 200_000 + int(rng.exponential(2_000_000))  # jittery transport, >= 0.2 ms
        acc.push(packet([t_last - 10, t_last]), host_stamp_ns=t_last + true_offset + latency)
    est = acc.offset_ns
    assert true_offset + 200_000 <= est < true_offset + 400_000
    assert acc.to_host_time(0) == est and acc.to_sensor_time(est) == 0


def test_wrong_sensor_and_bad_settings():
    acc = EventAccumulator(8, 4)
    with pytest.raises(DecodeError, match="8x4"):
        acc.push(packet([1], w=16))
    with pytest.raises(DecodeError, match="max_events"):
        EventAccumulator(8, 4, max_events=0)
    with pytest.raises(DecodeError, match="max_age_ns"):
        EventAccumulator(8, 4, max_age_ns=0)
    acc.push(Events.empty(8, 4), host_stamp_ns=5)  # an empty packet: nothing, no offset sample
    assert len(acc) == 0 and acc.offset_ns is None and len(acc.latest(10)) == 0


def test_clear_forgets_events_and_offset():
    acc = EventAccumulator(8, 4)
    acc.push(packet([5, 6]), host_stamp_ns=100)
    acc.clear()
    assert len(acc) == 0 and acc.offset_ns is None and acc.t_end is None
    acc.push(packet([1]))  # an earlier time is fine after clear (new stream)
    assert acc.window(0, 10).t.tolist() == [1] and acc.dropped_late == 0


def test_storage_is_allocated_as_the_buffer_fills():
    acc = EventAccumulator(8, 4)  # default bound: 10 M events (260 MB if preallocated)
    assert acc.capacity == EventAccumulator.INITIAL_CAPACITY
    assert acc._t.nbytes + acc._x.nbytes + acc._y.nbytes + acc._p.nbytes < 1 << 20
    t = 0
    for n in (1000, 70_000, 5, 300_000, 12):
        acc.push(packet(np.arange(t, t + n)))
        t += n
    assert len(acc) == t and acc.window(0, t).t.tolist() == list(range(t))
    assert t <= acc.capacity <= 4 * t  # grew by doubling, not to the bound
    small = EventAccumulator(8, 4, max_events=100, max_age_ns=None)
    for k in range(50):
        small.push(packet(np.arange(k * 7, k * 7 + 7)))
    assert small.capacity <= 200 and small.window(0, 1000).t.tolist() == list(range(250, 350))


@pytest.mark.parametrize("numpy_path", [True, False], ids=["numpy", "numba"])
def test_window_of_a_region_holds_exactly_the_events_inside_it(numpy_path):
    from had_ros.events import accel

    with accel.numpy_only(numpy_path):
        _window_of_a_region()


def _window_of_a_region():
    rng = np.random.default_rng(3)
    n, w, h = 5000, 64, 48
    ev = Events.from_arrays(rng.integers(0, w, n), rng.integers(0, h, n), np.sort(rng.integers(0, 10**6, n)),
                            rng.integers(0, 2, n), w, h)
    acc = EventAccumulator(w, h)
    acc.push(ev)
    for region in ((10, 5, 30, 40), (-20, -7, 12, 9), (50, 40, 200, 100), (0, 0, w, h), (70, 0, 90, 10)):
        got = acc.window(200_000, 700_000, region=region)
        x0, y0, x1, y1 = region
        keep = (ev.t >= 200_000) & (ev.t < 700_000) & (ev.x >= x0) & (ev.x < x1) & (ev.y >= y0) & (ev.y < y1)
        assert got.equals(ev[np.flatnonzero(keep)]), region
    assert acc.count(200_000, 700_000) == len(acc.window(200_000, 700_000))


def test_discard_before_and_the_running_offset_minimum():
    acc = EventAccumulator(8, 8, offset_window=4)
    rng = np.random.default_rng(0)
    samples = []
    for k in range(40):
        t = np.arange(k * 100, k * 100 + 100, 10)
        stamp = 10**9 + k * 100 + int(rng.integers(0, 50))
        acc.push(Events.from_arrays(np.zeros(10), np.zeros(10), t, np.ones(10), 8, 8), host_stamp_ns=stamp)
        samples.append(stamp - int(t[-1]))
        assert acc.offset_ns == min(samples[-4:])  # the minimum over the last offset_window packets
    assert acc.discard_before(2_050) == 205 and acc.t_start == 2_050 and acc.released == 205
    assert len(acc.window(0, 2_050)) == 0 and len(acc) == 400 - 205
