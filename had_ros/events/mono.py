"""The 64-bit 'mono' and 'trigger' encodings of event_camera_msgs (see docs/DESIGN.md).

mono: little-endian uint64 per event, bits 0-31 dt ns (t = time_base + dt), bits 32-47 x,
bits 48-62 y, bit 63 polarity. trigger: bits 0-31 dt ns, bit 63 edge.
"""
from __future__ import annotations

import sys

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events import accel
from had_ros.events.codec import StreamDecoder, Triggers
from had_ros.events.container import P_DTYPE, T_DTYPE, X_DTYPE, Y_DTYPE, Events

_DT_LIMIT = 1 << 32


class MonoDecoder(StreamDecoder):
    """Stateful 'mono' decoder: ``decode(buf, time_base=0)`` with time_base in ns (the
    EventPacket field); a partial trailing word waits for the next packet.

    Raises DecodeError for a buffer that is not bytes-like or a negative time_base. Counted
    skips (``stats``): ``out_of_sensor``, ``truncated_bytes`` (at ``finish()``). Events older
    than one already decoded are kept, stamped with the newest time seen, and counted in
    ``time_clamped`` (so the output stays sorted).
    """

    encoding = "mono"
    word_bytes = 8

    def decode(self, buf, time_base: int = 0) -> Events:
        time_base = _check_time_base(time_base, self.encoding)
        data = self._whole_words(buf)
        if not len(data):
            return self._empty()
        k = accel.kernels()
        if k is not None and sys.byteorder == "little":
            return self._decode_compiled(k, np.frombuffer(data, dtype=np.uint64), time_base)
        # The fields of a little-endian word as 32- and 16-bit lanes (views, no shifts of 64-bit
        # words): dt is the low half, x the third lane, y and the polarity bit the fourth.
        lanes = np.frombuffer(data, dtype="<u2").reshape(-1, 4)
        t = np.frombuffer(data, dtype="<u4")[::2].astype(np.int64)
        t += time_base
        x = lanes[:, 2].astype(np.uint16)
        top = lanes[:, 3]
        y = np.bitwise_and(top, 0x7FFF, dtype=np.uint16)
        p = (top >> 15).astype(np.uint8)
        inside = (x < self.width) & (y < self.height)
        t = self._in_time_order(t, inside)
        self.stats["out_of_sensor"] += int(len(t) - np.count_nonzero(inside))
        if not inside.all():
            keep = np.flatnonzero(inside)
            x, y, t, p = x[keep], y[keep], t[keep], p[keep]
        self.stats["events"] += len(t)
        return Events(x, y, t, p, self.width, self.height)

    def _decode_compiled(self, k, words: np.ndarray, time_base: int) -> Events:
        """The same as the numpy path in one pass of a compiled kernel (nogil: the GIL is free
        for the node's other threads meanwhile)."""
        m = len(words)
        x, y = np.empty(m, X_DTYPE), np.empty(m, Y_DTYPE)
        t, p = np.empty(m, T_DTYPE), np.empty(m, P_DTYPE)
        n, self._t_max, clamped, outside = (int(v) for v in k.mono_decode(
            words, np.int64(time_base), self.width, self.height, np.int64(self._t_max), x, y, t, p))
        self.stats["time_clamped"] += clamped
        self.stats["out_of_sensor"] += outside
        self.stats["events"] += n
        if n < m:
            x, y, t, p = x[:n], y[:n], t[:n], p[:n]
        return Events._trusted(x, y, t, p, self.width, self.height)


class TriggerDecoder(StreamDecoder):
    """Stateful 'trigger' decoder. ``decode(buf, time_base=0)`` returns no events (triggers
    are not pixel events); the edges are in ``self.triggers`` (id 0). Raises DecodeError for a
    buffer that is not bytes-like or a negative time_base."""

    encoding = "trigger"
    word_bytes = 8

    def decode(self, buf, time_base: int = 0) -> Events:
        time_base = _check_time_base(time_base, self.encoding)
        data = self._whole_words(buf)
        words = np.frombuffer(data, dtype="<u8")
        t = (words & 0xFFFFFFFF).astype(np.int64) + time_base
        self.triggers = Triggers(t, (words >> 63).astype(np.uint8), np.zeros(len(t), np.uint8))
        self.stats["triggers"] += len(t)
        return self._empty()


def _check_time_base(time_base, encoding: str) -> int:
    try:
        value = int(time_base)
    except (TypeError, ValueError):
        raise DecodeError(f"{encoding} packet: time_base must be an integer (ns), got {time_base!r}") from None
    if value < 0:
        raise DecodeError(f"{encoding} packet: time_base must be >= 0 ns, got {value}")
    return value


def encode_mono(events: Events, time_base: int) -> bytes:
    """Encode events as 'mono' words relative to ``time_base`` (ns).

    Raises DecodeError when an event time is before time_base or 2**32 ns (4.29 s) or more
    after it, or when x >= 65536 or y >= 32768 (the field widths)."""
    time_base = _check_time_base(time_base, "mono")
    if not len(events):
        return b""
    dt = events.t - time_base
    if dt.min() < 0 or dt.max() >= _DT_LIMIT:
        raise DecodeError(
            f"encode_mono: event times must be within [time_base, time_base + 2**32) ns, got "
            f"dt in [{int(dt.min())}, {int(dt.max())}] for time_base {time_base}"
        )
    if int(events.y.max()) >= 1 << 15:
        raise DecodeError(f"encode_mono: y must be < 32768, got {int(events.y.max())}")
    words = (dt.astype(np.uint64) | (events.x.astype(np.uint64) << np.uint64(32))
             | (events.y.astype(np.uint64) << np.uint64(48))
             | ((events.p.astype(np.uint64) & np.uint64(1)) << np.uint64(63)))
    return words.astype("<u8", copy=False).tobytes()


def encode_trigger(t: np.ndarray, edge: np.ndarray, time_base: int) -> bytes:
    """Encode trigger edges (times ns, edge 0/1) as 'trigger' words relative to time_base."""
    time_base = _check_time_base(time_base, "trigger")
    t = np.asarray(t, np.int64)
    if not len(t):
        return b""
    dt = t - time_base
    if dt.min() < 0 or dt.max() >= _DT_LIMIT:
        raise DecodeError("encode_trigger: trigger times must be within [time_base, time_base + 2**32) ns")
    words = dt.astype(np.uint64) | ((np.asarray(edge, np.uint64) & np.uint64(1)) << np.uint64(63))
    return words.astype("<u8", copy=False).tobytes()
