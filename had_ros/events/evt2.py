"""Prophesee EVT 2.0 and EVT 2.1: vectorised numpy decoders and encoders (for tests and fixtures).

EVT 2.0 (Gen3 and older .raw files; Prophesee's "EVT 2.0 Format" page): little-endian 32-bit
words, type in bits 31..28. CD_OFF 0x0 / CD_ON 0x1: time LSB bits 27..22 (6 bits), x bits 21..11,
y bits 10..0. EVT_TIME_HIGH 0x8: time MSB bits 27..0 (28 bits). EXT_TRIGGER 0xA: time LSB bits
27..22, channel bits 12..8, edge bit 0. OTHERS 0xE and CONTINUED 0xF: vendor words, ignored.
Time in µs = (TIME_HIGH << 6) | LSB, 34 bits (wraps after 4 h 46 min).

EVT 2.1 (Prophesee's "EVT 2.1 Format" page): 64-bit words, type in bits 63..60. EVT_NEG 0x0 /
EVT_POS 0x1: time LSB bits 59..54, x bits 53..43 (a multiple of 32), y bits 42..32, a 32-bit
validity mask in bits 31..0: one event at x + i for each set bit i. EVT_TIME_HIGH 0x8: time MSB
bits 59..32. EXT_TRIGGER 0xA: time LSB bits 59..54, channel bits 44..40, edge bit 32. Byte order:
the whole word little-endian (GenX320; ``endianness`` "little", the default), or, as IMX636
sends it and older EVT 2.1 files store it, two little-endian 32-bit halves with the upper half
first (``endianness`` "legacy"; a .raw header says so with ``format EVT21;endianness=legacy``).

Both decoders keep across packets: a partial trailing word, the time high part with its wraps,
and the newest event time. Decoding starts at the first TIME_HIGH (``before_time_high`` counts
words before it). A TIME_HIGH more than half its range below the previous one is a wrap
(``rollovers``); a smaller step back is jitter, and the events it stamps earlier than ones
already decoded are kept with the newest time seen (``time_clamped``), so the output is sorted.
"""
from __future__ import annotations

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events.codec import StreamDecoder, Triggers
from had_ros.events.container import Events

CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER, OTHERS, CONTINUED = 0x0, 0x1, 0x8, 0xA, 0xE, 0xF
IGNORED_TYPES = (OTHERS, CONTINUED)
LSB_BITS = 6
HIGH_BITS = 28
MAX_COORD = 1 << 11
_HIGH_MASK = (1 << HIGH_BITS) - 1
_WRAP_MARGIN = 1 << (HIGH_BITS - 1)  # a step back larger than half the range is a wrap
ENDIANNESS = ("little", "legacy")


