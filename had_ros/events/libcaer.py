"""The 'libcaer' and 'libcaer_cmp' encodings that libcaer_driver publishes for iniVation cameras
(DAVIS, DVXplorer), as event_camera_codecs defines them: vectorised numpy decoders and encoders.

libcaer: libcaer's polarity events as they are in memory, 8 bytes each, little-endian: uint32
data (bit 0 valid mark, bit 1 polarity, bits 2-16 y, bits 17-31 x) and int32 timestamp (µs, 31
bits). t ns = time_base + timestamp * 1000; a timestamp smaller than the one before it in the same
packet is a wrap of the 31-bit counter (+2**31 µs), as event_camera_codecs reads it (time_base
carries the high part from packet to packet).

libcaer_cmp: a compressed stream of little-endian 16-bit words, code in bits 15..12:
0 TIME_HIGH (bits 0-11: µs bits 12-23), 1 TIME_LOW (bits 0-11: µs bits 0-11), 2 ADDR_X (x, bits
0-10), 3 ADDR_Y (y bits 0-10, polarity bit 11: one event at the current x), 4 VECT_BASE_Y (y
bits 0-10, polarity bit 11: base of the next vector words), 5 VECT_8 (mask bits 0-7: events at
(x, base + i), then base += 8), 6 VECT_12 (likewise with 12 bits; named in event_camera_codecs'
types, which does not decode it). Times restart at 0 in every packet: t ns = time_base +
((high << 12) | low) * 1000, with high and low 0 until the packet sets them. The current x, the
vector base y and polarity carry across packets.
"""
from __future__ import annotations

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events.codec import StreamDecoder, Triggers
from had_ros.events.container import Events
from had_ros.events.mono import _check_time_base

# libcaer polarity event fields (libcaer's events/polarity.h)
VALID_BIT, POLARITY_SHIFT, Y_SHIFT, X_SHIFT, ADDR_MASK = 0, 1, 2, 17, 0x7FFF
TS_WRAP_US = 1 << 31

# libcaer_cmp word codes
CMP_TIME_HIGH, CMP_TIME_LOW, CMP_ADDR_X, CMP_ADDR_Y, CMP_VECT_BASE_Y, CMP_VECT_8, CMP_VECT_12 = range(7)
CMP_MAX_COORD = 1 << 11
CMP_MAX_US = 1 << 24  # a packet spans less than 16.78 s from its time_base


class LibcaerDecoder(StreamDecoder):
    """Stateful 'libcaer' decoder: ``decode(buf, time_base=0)`` (time_base in ns, the
    EventPacket field); a partial trailing event waits for the next packet.

    Raises DecodeError for a buffer that is not bytes-like or a negative time_base. Counted, not
    errors: ``invalid_events`` (valid mark 0: events libcaer invalidated), ``out_of_sensor``,
    ``time_clamped`` (older than an event already decoded: kept with the newest time, so the
    output is sorted), ``truncated_bytes`` (at ``finish()``)."""

    encoding = "libcaer"
    word_bytes = 8

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        self.stats["invalid_events"] = 0
        self.stats["rollovers"] = 0

    def decode(self, buf, time_base: int = 0) -> Events:
        time_base = _check_time_base(time_base, self.encoding)
        data = self._whole_words(buf)
        if not len(data):
            return self._empty()
        rec = np.frombuffer(data, "<u4").reshape(-1, 2)
        d = rec[:, 0]
        ts = rec[:, 1].astype(np.int64) & (TS_WRAP_US - 1)
        wraps = np.zeros(len(ts), np.int64)
        wraps[1:] = np.cumsum(ts[1:] < ts[:-1])
        self.stats["rollovers"] += int(wraps[-1])
        t = time_base + (ts + wraps * TS_WRAP_US) * 1000
        x = (d >> X_SHIFT) & ADDR_MASK
        y = (d >> Y_SHIFT) & ADDR_MASK
        valid = (d & 1) == 1
        inside = (x < self.width) & (y < self.height)
        keep = valid & inside
        t = self._in_time_order(t, keep)
        self.stats["invalid_events"] += int(len(d) - np.count_nonzero(valid))
        self.stats["out_of_sensor"] += int(np.count_nonzero(valid & ~inside))
        idx = np.flatnonzero(keep)
        self.stats["events"] += len(idx)
        return Events(x[idx].astype(np.uint16), y[idx].astype(np.uint16), t[idx],
                      ((d[idx] >> POLARITY_SHIFT) & 1).astype(np.uint8), self.width, self.height)


