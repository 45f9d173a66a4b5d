"""Prophesee EVT 3.0: a vectorised numpy decoder and an encoder.

The format's facts (word types, limits, the decoder state) are in evt3_format.py. EVT3 time is
in microseconds; had_ros times are nanoseconds, so a round trip keeps microsecond resolution
(the encoder floors to µs).

Two decoding paths give the same events, triggers, counters and state: a compiled numba kernel
(one pass over the words, had_ros.events._kernels.evt3_decode_fast), used when numba imports, and the
vectorised numpy reference, used without numba or with HAD_ROS_NO_NUMBA=1 (see accel.py). The
numpy path never loops over words in Python: the state an event word sees (time, y, vector base
x, polarity) is the value set by the last state word of that kind before it, found by a
cumulative count and a gather (see Evt3Decoder).
"""
from __future__ import annotations

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events import accel
from had_ros.events.codec import StreamDecoder, Triggers
from had_ros.events.container import Events
from had_ros.events.evt3_format import (  # noqa: F401  (re-exported: the names callers know)
    ADDR_X, ADDR_Y, CONTINUED_4, CONTINUED_12, EXT_TRIGGER, IGNORED_TYPES, KNOWN_TYPES, MAX_COORD,
    MAX_HIGH_STEP, NO_BASE, OTHERS, ROLLOVER_MARGIN, TIME_HIGH, TIME_LOW, VECT_8, VECT_12, VECT_BASE_X,
    Evt3State,
)

# Prefix counts of the three state kinds are packed in one int64 (21 bits each) so one
# cumulative sum serves them all; packets are decoded in chunks short enough for 21 bits.
_FIELD_BITS = 21
_FIELD_MASK = (1 << _FIELD_BITS) - 1
_CHUNK_WORDS = 1 << 18
_STATE_INC = np.zeros(16, np.int64)
_STATE_INC[[TIME_HIGH, TIME_LOW]] = 1
_STATE_INC[ADDR_Y] = 1 << _FIELD_BITS
_STATE_INC[VECT_BASE_X] = 1 << (2 * _FIELD_BITS)
_NO_TRIGGER_ROWS = np.empty((0, 3), np.int64)  # the kernel's trigger output when a packet has none
# The most output room evt3_decode_fast gets, in events a word (a VECT_12 word gives 12 events).
MAX_ROOM = 13.0