class _Evt2Base(StreamDecoder):
    """What EVT 2.0 and 2.1 share: the TIME_HIGH state and the per-word time."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(width, height)
        for key in ("before_time_high", "unknown_words", "ignored_words", "rollovers"):
            self.stats[key] = 0
        self._started = False
        self._th_raw = 0   # last TIME_HIGH field
        self._high = 0     # last TIME_HIGH with wraps: (wraps << 28) | field

    def reset(self) -> None:
        super().reset()
        self._started = False
        self._th_raw = self._high = 0

    def _words(self, buf) -> tuple[np.ndarray, np.ndarray] | None:
        """(type, word) arrays of the packet from the first TIME_HIGH on, or None."""
        raw = self._whole_words(buf)
        self.triggers = Triggers.empty()
        if not len(raw):
            return None
        w = self._as_words(raw)
        typ = (w >> (8 * self.word_bytes - 4)).astype(np.uint8)
        if not self._started:
            first = np.flatnonzero(typ == TIME_HIGH)
            if not len(first):
                self.stats["before_time_high"] += len(w)
                return None
            i0 = int(first[0])
            self.stats["before_time_high"] += i0
            w, typ = w[i0:], typ[i0:]
            self._started = True
            self._th_raw = self._high = int(self._high_field(w[:1])[0])
        return typ, w

    def _high_at(self, typ: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The TIME_HIGH (wraps applied) in force at each word; updates the state."""
        is_high = typ == TIME_HIGH
        h_idx = np.flatnonzero(is_high)
        if not len(h_idx):
            return np.full(len(w), self._high, np.int64)
        th = self._high_field(w[h_idx]).astype(np.int64)
        prev = np.empty_like(th)
        prev[0] = self._th_raw
        prev[1:] = th[:-1]
        wraps = (prev - th) > _WRAP_MARGIN
        self.stats["rollovers"] += int(wraps.sum())
        high = (((self._high >> HIGH_BITS) + np.cumsum(wraps)) << HIGH_BITS) | th
        which = np.cumsum(is_high)  # TIME_HIGH words up to and including each word
        high_ext = np.concatenate(([self._high], high))
        self._th_raw, self._high = int(th[-1]), int(high[-1])
        return high_ext[which]

    def decode(self, buf, time_base: int | None = None) -> Events:
        """The events of one packet (``time_base`` is ignored: times are absolute sensor µs)."""
        words = self._words(buf)
        if words is None:
            return self._empty()
        typ, w = words
        high = self._high_at(typ, w)
        self._count_other(typ, (CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER))
        upper = self._upper(w)  # the 32 bits of type, time LSB, x, y / trigger channel and edge
        t_us = (high << LSB_BITS) | ((upper >> 22) & 0x3F).astype(np.int64)
        tr = np.flatnonzero(typ == EXT_TRIGGER)
        self._set_triggers(t_us[tr], upper[tr] & 1, (upper[tr] >> 8) & 0x1F)
        cd = np.flatnonzero(typ <= CD_ON)
        return self._cd(typ[cd], w[cd], upper[cd], t_us[cd])

    def _count_other(self, typ: np.ndarray, known: tuple[int, ...]) -> None:
        counts = np.bincount(typ, minlength=16)
        self.stats["ignored_words"] += int(counts[list(IGNORED_TYPES)].sum())
        self.stats["unknown_words"] += int(len(typ) - counts[list(known + IGNORED_TYPES)].sum())

    def _finish(self, x, y, t_us, p) -> Events:
        inside = (x < self.width) & (y < self.height)
        t = self._in_time_order(t_us * 1000, inside)
        self.stats["out_of_sensor"] += int(len(t) - np.count_nonzero(inside))
        if not inside.all():
            keep = np.flatnonzero(inside)
            x, y, t, p = x[keep], y[keep], t[keep], p[keep]
        self.stats["events"] += len(t)
        return Events(x.astype(np.uint16), y.astype(np.uint16), t, p.astype(np.uint8), self.width, self.height)

    def _set_triggers(self, t_us: np.ndarray, edge: np.ndarray, channel: np.ndarray) -> None:
        if len(t_us):
            self.triggers = Triggers(t_us * 1000, edge.astype(np.uint8), channel.astype(np.uint8))
            self.stats["triggers"] += len(t_us)


class Evt2Decoder(_Evt2Base):
    """Stateful EVT 2.0 decoder (see the module docstring); ``decode(buf)`` returns a packet's
    events, trigger edges go to ``self.triggers``. ``time_base`` is ignored (absolute sensor µs).

    Raises DecodeError for a buffer that is not bytes-like. Counted, never errors: words before
    the first TIME_HIGH, ``out_of_sensor``, ``unknown_words`` (reserved types: padding and vendor
    words), ``ignored_words`` (OTHERS/CONTINUED), ``truncated_bytes`` (at ``finish()``)."""

    encoding = "evt2"
    word_bytes = 4

    @staticmethod
    def _as_words(raw) -> np.ndarray:
        return np.frombuffer(raw, "<u4")

    @staticmethod
    def _high_field(w: np.ndarray) -> np.ndarray:
        return w & _HIGH_MASK

    @staticmethod
    def _upper(w: np.ndarray) -> np.ndarray:
        return w

    def _cd(self, typ, w, upper, t_us) -> Events:
        return self._finish((upper >> 11) & 0x7FF, upper & 0x7FF, t_us, typ)


class Evt21Decoder(_Evt2Base):
    """Stateful EVT 2.1 decoder (see the module docstring; ``endianness`` "little" or "legacy").
    Same counters and errors as Evt2Decoder; ``decode(buf)`` returns a packet's events."""

    encoding = "evt21"
    word_bytes = 8

    def __init__(self, width: int, height: int, endianness: str = "little") -> None:
        if endianness not in ENDIANNESS:
            raise DecodeError(f"evt21 decoder: endianness must be one of {ENDIANNESS}, got {endianness!r}")
        super().__init__(width, height)
        self.endianness = endianness

    def _as_words(self, raw) -> np.ndarray:
        if self.endianness == "little":
            return np.frombuffer(raw, "<u8")
        halves = np.frombuffer(raw, "<u4").astype(np.uint64)
        return (halves[0::2] << np.uint64(32)) | halves[1::2]

    @staticmethod
    def _high_field(w: np.ndarray) -> np.ndarray:
        return (w >> np.uint64(32)) & np.uint64(_HIGH_MASK)

    @staticmethod
    def _upper(w: np.ndarray) -> np.ndarray:
        return (w >> np.uint64(32)).astype(np.uint32)

    def _cd(self, typ, w, upper, t_us) -> Events:
        mask = (w & np.uint64(0xFFFFFFFF)).astype("<u4")
        bits = np.unpackbits(mask.view(np.uint8), bitorder="little").view(bool)
        idx = np.flatnonzero(bits)
        row = idx >> 5
        u = upper[row]
        x = ((u >> 11) & 0x7FF).astype(np.int64) + (idx & 31)
        return self._finish(x, u & 0x7FF, t_us[row], typ[row])