class LibcaerCmpDecoder(StreamDecoder):
    """Stateful 'libcaer_cmp' decoder (see the module docstring): ``decode(buf, time_base=0)``.

    Raises DecodeError for a buffer that is not bytes-like or a negative time_base. Counted, not
    errors: ``no_address_x`` (events before any ADDR_X), ``no_base_y`` (vector events before any
    VECT_BASE_Y), ``out_of_sensor``, ``unknown_words`` (codes 7-15: padding or vendor words,
    skipped), ``time_clamped`` (kept with the newest time), ``truncated_bytes`` (at ``finish()``)."""

    encoding = "libcaer_cmp"
    word_bytes = 2

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        for key in ("no_address_x", "no_base_y", "unknown_words"):
            self.stats[key] = 0
        self._x = -1
        self._base_y = -(1 << 40)
        self._pol = 0

    def reset(self) -> None:
        super().reset()
        self._x, self._base_y, self._pol = -1, -(1 << 40), 0

    def decode(self, buf, time_base: int = 0) -> Events:
        time_base = _check_time_base(time_base, self.encoding)
        data = self._whole_words(buf)
        if not len(data):
            return self._empty()
        w = np.frombuffer(data, "<u2").astype(np.int64)
        code = w >> 12
        field = w & 0xFFF
        self.stats["unknown_words"] += int(np.count_nonzero(code > CMP_VECT_12))
        pos = np.arange(len(w))

        def last(select: np.ndarray) -> np.ndarray:
            """Per word, the position of the last word of the kind at or before it, -1 if none."""
            return np.maximum.accumulate(np.where(select, pos, -1))

        def held(select: np.ndarray, values: np.ndarray, before: int) -> np.ndarray:
            at = last(select)
            return np.where(at >= 0, values[np.maximum(at, 0)], before)

        t_us = held(code == CMP_TIME_HIGH, field, 0) << 12 | held(code == CMP_TIME_LOW, field, 0)
        x_at = held(code == CMP_ADDR_X, field & 0x7FF, self._x)
        is_base = code == CMP_VECT_BASE_Y
        is_vec = (code == CMP_VECT_8) | (code == CMP_VECT_12)
        step = np.where(code == CMP_VECT_8, 8, np.where(code == CMP_VECT_12, 12, 0))
        steps = np.cumsum(step)
        base_at = last(is_base)
        b = np.maximum(base_at, 0)
        # vector base y at each word: the last VECT_BASE_Y (or the state's) + the steps since
        base_y = np.where(base_at >= 0, (field[b] & 0x7FF) + (steps - step) - steps[b], self._base_y + steps - step)
        pol_at = np.where(base_at >= 0, (field[b] >> 11) & 1, self._pol)

        is_y = code == CMP_ADDR_Y
        ev_words = np.flatnonzero(is_y | is_vec)
        # the state after this packet
        self._x = int(x_at[-1])
        self._base_y = int(base_y[-1] + step[-1])
        if self._base_y < 0:
            self._base_y = -(1 << 40)
        self._pol = int(pol_at[-1])
        if not len(ev_words):
            return self._empty()
        e_y = is_y[ev_words]
        fw = field[ev_words]
        mask = np.where(e_y, 1, np.where(code[ev_words] == CMP_VECT_8, fw & 0xFF, fw & 0xFFF))
        bits = np.unpackbits(mask.astype("<u2").view(np.uint8), bitorder="little").view(bool)
        idx = np.flatnonzero(bits)
        row = idx >> 4
        first_y = np.where(e_y, fw & 0x7FF, base_y[ev_words])
        y = first_y[row] + (idx & 15)
        p = np.where(e_y, (fw >> 11) & 1, pol_at[ev_words])[row]
        x = x_at[ev_words][row]
        t = time_base + t_us[ev_words][row] * 1000
        no_x = x < 0
        no_base = ~no_x & (y < 0)
        known = ~no_x & ~no_base
        inside = known & (x < self.width) & (y < self.height)
        t = self._in_time_order(t, inside)
        self.stats["no_address_x"] += int(no_x.sum())
        self.stats["no_base_y"] += int(no_base.sum())
        self.stats["out_of_sensor"] += int((known & ~inside).sum())
        keep = np.flatnonzero(inside)
        self.stats["events"] += len(keep)
        return Events(x[keep].astype(np.uint16), y[keep].astype(np.uint16), t[keep], p[keep].astype(np.uint8),
                      self.width, self.height)


