"""What every stream decoder shares: the trigger container, the counters and the byte carry-over.

A decoder is stateful: one instance decodes the packets of one stream in order. Bytes that do
not fill a whole word at the end of a packet are kept and prefixed to the next packet, so a
stream may be cut at any byte boundary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events.container import Events

MAX_SENSOR_SIZE = 1 << 16
_NO_TIME = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Triggers:
    """External trigger edges: ``t`` int64 ns (sensor clock), ``p`` uint8 edge (1 = rising),
    ``id`` uint8 trigger channel."""

    t: np.ndarray
    p: np.ndarray
    id: np.ndarray

    @classmethod
    def empty(cls) -> "Triggers":
        return _NO_TRIGGERS

    @classmethod
    def concatenate(cls, parts: list["Triggers"]) -> "Triggers":
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("t", "p", "id")))

    def __len__(self) -> int:
        return len(self.t)


# One shared empty instance: decoders hand it out for every packet without triggers (its
# arrays are empty and read-only, so sharing it is safe and saves three allocations a packet).
_NO_TRIGGERS = Triggers(*(np.empty(0, dt) for dt in (np.int64, np.uint8, np.uint8)))
for _a in (_NO_TRIGGERS.t, _NO_TRIGGERS.p, _NO_TRIGGERS.id):
    _a.flags.writeable = False


def as_byte_view(buf, encoding: str) -> memoryview:
    """A flat byte view of ``buf`` (bytes, bytearray, memoryview, uint8 array, list of ints)."""
    if isinstance(buf, np.ndarray):
        if buf.dtype != np.uint8:
            buf = np.ascontiguousarray(buf).view(np.uint8)
        return memoryview(np.ascontiguousarray(buf).reshape(-1))
    if isinstance(buf, (list, tuple)):  # EventPacket.events arrives as a list in some rclpy paths
        try:
            return memoryview(bytes(buf))
        except (TypeError, ValueError) as exc:
            raise DecodeError(f"{encoding} packet: a list of byte values 0..255 was expected ({exc})") from None
    try:
        view = memoryview(buf)
    except TypeError:
        raise DecodeError(
            f"{encoding} packet must be bytes-like (bytes, bytearray, memoryview, uint8 array), "
            f"got {type(buf).__name__}"
        ) from None
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


class StreamDecoder:
    """Base of the decoders: sensor size checks, counters, the partial-word carry-over.

    ``stats`` counts what was skipped, by reason (never silently). ``triggers`` holds the
    trigger edges of the latest ``decode`` call (empty for encodings without triggers).
    Every decoder's output is sorted by time within and across the packets of its stream: an
    event stamped earlier than one already decoded is kept with the newest time seen and
    counted in ``stats['time_clamped']`` (see ``_in_time_order``).
    """

    encoding = ""
    word_bytes = 1

    def __init__(self, width: int, height: int) -> None:
        width, height = int(width), int(height)
        if not (0 < width <= MAX_SENSOR_SIZE and 0 < height <= MAX_SENSOR_SIZE):
            raise DecodeError(
                f"{self.encoding} decoder: sensor size {width}x{height} must be within 1..{MAX_SENSOR_SIZE}"
            )
        self.width = width
        self.height = height
        self.triggers = Triggers.empty()
        self._pending = b""
        self.stats: dict[str, int] = {"packets": 0, "bytes": 0, "events": 0, "triggers": 0,
                                      "out_of_sensor": 0, "time_clamped": 0, "truncated_bytes": 0}
        self._t_max = _NO_TIME

    def reset(self) -> None:
        """Forget the stream state (start of a new stream); counters are kept."""
        self._pending = b""
        self.triggers = Triggers.empty()
        self._t_max = _NO_TIME

    def _in_time_order(self, t: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
        """``t`` (ns) with the time of every kept event (``keep``, default all) older than the
        newest kept one so far raised to that one's, so the output stays sorted within and
        across packets without losing events; the raised ones are counted in
        ``stats['time_clamped']``. Events not kept neither move the newest time nor get raised."""
        if not len(t):
            return t
        if keep is None or keep.all():
            if t[0] >= self._t_max and (len(t) < 2 or bool(np.all(t[1:] >= t[:-1]))):
                self._t_max = int(t[-1])  # already in order (the usual packet): nothing to raise
                return t
            t_kept = np.maximum.accumulate(t)
            np.maximum(t_kept, self._t_max, out=t_kept)
            self.stats["time_clamped"] += int(np.count_nonzero(t < t_kept))
            if len(t_kept):
                self._t_max = int(t_kept[-1])
            return t_kept
        idx = np.flatnonzero(keep)
        out = t.copy()
        if len(idx):
            out[idx] = self._in_time_order(t[idx])
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete word waiting for the next packet."""
        return len(self._pending)

    def finish(self) -> int:
        """End of stream: drop (and count in ``stats['truncated_bytes']``) an incomplete last word.

        Returns the number of bytes dropped."""
        dropped = len(self._pending)
        self.stats["truncated_bytes"] += dropped
        self._pending = b""
        return dropped

    def _whole_words(self, buf) -> bytes | memoryview:
        """The packet with the previous packet's partial word prefixed, cut at a word boundary;
        the remainder is kept for the next packet."""
        view = as_byte_view(buf, self.encoding)
        self.stats["packets"] += 1
        self.stats["bytes"] += len(view)
        if self._pending:
            data: bytes | memoryview = self._pending + bytes(view)
        else:
            data = view
        cut = len(data) - len(data) % self.word_bytes
        self._pending = bytes(data[cut:])
        return data[:cut]

    def _empty(self) -> Events:
        return Events.empty(self.width, self.height)