# -- encoders (tests, fixtures, conversions) -------------------------------------------------------
def _check(events: Events, name: str) -> np.ndarray:
    t_us = events.t // 1000
    if len(t_us) and t_us[0] < 0:
        raise DecodeError(f"{name}: times must be >= 0 ns, got {int(events.t[0])}")
    if len(t_us) > 1 and np.any(t_us[1:] < t_us[:-1]):
        raise DecodeError(f"{name}: events must be sorted by time")
    if len(t_us) and (int(events.x.max()) >= MAX_COORD or int(events.y.max()) >= MAX_COORD):
        raise DecodeError(f"{name}: x and y must be < {MAX_COORD} (11-bit fields)")
    if len(t_us) and int(t_us[-1]) >> (LSB_BITS + HIGH_BITS):
        raise DecodeError(f"{name}: times must be < 2**34 µs (the 34-bit counter; no wraps in the encoder)")
    return t_us


def _with_time_high(t_us: np.ndarray, payload: np.ndarray, high_word) -> np.ndarray:
    """Insert a TIME_HIGH word before every event whose high part differs from the one before."""
    high = t_us >> LSB_BITS
    new = np.ones(len(high), bool)
    new[1:] = high[1:] != high[:-1]
    pos = np.arange(len(high)) + np.cumsum(new)  # each event's slot after the inserted words
    out = np.empty(len(high) + int(new.sum()), payload.dtype)
    out[pos] = payload
    out[pos[new] - 1] = high_word(high[new])
    return out


def encode_evt2(events: Events) -> bytes:
    """EVT 2.0 words (no file header) of sorted events; times floored to µs. A TIME_HIGH word
    precedes the first event and every change of the high part. Raises DecodeError for unsorted
    or negative times, x/y beyond 11 bits, times of 2**34 µs or more."""
    t_us = _check(events, "encode_evt2")
    if not len(t_us):
        return b""
    payload = ((events.p.astype(np.uint32) & 1) << 28 | (t_us & 0x3F).astype(np.uint32) << 22
               | events.x.astype(np.uint32) << 11 | events.y.astype(np.uint32))
    words = _with_time_high(t_us, payload, lambda h: (np.uint32(TIME_HIGH) << 28) | h.astype(np.uint32))
    return words.astype("<u4").tobytes()


def encode_evt21(events: Events, endianness: str = "little") -> bytes:
    """EVT 2.1 words of sorted events: consecutive same-time, same-row, same-polarity events with
    increasing x inside one 32-pixel column block share a word (so decoding gives back the same
    order). ``endianness`` as Evt21Decoder. Errors as encode_evt2."""
    if endianness not in ENDIANNESS:
        raise DecodeError(f"encode_evt21: endianness must be one of {ENDIANNESS}, got {endianness!r}")
    t_us = _check(events, "encode_evt21")
    if not len(t_us):
        return b""
    x = events.x.astype(np.int64)
    key = np.stack([t_us, events.y.astype(np.int64), events.p.astype(np.int64) & 1, x >> 5])
    new = np.ones(len(x), bool)
    new[1:] = (key[:, 1:] != key[:, :-1]).any(axis=0) | (x[1:] <= x[:-1])
    starts = np.flatnonzero(new)
    # a group's events are consecutive: one reduceat ORs their bits
    mask = np.bitwise_or.reduceat(np.uint64(1) << (x & 31).astype(np.uint64), starts)
    s = starts
    upper = ((key[2, s] << 28) | ((t_us[s] & 0x3F) << 22) | ((x[s] & ~31) << 11) | key[1, s]).astype(np.uint64)
    payload = (upper << np.uint64(32)) | mask
    words = _with_time_high(t_us[s], payload,
                            lambda h: ((np.uint64(TIME_HIGH) << np.uint64(28)) | h.astype(np.uint64)) << np.uint64(32))
    if endianness == "little":
        return words.astype("<u8").tobytes()
    halves = np.empty(2 * len(words), "<u4")
    halves[0::2] = words >> np.uint64(32)
    halves[1::2] = words & np.uint64(0xFFFFFFFF)
    return halves.tobytes()
