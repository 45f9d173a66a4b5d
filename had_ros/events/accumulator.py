"""A bounded event buffer for live streams, with a sensor-to-host clock offset estimate."""
from __future__ import annotations

from collections import deque

import numpy as np

from had_ros.errors import DecodeError
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
    newest buffered one: the stream went back in time; they are skipped, not inserted).

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
        self.dropped_overflow = 0
        self.expired = 0
        self.dropped_late = 0
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
        return min(s for s, _ in self._offsets) if self._offsets else None

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

    # -- input ------------------------------------------------------------------------------------
    def push(self, events: Events, host_stamp_ns: int | None = None) -> None:
        """Append a packet of events (sorted by time, same sensor)."""
        if (events.width, events.height) != (self.width, self.height):
            raise DecodeError(
                f"EventAccumulator for {self.width}x{self.height} got events of {events.width}x{events.height}"
            )
        n = len(events)
        if n and host_stamp_ns is not None:
            self._offsets.append((int(host_stamp_ns) - int(events.t[-1]), int(host_stamp_ns)))
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
    def window(self, t0: int, t1: int) -> Events:
        """A copy of the buffered events with t0 <= t < t1."""
        t = self._t[self._start:self._end]
        i0, i1 = np.searchsorted(t, [t0, t1], side="left")
        sl = slice(self._start + int(i0), self._start + int(i1))
        return Events(self._x[sl].copy(), self._y[sl].copy(), self._t[sl].copy(), self._p[sl].copy(),
                      self.width, self.height)

    def latest(self, duration_ns: int) -> Events:
        """A copy of the events of the last ``duration_ns`` up to and including the newest one."""
        if not len(self):
            return Events.empty(self.width, self.height)
        end = self.t_end + 1
        return self.window(end - int(duration_ns), end)