class Evt3Decoder(StreamDecoder):
    """Stateful EVT 3.0 decoder; ``decode(buf)`` returns the events of one packet.

    State carried across packets (``self.state``, an Evt3State): an incomplete trailing byte, the
    time (high, low, rollover count), the newest event time, the current y, the vector base x
    and polarity. Decoding starts at the first TIME_HIGH of the stream. ``time_base`` is accepted
    for a uniform interface and ignored (EVT3 times are absolute sensor µs). Trigger edges of the
    packet go to ``self.triggers``.

    Time, as Prophesee's own decoder (OpenEB) reads it: a TIME_HIGH that changes the high part
    sets the low part to 0 (the start of its 4096 µs period) until the TIME_LOW that sensors send
    next; a TIME_HIGH equal to the current one keeps the low part. (Keeping the old low part, as
    event_camera_codecs does, stamps an event between the two words up to 4096 µs late.) A
    TIME_HIGH more than ROLLOVER_MARGIN steps below the previous one is a wrap of the 24-bit
    counter (``stats['rollovers']``); a smaller step back is sensor jitter.

    Order: the output is sorted by time within and across packets. An event the stream stamps
    earlier than an event already decoded (TIME_HIGH jitter, a TIME_LOW going back) is kept and
    stamped with the newest time seen (``stats['time_clamped']`` counts them); its time is then
    off by at most the step back, which the stream does not let anyone resolve. Only kept events
    set the newest time: a dropped one (outside the sensor, no row yet) does not re-stamp others.

    Raises DecodeError for: a buffer that is not bytes-like. Counted skips (in ``stats``),
    never errors: ``before_time_high`` (words before the first TIME_HIGH), ``out_of_sensor``
    (x >= width or y >= height), ``no_address_y`` / ``no_base_x`` (events before any ADDR_Y or
    VECT_BASE_X), ``unknown_words`` (types 0x1, 0x9, 0xB, 0xC, 0xD: reserved, ignored),
    ``ignored_words`` (OTHERS/CONTINUED: vendor words such as event-rate counters),
    ``truncated_bytes`` (a partial last word at ``finish()``).

    ``backend``: "auto" (the numba kernel when numba imports and HAD_ROS_NO_NUMBA is unset,
    else numpy; decided at each ``decode``), or "numba" / "numpy" (the reference) whatever the
    environment says ("numba" raises HadError without numba). The paths share the state, so a
    stream may switch between them at any packet.

    How the numpy path avoids a loop over words: words are split into event words (ADDR_X, VECT_12,
    VECT_8) and state words (everything else). The k-th event word at position e has e - k
    state words before it, so its time, y and vector base are the state after that many
    state words: one packed prefix count over the state words, then one gather per field.
    Vector masks are unpacked to bits; the set bits, in order, are the events in stream order.
    """

    encoding = "evt3"
    word_bytes = 2

    def __init__(self, width: int, height: int, backend: str = "auto") -> None:
        super().__init__(width, height)
        if backend not in ("auto", "numba", "numpy"):
            raise DecodeError(f"evt3 decoder: backend must be 'auto', 'numba' or 'numpy', got {backend!r}")
        self.backend = backend
        self._kernels = accel.require_kernels() if backend == "numba" else None
        for key in ("before_time_high", "no_address_y", "no_base_x", "unknown_words",
                    "ignored_words", "rollovers"):
            self.stats[key] = 0
        self.state = Evt3State()
        self._room = 1.0  # output room of evt3_decode_fast, events a word (grows for vector streams)
        self._trig = np.empty((16, 3), np.int64)  # its trigger output, reused (copied out)

    def reset(self) -> None:
        super().reset()
        self.state.reset()

    @property
    def time_us(self) -> int | None:
        """The stream's current time in µs (None before the first TIME_HIGH)."""
        return (self.state.high << 12 | self.state.low) if self.state.started else None

    def decode(self, buf, time_base: int | None = None) -> Events:
        data = self._whole_words(buf)
        self.triggers = Triggers.empty()
        if not len(data):
            return self._empty()
        kernels = self._kernels if self.backend != "auto" else accel.kernels()
        if kernels is not None:
            return self._decode_compiled(kernels, data)
        w = np.frombuffer(data, dtype="<u2")
        if not self.state.started:
            first = np.flatnonzero((w >> 12) == TIME_HIGH)
            if not len(first):
                self.stats["before_time_high"] += len(w)
                return self._empty()
            i0 = int(first[0])
            self.stats["before_time_high"] += i0
            w = w[i0:]
            self.state.started = 1
            self.state.th_raw = self.state.high = int(w[0]) & 0xFFF
        if len(w) <= _CHUNK_WORDS:
            return self._decode_words(w)
        # Long buffers go in chunks: the packed prefix counts need < 2**21 words, and
        # cache-sized chunks are faster than one pass over large arrays.
        parts, triggers = [], []
        for i in range(0, len(w), _CHUNK_WORDS):
            parts.append(self._decode_words(w[i:i + _CHUNK_WORDS]))
            triggers.append(self.triggers)
        self.triggers = Triggers.concatenate(triggers)
        return Events.concatenate(parts)

    # -- the compiled path ----------------------------------------------------------------------
    def _decode_compiled(self, k, data) -> Events:
        w = np.frombuffer(data, dtype="<u2")
        if not (w.dtype.isnative and w.flags.aligned):
            w = w.astype(np.uint16)
        w.flags.writeable = False  # one kernel signature whatever buffer type came in
        # evt3_decode_fast first, without a counting pass: room for one event a word (what a
        # stream of single events needs), more once a packet of vectors asked for it.
        t, x, y, p = self._outputs(int(len(w) * self._room) + k.FAST_SLACK)
        n, nt, status = k.evt3_decode_fast(w, self.state.array, self.width, self.height, x, y, t, p,
                                           self._trig)
        if status < 0:  # time went back (events to re-stamp), or vectors outran the room
            return self._decode_exact(k, w, status == k.FAST_NEEDS_ROOM)
        if status == k.FAST_OK_COUNTED:
            for name, value in self.state.take_counters().items():
                self.stats[name] += value
            if nt:
                trig = self._trig
                self.triggers = Triggers(trig[:nt, 0].copy(), trig[:nt, 1].astype(np.uint8),
                                         trig[:nt, 2].astype(np.uint8))
        if not n:
            return self._empty()
        self.stats["events"] += n
        return Events._trusted(x[:n], y[:n], t[:n], p[:n], self.width, self.height)

    @staticmethod
    def _outputs(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """t, x, y, p for ``size`` events: views into one allocation (t first: 8-byte aligned)."""
        block = np.empty(size * 13, np.uint8)
        return (block[:8 * size].view(np.int64), block[8 * size:10 * size].view(np.uint16),
                block[10 * size:12 * size].view(np.uint16), block[12 * size:])

    def _decode_exact(self, k, w: np.ndarray, grow: bool) -> Events:
        """The packet through evt3_decode (or evt3_decode_vectors), sized by a counting pass."""
        n_ev, n_tr, n_x = k.evt3_count(w)
        if grow:  # the next packets get room for this one's density of events
            self._room = max(self._room, min(MAX_ROOM, (n_ev + len(w)) / max(len(w), 1) + 0.25))
            if n_tr > len(self._trig):
                self._trig = np.empty((2 * n_tr, 3), np.int64)
        t, x, y, p = self._outputs(n_ev + k.EVENT_SLACK)
        trig = np.empty((n_tr, 3), np.int64) if n_tr else _NO_TRIGGER_ROWS
        # Two kernels, the same results: one built for streams of single ADDR_X events (what a
        # real IMX636 sends in most scenes), one for streams of vector words.
        kernel = k.evt3_decode if 2 * n_x >= n_ev else k.evt3_decode_vectors
        n, nt = kernel(w, self.state.array, self.width, self.height, x, y, t, p, trig)
        for name, value in self.state.take_counters().items():
            self.stats[name] += value
        if nt:
            self.triggers = Triggers(trig[:nt, 0].copy(), trig[:nt, 1].astype(np.uint8),
                                     trig[:nt, 2].astype(np.uint8))
        if not n:
            return self._empty()
        return self._make(x[:n], y[:n], t[:n], p[:n])

    # -- the vectorised numpy path --------------------------------------------------------------
    def _decode_words(self, w: np.ndarray) -> Events:
        self.triggers = Triggers.empty()
        typ = w >> 12
        # (typ - 4) wraps around for types below 4, so this selects ADDR_X, VECT_12, VECT_8.
        is_event_word = (typ == ADDR_X) | ((typ - VECT_12) <= (VECT_8 - VECT_12))
        e_pos = np.flatnonzero(is_event_word)
        s_pos = np.flatnonzero(~is_event_word)
        ew, sw = w[e_pos], w[s_pos]
        styp = typ[s_pos]

        # prefix[i] packs the counts of time, ADDR_Y and VECT_BASE_X words among sw[:i].
        prefix = np.empty(len(sw) + 1, np.int64)
        prefix[0] = 0
        np.cumsum(_STATE_INC[styp], out=prefix[1:])
        n_time = int(prefix[-1] & _FIELD_MASK)
        n_y = int(prefix[-1] >> _FIELD_BITS & _FIELD_MASK)
        n_base = int(prefix[-1] >> 2 * _FIELD_BITS)
        trig = None
        if n_time + n_y + n_base < len(sw):  # other state words: triggers, ignored, unknown
            trig = self._other_words(sw, styp)

        time_ext = np.empty(n_time + 1, np.int64)
        time_ext[0] = self.state.high << 12 | self.state.low
        if n_time:
            time_ext[1:] = self._time_words(sw[np.flatnonzero((styp == TIME_HIGH) | (styp == TIME_LOW))])
        if trig is not None:
            tr_idx = trig
            tr = sw[tr_idx]
            self.triggers = Triggers(time_ext[prefix[tr_idx] & _FIELD_MASK] * 1000,
                                     (tr & 1).astype(np.uint8), ((tr >> 8) & 0xF).astype(np.uint8))
            self.stats["triggers"] += len(tr)
        y_ext = np.empty(n_y + 1, np.int64)
        y_ext[0] = self.state.y
        if n_y:
            np.bitwise_and(sw[np.flatnonzero(styp == ADDR_Y)], 0x7FF, out=y_ext[1:], casting="unsafe")
            self.state.y = int(y_ext[-1])
        b_idx = np.flatnonzero(styp == VECT_BASE_X) if n_base else np.empty(0, np.intp)
        if not len(ew):
            if n_base:
                b = int(sw[b_idx[-1]])
                self.state.base_x, self.state.pol = b & 0x7FF, (b >> 11) & 1
            return self._empty()

        # The state in force at each event word: that after the state words before it.
        at = prefix[e_pos - np.arange(len(e_pos))]
        t_e = time_ext[at & _FIELD_MASK]
        y_e = y_ext[at >> _FIELD_BITS & _FIELD_MASK]
        e_typ = typ[e_pos]
        is_addr = e_typ == ADDR_X
        if is_addr.all():
            if n_base:
                b = int(sw[b_idx[-1]])
                self.state.base_x, self.state.pol = b & 0x7FF, (b >> 11) & 1
            x_e = ew & 0x7FF
            p_e = (ew >> 11).astype(np.uint8)
            p_e &= 1
            if self._ordered_inside(t_e, y_e) and int(x_e.max()) < self.width:
                self.state.t_max = int(t_e[-1])
                return self._make(x_e, y_e.astype(np.uint16), t_e * 1000, p_e)
            return self._keep_valid(x_e.astype(np.int64), y_e, t_e, p_e)

        # Vector words: base x = the last VECT_BASE_X + the 12/8 steps of vector words since.
        step = np.where(e_typ == VECT_12, 12, np.where(e_typ == VECT_8, 8, 0))
        steps_incl = np.cumsum(step)
        b_words = sw[b_idx]
        events_before_b = s_pos[b_idx] - b_idx
        base_ext = np.empty(n_base + 1, np.int64)
        base_ext[0] = self.state.base_x
        base_ext[1:] = b_words & 0x7FF
        steps_ext = np.zeros(n_base + 1, np.int64)
        steps_ext[1:] = np.where(events_before_b > 0, steps_incl[events_before_b - 1], 0)
        pol_ext = np.empty(n_base + 1, np.uint8)
        pol_ext[0] = self.state.pol
        pol_ext[1:] = (b_words >> 11) & 1
        b_ord = at >> 2 * _FIELD_BITS
        self.state.base_x = int(base_ext[-1] + steps_incl[-1] - steps_ext[-1])
        if self.state.base_x < 0:  # keep the 'no base yet' sentinel from drifting towards valid x
            self.state.base_x = NO_BASE
        self.state.pol = int(pol_ext[-1])

        base_e = np.where(is_addr, ew & 0x7FF, base_ext[b_ord] + (steps_incl - step) - steps_ext[b_ord])
        p_e = np.where(is_addr, (ew >> 11) & 1, pol_ext[b_ord]).astype(np.uint8)
        mask_e = np.where(is_addr, np.uint16(1), np.where(e_typ == VECT_8, ew & 0xFF, ew & 0xFFF))
        # One bit per (word, column): the set bits in row-major order are the events in
        # stream order; bit index i = 16 * word + column, so x = base - 16 * word + i.
        bits = np.unpackbits(mask_e.astype("<u2").view(np.uint8), bitorder="little").view(bool)
        idx = np.flatnonzero(bits)
        if not len(idx):  # only empty vector masks
            return self._empty()
        row = idx >> 4
        base_e -= np.arange(0, 16 * len(base_e), 16)
        x = base_e[row]
        x += idx
        if self._ordered_inside(t_e, y_e) and int(x.min()) >= 0 and int(x.max()) < self.width:
            # the newest event's time: a later empty vector word gives no event, no time
            self.state.t_max = int(t_e[row[-1]])
            return self._make(x.astype(np.uint16), y_e.astype(np.uint16)[row], (t_e * 1000)[row], p_e[row])
        return self._keep_valid(x, y_e[row], t_e[row], p_e[row])

    def _other_words(self, sw: np.ndarray, styp: np.ndarray) -> np.ndarray | None:
        """Count ignored and unknown state words; the indices of EXT_TRIGGER words, if any."""
        counts = np.bincount(styp, minlength=16)
        self.stats["ignored_words"] += int(counts[list(IGNORED_TYPES)].sum())
        self.stats["unknown_words"] += int(len(sw) - counts[list(KNOWN_TYPES)].sum())
        return np.flatnonzero(styp == EXT_TRIGGER) if counts[EXT_TRIGGER] else None

    def _time_words(self, t_words: np.ndarray) -> np.ndarray:
        """Absolute µs time set by each TIME_HIGH/TIME_LOW word (rollovers applied); updates state.

        A TIME_HIGH that changes the high field sets the low part to 0, one that repeats it keeps
        the low part (see the class docstring). So the low part at a TIME_HIGH word is 0 when any
        TIME_HIGH since the last TIME_LOW (itself included) changed the field, else that
        TIME_LOW's value (or the state's, with no TIME_LOW before it in this chunk). TIME_HIGH
        words are few (one per 4.096 ms), so the high part is a repeat over their runs and only
        they need a look-back."""
        h_idx = np.flatnonzero(t_words >= (TIME_HIGH << 12))
        low = (t_words & 0xFFF).astype(np.int64)
        if not len(h_idx):
            self.state.low = int(low[-1])
            return low | (self.state.high << 12)
        th = low[h_idx]  # the 12-bit TIME_HIGH fields
        prev = np.empty_like(th)
        prev[0] = self.state.th_raw
        prev[1:] = th[:-1]
        wraps = (prev - th) > ROLLOVER_MARGIN
        high = (((self.state.high >> 12) + np.cumsum(wraps)) << 12) | th
        self.stats["rollovers"] += int(wraps.sum())
        changes = np.cumsum(th != prev)  # TIME_HIGH words changing the field, up to each one
        is_low = np.ones(len(t_words), bool)
        is_low[h_idx] = False
        l_idx = np.flatnonzero(is_low)
        if len(l_idx):
            before = np.searchsorted(l_idx, h_idx) - 1  # the last TIME_LOW before each TIME_HIGH
            base = np.where(before >= 0, low[l_idx[np.maximum(before, 0)]], self.state.low)
            # the first TIME_HIGH after that TIME_LOW (0 without one): changes since then
            first = np.where(before >= 0, np.searchsorted(h_idx, l_idx[np.maximum(before, 0)]), 0)
        else:
            base = np.full(len(h_idx), self.state.low, np.int64)
            first = np.zeros(len(h_idx), np.intp)
        changes_before_first = changes[first] - (th[first] != prev[first])
        low[h_idx] = np.where(changes - changes_before_first > 0, 0, base)
        runs = np.diff(np.concatenate(([0], h_idx, [len(t_words)])))
        out = np.repeat(np.concatenate(([self.state.high], high)) << 12, runs)
        out |= low
        self.state.th_raw, self.state.high = int(th[-1]), int(high[-1])
        self.state.low = int(low[-1])
        return out

    def _ordered_inside(self, t_e: np.ndarray, y_e: np.ndarray) -> bool:
        """True when the event words keep time order and all have a y inside the sensor."""
        return (int(y_e.min()) >= 0 and int(y_e.max()) < self.height and int(t_e[0]) >= self.state.t_max
                and not (t_e[1:] < t_e[:-1]).any())

    def _make(self, x, y, t, p) -> Events:
        self.stats["events"] += len(t)
        return Events._trusted(x, y, t, p, self.width, self.height)

    def _keep_valid(self, x, y, t, p) -> Events:
        """Drop (and count) events outside the sensor or before any y/base; stamp kept events
        older than the newest kept one with that one's time (and count them)."""
        if len(t) == 0:
            return self._empty()
        no_y = y < 0
        no_base = x < 0
        known = ~no_y & ~no_base
        inside = (x < self.width) & (y < self.height)
        keep = np.flatnonzero(known & inside)
        self.stats["no_address_y"] += int(no_y.sum())
        self.stats["no_base_x"] += int((no_base & ~no_y).sum())
        self.stats["out_of_sensor"] += int((known & ~inside).sum())
        t = t[keep]
        if len(t):
            t_kept = np.maximum.accumulate(t)
            np.maximum(t_kept, self.state.t_max, out=t_kept)
            self.state.t_max = int(t_kept[-1])
            self.stats["time_clamped"] += int(np.count_nonzero(t < t_kept))
            t = t_kept
        return self._make(x[keep].astype(np.uint16), y[keep].astype(np.uint16), t * 1000,
                          p[keep].astype(np.uint8))


# -- encoder -----------------------------------------------------------------------------------
def encode_evt3(events: Events, vectorize: bool = True, prev_time_us: int | None = None) -> bytes:
    """Encode events as an EVT 3.0 word stream (no file header), starting with TIME_HIGH.

    Times are floored to µs (EVT3 resolution), so ``decode(encode(ev))`` equals ``ev`` for
    events whose times are whole µs. Any time >= 0 round-trips: TIME_HIGH words are inserted
    from 0 and across long gaps so every 24-bit rollover is seen by the decoder. With
    ``vectorize``, runs of same-time, same-row, same-polarity events with increasing x are
    packed into VECT_12/VECT_8 words (as sensors do), otherwise one ADDR_X per event.
    ``prev_time_us`` continues a stream encoded in chunks: the µs time of the previous chunk's
    last event, so TIME_HIGH words go on from there instead of from 0 (which a decoder would
    take for a rollover). Chunks keep memory bounded: encoding needs ~200 bytes per event.
    Raises DecodeError for unsorted or negative times and x or y beyond the 11-bit fields.
    """
    n = len(events)
    if n == 0:
        return b""
    t_us = events.t // 1000
    if t_us[0] < 0:
        raise DecodeError(f"encode_evt3: times must be >= 0 ns, got {int(events.t[0])}")
    if n > 1 and np.any(t_us[1:] < t_us[:-1]):
        raise DecodeError("encode_evt3: events must be sorted by time")
    if prev_time_us is not None and t_us[0] < prev_time_us:
        raise DecodeError(f"encode_evt3: chunk starts at {int(t_us[0])} µs, before the previous chunk's "
                          f"last event at {int(prev_time_us)} µs")
    x = events.x.astype(np.int64)
    y = events.y.astype(np.int64)
    p = events.p.astype(np.int64) & 1
    if x.max() >= MAX_COORD or y.max() >= MAX_COORD:
        raise DecodeError(
            f"encode_evt3: x and y must be < {MAX_COORD} (11-bit fields), got max x {int(x.max())}, "
            f"max y {int(y.max())}"
        )

    # Units: one ADDR_X event, or a run packed into one vector word. A group is a run of
    # consecutive events with equal (t, y, p) and strictly increasing x; it is cut into
    # 12-wide bins from its first x.
    same_prev = np.zeros(n, bool)
    if vectorize and n > 1:
        same_prev[1:] = ((t_us[1:] == t_us[:-1]) & (y[1:] == y[:-1]) & (p[1:] == p[:-1])
                         & (x[1:] > x[:-1]))
    group_start = np.flatnonzero(~same_prev)
    group_id = np.cumsum(~same_prev) - 1
    bin_ = (x - x[group_start][group_id]) // 12
    unit_break = ~same_prev
    unit_break[1:] |= bin_[1:] != bin_[:-1]
    u_first = np.flatnonzero(unit_break)
    u_size = np.diff(np.append(u_first, n))
    u_t = t_us[u_first]
    u_y = y[u_first]
    u_p = p[u_first]
    u_group = group_id[u_first]
    u_base = x[group_start][u_group] + 12 * bin_[u_first]
    u_mask = np.bitwise_or.reduceat(1 << (x - u_base[np.cumsum(unit_break) - 1]), u_first)
    is_vec = u_size > 1
    is_v8 = is_vec & (u_mask < 256)
    n_units = len(u_first)

    # Which units need TIME_HIGH (and extra ones across gaps), TIME_LOW, ADDR_Y, VECT_BASE_X.
    high = u_t >> 12
    prev_high = np.empty(n_units, np.int64)
    # From 0 upward for a new stream; from the previous chunk's TIME_HIGH when continuing one.
    prev_high[0] = -MAX_HIGH_STEP if prev_time_us is None else int(prev_time_us) >> 12
    prev_high[1:] = high[:-1]
    new_high = high != prev_high
    n_extra_high = np.maximum((high - prev_high + MAX_HIGH_STEP - 1) // MAX_HIGH_STEP - 1, 0)
    new_low = np.ones(n_units, bool)
    new_low[1:] = (u_t[1:] != u_t[:-1]) | new_high[1:]
    new_y = np.ones(n_units, bool)
    new_y[1:] = u_y[1:] != u_y[:-1]
    need_base = is_vec.copy()
    v_idx = np.flatnonzero(is_vec)
    if len(v_idx) > 1:
        a, b = v_idx[:-1], v_idx[1:]
        chained = (u_group[a] == u_group[b]) & (u_base[a] + np.where(is_v8[a], 8, 12) == u_base[b])
        need_base[b[chained]] = False

    n_words = n_extra_high + new_high + new_low + new_y + need_base + 1
    end = np.cumsum(n_words)
    out = np.empty(int(end[-1]), np.uint16)
    pos = end - 1  # the unit's event word is its last word
    out[pos] = np.where(
        is_vec, np.where(is_v8, (VECT_8 << 12) | u_mask, (VECT_12 << 12) | u_mask),
        (ADDR_X << 12) | (u_p << 11) | x[u_first],
    )
    pos = pos - 1
    sel = need_base
    out[pos[sel]] = (VECT_BASE_X << 12) | (u_p[sel] << 11) | u_base[sel]
    pos = pos - sel
    out[pos[new_y]] = (ADDR_Y << 12) | u_y[new_y]
    pos = pos - new_y
    out[pos[new_low]] = (TIME_LOW << 12) | (u_t[new_low] & 0xFFF)
    pos = pos - new_low
    out[pos[new_high]] = (TIME_HIGH << 12) | (high[new_high] & 0xFFF)
    pos = pos - new_high
    if n_extra_high.any():
        # Extra TIME_HIGH j (1-based, counted back from the unit's own) is at pos - j + 1 and
        # holds prev_high + (k - j + 1) * step for a unit with k extras.
        units = np.repeat(np.arange(n_units), n_extra_high)
        k = n_extra_high[units]
        j = np.arange(len(units)) - np.repeat(np.cumsum(n_extra_high) - n_extra_high, n_extra_high) + 1
        value = prev_high[units] + (k - j + 1) * MAX_HIGH_STEP
        out[pos[units] - j + 1] = (TIME_HIGH << 12) | (value & 0xFFF)
    return out.astype("<u2", copy=False).tobytes()
