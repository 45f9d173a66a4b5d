"""A bounded event buffer for live streams, with a sensor-to-host clock offset estimate."""
from __future__ import annotations

from collections import deque

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events import accel
from had_ros.events.container import P_DTYPE, T_DTYPE, X_DTYPE, Y_DTYPE, Events


class EventAccumulator:
    """Keeps the newest events of one sensor, bounded by count and by age.

    ``push`` appends a decoded packet; ``window(t0, t1)`` and ``latest(duration)`` return
    copies of the buffered events in a time range. The buffer holds at most ``max_events``
    events, none older than ``max_age_ns`` before the newest one. Storage is one contiguous
    block that is compacted when its end is reached, so a window is one binary search and one
    copy (a ring buffer without wrap-around). The block is allocated as the buffer fills: it
    starts at ``INITIAL_CAPACITY`` events and doubles when the live events need it, up to twice
    ``max_events`` (13 bytes an event: the default bound of 10 M events is reached only by a
    stream that keeps that many).

    Counters: ``dropped_overflow`` (oldest events pushed out by ``max_events``),
    ``expired`` (older than ``max_age_ns``), ``dropped_late`` (pushed events older than the
    newest buffered one: the stream went back in time; they are skipped, not inserted),
    ``released`` (let go by the consumer with ``discard_before``: no longer needed). A consumer
    that releases what it has used keeps the live block, and so each compaction, small.

    Clock offset: each packet pushed with ``host_stamp_ns`` (header.stamp, host clock at
    arrival) gives host_stamp - (its newest event time), which is the sensor-to-host offset
    plus the transport latency. Latency is positive and jittery, so the minimum over the last
    ``offset_window`` packets is the estimate (``offset_ns``): robust to late packets and able
    to follow slow clock drift. host time ~= sensor time + offset_ns.
    """

    INITIAL_CAPACITY = 1 << 16

    def __init__(self, width: int, height: int, max_events: int = 10_000_000,
                 max_age_ns: int | None = 1_000_000_000, offset_window: int = 256) -> None:
        if max_events <= 0:
            raise DecodeError(f"EventAccumulator: max_events must be > 0, got {max_events}")
        if max_age_ns is not None and max_age_ns <= 0:
            raise DecodeError(f"EventAccumulator: max_age_ns must be > 0 or None, got {max_age_ns}")
        self.width, self.height = int(width), int(height)
        self.max_events = int(max_events)
        self.max_age_ns = None if max_age_ns is None else int(max_age_ns)
        self._x, self._y, self._t, self._p = self._allocate(min(self.INITIAL_CAPACITY, 2 * self.max_events))
        self._start = 0
        self._end = 0
        self._offsets: deque[tuple[int, int]] = deque(maxlen=int(offset_window))  # (sample, host stamp)
        self._offset_min: int | None = None  # min of the samples in _offsets (kept as they come and go)
        self.dropped_overflow = 0
        self.expired = 0
        self.dropped_late = 0
        self.released = 0
        self.pushed = 0

    # -- state ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._end - self._start

    @property
    def t_start(self) -> int | None:
        return int(self._t[self._start]) if len(self) else None

    @property
    def t_end(self) -> int | None:
        """Time of the newest buffered event."""
        return int(self._t[self._end - 1]) if len(self) else None

    @property
    def offset_ns(self) -> int | None:
        """Estimated host_time - sensor_time (ns); None until a packet came with a host stamp."""
        return self._offset_min

    def offset_at(self, host_stamp_ns: int) -> int | None:
        """The estimate as it stood at ``host_stamp_ns``: the minimum over the kept packets stamped
        at or before it (None if there is none). A consumer pairing a message stamped then gets the
        same offset however late the newer packets arrived."""
        t = int(host_stamp_ns)
        samples = [s for s, st in self._offsets if st <= t]
        return min(samples) if samples else None

    def to_host_time(self, t_sensor_ns: int) -> int | None:
        off = self.offset_ns
        return None if off is None else int(t_sensor_ns) + off

    def to_sensor_time(self, t_host_ns: int) -> int | None:
        off = self.offset_ns
        return None if off is None else int(t_host_ns) - off

    def clear(self) -> None:
        """Empty the buffer and forget the offset (for example after a sensor restart)."""
        self._start = self._end = 0
        self._offsets.clear()
        self._offset_min = None

    def discard_before(self, t_ns: int) -> int:
        """Let go of the buffered events older than ``t_ns`` (the consumer will not ask for them
        again); returns how many (counted in ``released``)."""
        t = self._t[self._start:self._end]
        cut = int(np.searchsorted(t, int(t_ns), side="left"))
        self._start += cut
        self.released += cut
        return cut

    # -- input ------------------------------------------------------------------------------------
    def push(self, events: Events, host_stamp_ns: int | None = None) -> None:
        """Append a packet of events (sorted by time, same sensor)."""
        if (events.width, events.height) != (self.width, self.height):
            raise DecodeError(
                f"EventAccumulator for {self.width}x{self.height} got events of {events.width}x{events.height}"
            )
        n = len(events)
        if n and host_stamp_ns is not None:
            self._add_offset(int(host_stamp_ns) - int(events.t[-1]), int(host_stamp_ns))
        if not n:
            return
        self.pushed += n
        newest = self.t_end
        if newest is not None and events.t[0] < newest:
            first = int(np.searchsorted(events.t, newest, side="left"))
            self.dropped_late += first
            events = events[first:]
            n = len(events)
            if not n:
                return
        if n > self.max_events:
            self.dropped_overflow += n - self.max_events
            events = events[n - self.max_events:]
            n = self.max_events
        overflow = len(self) + n - self.max_events
        if overflow > 0:
            self._start += overflow
            self.dropped_overflow += overflow
        if self._end + n > len(self._t):
            self._make_room(n)
        sl = slice(self._end, self._end + n)
        self._x[sl], self._y[sl], self._t[sl], self._p[sl] = events.x, events.y, events.t, events.p
        self._end += n
        if self.max_age_ns is not None:
            cut = int(np.searchsorted(self._t[self._start:self._end], self.t_end - self.max_age_ns, side="left"))
            self.expired += cut
            self._start += cut

    def _add_offset(self, sample: int, host_stamp_ns: int) -> None:
        """Keep the sample and the running minimum (a full rescan only when the minimum leaves the
        window, at most once per offset_window packets in steady state)."""
        q = self._offsets
        leaving = q[0][0] if len(q) == q.maxlen else None
        q.append((sample, host_stamp_ns))
        if self._offset_min is None or sample <= self._offset_min:
            self._offset_min = sample
        elif leaving is not None and leaving == self._offset_min:
            self._offset_min = min(s for s, _ in q)

    @staticmethod
    def _allocate(cap: int) -> tuple[np.ndarray, ...]:
        return (np.empty(cap, X_DTYPE), np.empty(cap, Y_DTYPE), np.empty(cap, T_DTYPE), np.empty(cap, P_DTYPE))

    @property
    def capacity(self) -> int:
        """Events the storage holds now (grows as the buffer fills, up to 2 * max_events)."""
        return len(self._t)

    def _make_room(self, n_new: int) -> None:
        """Room for n_new more events after the live ones: compact in place when the live events
        leave enough room, else move them to a block twice as large (at most 2 * max_events)."""
        live = len(self)
        cap = len(self._t)
        if 2 * (live + n_new) > cap and cap < 2 * self.max_events:
            cap = min(max(2 * cap, 2 * (live + n_new)), 2 * self.max_events)
            arrays = self._allocate(cap)
        else:
            arrays = (self._x, self._y, self._t, self._p)
        for new, old in zip(arrays, (self._x, self._y, self._t, self._p)):
            new[:live] = old[self._start:self._end]
        self._x, self._y, self._t, self._p = arrays
        self._start, self._end = 0, live

    # -- queries ----------------------------------------------------------------------------------
    def _span(self, t0: int, t1: int) -> slice:
        t = self._t[self._start:self._end]
        i0, i1 = np.searchsorted(t, [t0, t1], side="left")
        return slice(self._start + int(i0), self._start + int(i1))

    def count(self, t0: int, t1: int) -> int:
        """How many buffered events have t0 <= t < t1 (one binary search, no copy)."""
        sl = self._span(t0, t1)
        return sl.stop - sl.start

    def window(self, t0: int, t1: int, region: tuple[int, int, int, int] | None = None) -> Events:
        """A copy of the buffered events with t0 <= t < t1; with ``region`` = (x0, y0, x1, y1) only
        those with x0 <= x < x1 and y0 <= y < y1 (sensor pixels; the region may reach outside the
        sensor): a consumer of one crop copies only the events inside it."""
        sl = self._span(t0, t1)
        x, y, t, p = self._x[sl], self._y[sl], self._t[sl], self._p[sl]
        if region is not None:
            x0, y0 = max(int(region[0]), 0), max(int(region[1]), 0)
            x1, y1 = min(int(region[2]), self.width), min(int(region[3]), self.height)
            if x1 <= x0 or y1 <= y0:
                return Events.empty(self.width, self.height)
            if (x0, y0, x1, y1) != (0, 0, self.width, self.height):
                k = accel.kernels()
                if k is not None:  # one compiled pass, nogil (the node's intake thread runs meanwhile)
                    m = len(t)
                    out = np.empty(m, X_DTYPE), np.empty(m, Y_DTYPE), np.empty(m, T_DTYPE), np.empty(m, P_DTYPE)
                    n = int(k.select_region(x, y, t, p, x0, y0, x1, y1, *out))
                    return Events._trusted(*(a[:n] for a in out), self.width, self.height)
                inside = _in_range(x, x0, x1)
                inside &= _in_range(y, y0, y1)
                keep = np.flatnonzero(inside)
                return Events._trusted(x[keep], y[keep], t[keep], p[keep], self.width, self.height)
        return Events._trusted(x.copy(), y.copy(), t.copy(), p.copy(), self.width, self.height)

    def latest(self, duration_ns: int) -> Events:
        """A copy of the events of the last ``duration_ns`` up to and including the newest one."""
        if not len(self):
            return Events.empty(self.width, self.height)
        end = self.t_end + 1
        return self.window(end - int(duration_ns), end)


def _in_range(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """lo <= a < hi for uint16 ``a`` as one unsigned compare: a - lo wraps to a large value below lo."""
    if hi - lo > 0xFFFF:  # the whole uint16 range
        return np.ones(len(a), bool)
    return np.subtract(a, np.uint16(lo), dtype=np.uint16) < np.uint16(hi - lo)