# -- encoders (tests, fixtures) --------------------------------------------------------------------
def _relative_us(events: Events, time_base: int, name: str, limit: int) -> np.ndarray:
    time_base = _check_time_base(time_base, name)
    dt = (events.t - time_base) // 1000
    if len(dt) and (dt.min() < 0 or dt.max() >= limit):
        raise DecodeError(f"{name}: event times must be within [time_base, time_base + {limit} µs), got "
                          f"[{int(dt.min())}, {int(dt.max())}] µs")
    if len(dt) > 1 and np.any(dt[1:] < dt[:-1]):
        raise DecodeError(f"{name}: events must be sorted by time")
    return dt


def encode_libcaer(events: Events, time_base: int) -> bytes:
    """'libcaer' events (valid mark set) relative to ``time_base`` (ns); times floored to µs.
    Raises DecodeError for unsorted times, times outside [time_base, time_base + 2**31 µs), or
    x/y beyond 15 bits."""
    dt = _relative_us(events, time_base, "encode_libcaer", TS_WRAP_US)
    if len(dt) and max(int(events.x.max()), int(events.y.max())) > ADDR_MASK:
        raise DecodeError("encode_libcaer: x and y must be < 32768 (15-bit fields)")
    rec = np.empty((len(dt), 2), "<u4")
    rec[:, 0] = (events.x.astype(np.uint32) << X_SHIFT | events.y.astype(np.uint32) << Y_SHIFT
                 | (events.p.astype(np.uint32) & 1) << POLARITY_SHIFT | 1)
    rec[:, 1] = dt
    return rec.tobytes()


def encode_libcaer_cmp(events: Events, time_base: int) -> bytes:
    """One 'libcaer_cmp' packet of sorted events relative to ``time_base`` (ns), floored to µs.
    Runs of same-time, same-column, same-polarity events with increasing y inside 8 rows share
    a VECT_BASE_Y + VECT_8; others are ADDR_Y words. Raises DecodeError for unsorted times,
    times outside [time_base, time_base + 2**24 µs), or x/y beyond 11 bits."""
    dt = _relative_us(events, time_base, "encode_libcaer_cmp", CMP_MAX_US)
    n = len(dt)
    if not n:
        return b""
    x, y = events.x.astype(np.int64), events.y.astype(np.int64)
    if max(int(x.max()), int(y.max())) >= CMP_MAX_COORD:
        raise DecodeError(f"encode_libcaer_cmp: x and y must be < {CMP_MAX_COORD} (11-bit fields)")
    p = events.p.astype(np.int64) & 1
    same = np.zeros(n, bool)
    same[1:] = (dt[1:] == dt[:-1]) & (x[1:] == x[:-1]) & (p[1:] == p[:-1]) & (y[1:] > y[:-1])
    group = np.cumsum(~same) - 1
    g_first = np.flatnonzero(~same)
    bin_ = (y - y[g_first][group]) // 8
    brk = ~same
    brk[1:] |= bin_[1:] != bin_[:-1]
    u = np.flatnonzero(brk)  # first event of each unit (one event word)
    size = np.diff(np.append(u, n))
    base = y[g_first][group[u]] + 8 * bin_[u]
    mask = np.bitwise_or.reduceat(1 << (y - base[np.cumsum(brk) - 1]), u)
    is_vec = size > 1
    ut, ux = dt[u], x[u]
    first = np.arange(len(u)) == 0
    new_t = first.copy()
    new_t[1:] = ut[1:] != ut[:-1]
    new_high = first.copy()
    new_high[1:] = (ut[1:] >> 12) != (ut[:-1] >> 12)
    new_x = first.copy()
    new_x[1:] = ux[1:] != ux[:-1]
    words = [np.where(new_high, CMP_TIME_HIGH << 12 | (ut >> 12), -1),
             np.where(new_t, CMP_TIME_LOW << 12 | (ut & 0xFFF), -1),
             np.where(new_x, CMP_ADDR_X << 12 | ux, -1),
             np.where(is_vec, CMP_VECT_BASE_Y << 12 | p[u] << 11 | base, -1),
             np.where(is_vec, CMP_VECT_8 << 12 | mask, CMP_ADDR_Y << 12 | p[u] << 11 | y[u])]
    out = np.stack(words, axis=1).reshape(-1)
    return out[out >= 0].astype("<u2").tobytes()
