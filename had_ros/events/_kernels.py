"""Compiled (numba) kernels of the event pipeline: the EVT3 word loop and the representation scatters.

Load through ``had_ros.events.accel.kernels()`` (lazy import, ``HAD_ROS_NO_NUMBA``), never directly.
Each kernel reproduces its numpy reference in evt3.py / representations.py exactly (same events,
counters and float64 sums in the same order); the tests compare the two paths.

Kernels are single-threaded (one core each; ``nogil`` lets several threads run them at once) and
compiled on first use, then cached on disk (numba's __pycache__ next to this file, or its user
cache dir). Where no cache location is writable (a read-only install without a home folder) they
are compiled without the disk cache instead of failing. The callers always pass the same dtypes
(read-only C-contiguous uint16 words and event arrays, int64 state) so that each public kernel
compiles exactly one signature.
"""
from __future__ import annotations

import numba
import numpy as np
from numba.core.extending import intrinsic

# Word types, decoder constants and the state layout (plain ints: numba freezes them at compile time).
from had_ros.events.evt3_format import (
    ADDR_X, ADDR_Y, C_BEFORE_TIME_HIGH, C_FIRST, C_IGNORED_WORDS, C_NO_ADDRESS_Y, C_NO_BASE_X, C_OUT_OF_SENSOR,
    C_ROLLOVERS, C_TIME_CLAMPED, C_TRIGGERS, C_UNKNOWN_WORDS, CONTINUED_4, CONTINUED_12, EXT_TRIGGER, NO_BASE,
    OTHERS, ROLLOVER_MARGIN, S_BASE_X, S_HIGH, S_LOW, S_POL, S_STARTED, S_T_MAX, S_TH_RAW, S_Y, TIME_HIGH,
    TIME_LOW, VECT_8, VECT_12, VECT_BASE_X,
)

# Word types evt3_decode updates with selects instead of branches (bit t set for type t).
_BRANCH_FREE_TYPES = (1 << ADDR_Y) | (1 << ADDR_X)
# The vector fast path writes up to this many slots past the last event (branch-free expansion).
EVENT_SLACK = 12
# evt3_decode_fast: the room it needs (events = words + FAST_SLACK is enough for streams of single
# ADDR_X events, and for a few vector words more), and what it returns as its status.
FAST_SLACK = 256
FAST_OK, FAST_OK_COUNTED, FAST_NEEDS_EXACT, FAST_NEEDS_ROOM = 0, 1, -1, -2
# The largest x or y a word can carry is 2047 (11 bits); -1 (no row yet) is stored as 65535.
_FIELD_LIMIT = 1 << 11


def _jit(fn):
    """njit(cache=True, nogil=True), or without the disk cache when no cache location is writable."""
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(fn)


def _inline(fn):
    """A helper inlined into its callers at numba's IR level (so constant arguments stay
    constant, loops over them unroll, and no call is paid a word)."""
    return numba.njit(inline="always", nogil=True)(fn)


@intrinsic
def _ctz(typingctx, x):
    """LLVM's cttz (tzcnt): the index of the lowest set bit (x != 0)."""
    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], context.get_constant(numba.types.boolean, True))
    return x(x), codegen


@intrinsic
def _popcount(typingctx, x):
    """LLVM's ctpop (popcnt): one instruction, and the counting loop still vectorises."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])
    return x(x), codegen


# -- EVT3 -------------------------------------------------------------------------------------------
@_jit
def evt3_count(words):
    """Upper bounds for one packet: (events the words can give, EXT_TRIGGER words, ADDR_X words)."""
    n_ev = 0
    n_tr = 0
    n_x = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        typ = w >> 12
        # branch-free so that the loop vectorises
        mask = w & ((0xFFF if typ == VECT_12 else 0) | (0xFF if typ == VECT_8 else 0))
        n_ev += _popcount(mask)
        n_x += typ == ADDR_X
        n_tr += typ == EXT_TRIGGER
    return n_ev + n_x, n_tr, n_x


@_jit
def _vector_checked(mask, step, base, y, pol, t_ns, clamped, width, height, x_out, y_out, t_out, p_out,
                    n, state):
    """The events of a vector word one by one, each checked (the rare case: some are dropped or
    clamped in time). Returns the new output position; drops and clamps are counted in ``state``."""
    for b in range(step):
        if (mask >> b) & 1:
            xv = base + b
            if y < 0:
                state[C_NO_ADDRESS_Y] += 1
            elif xv < 0:
                state[C_NO_BASE_X] += 1
            elif xv >= width or y >= height:
                state[C_OUT_OF_SENSOR] += 1
            else:
                x_out[n] = xv
                y_out[n] = y
                t_out[n] = t_ns
                p_out[n] = pol
                n += np.uint64(1)
                state[C_TIME_CLAMPED] += clamped
    return n


@_inline
def _evt3_load(words, state):
    """The stream state of ``state``, decoding started at the first TIME_HIGH when it has not
    yet (the words before it counted): (first word to decode, started, th_raw, high, low, t_max,
    y, base, pol)."""
    started, th_raw, high = state[S_STARTED], state[S_TH_RAW], state[S_HIGH]
    i = 0
    if started == 0:
        nw = words.shape[0]
        while i < nw and (words[i] >> 12) != TIME_HIGH:
            i += 1
        state[C_BEFORE_TIME_HIGH] += i
        if i < nw:
            started = 1
            th_raw = np.int64(words[i]) & 0xFFF
            high = th_raw
    return i, started, th_raw, high, state[S_LOW], state[S_T_MAX], state[S_Y], state[S_BASE_X], state[S_POL]


@_inline
def _evt3_store(state, started, th_raw, high, low, t_max, y, base, pol, nt):
    """Write the stream state back (and the triggers written to their counter)."""
    if base < 0:  # keep the 'no base yet' sentinel from drifting towards valid x
        base = NO_BASE
    state[S_STARTED] = started
    state[S_TH_RAW] = th_raw
    state[S_HIGH] = high
    state[S_LOW] = low
    state[S_T_MAX] = t_max
    state[S_Y] = y
    state[S_BASE_X] = base
    state[S_POL] = pol
    state[C_TRIGGERS] += nt


@_inline
def _time_high(th, th_raw, high, low, state):
    """A TIME_HIGH word's field ``th``: (th_raw, high, low) after it. A step back of more than
    ROLLOVER_MARGIN is a wrap of the 24-bit counter (counted); a new high part starts its period
    at low 0 (until its TIME_LOW), a repeated one keeps the low part."""
    loops = high >> 12
    if th_raw - th > ROLLOVER_MARGIN:
        loops += 1
        state[C_ROLLOVERS] += 1
    if th != th_raw:
        low = 0
    return th, (loops << 12) | th, low


@_inline
def _other_word(typ, w, t_ns, trig_out, nt, state):
    """An EXT_TRIGGER (recorded at t_ns), ignored or unknown word; returns the triggers so far."""
    if typ == EXT_TRIGGER:
        trig_out[nt, 0] = t_ns
        trig_out[nt, 1] = w & 1
        trig_out[nt, 2] = (w >> 8) & 0xF
        nt += 1
    elif typ == OTHERS or typ == CONTINUED_4 or typ == CONTINUED_12:
        state[C_IGNORED_WORDS] += 1
    else:
        state[C_UNKNOWN_WORDS] += 1
    return nt


@_inline
def _vector_fast(mask, step, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n):
    """The events of a vector word whose events are all valid: all its ``step`` slots are
    written, one array at a time, and n advances by its set bits (no branch a bit). Returns n."""
    for b in range(step):
        t_out[n + np.uint64(b)] = t_ns
    for b in range(step):
        y_out[n + np.uint64(b)] = y
    for b in range(step):
        p_out[n + np.uint64(b)] = pol
    for b in range(step):
        x_out[n] = base + b
        n += np.uint64((mask >> b) & 1)
    return n


@_jit
def evt3_decode(words, state, width, height, x_out, y_out, t_out, p_out, trig_out):
    """Decode one packet's words in one pass; returns (events, triggers) written.

    ``state`` (int64, layout S_* then C_*) carries the stream state in and out; the counters
    C_* are incremented. Outputs need room for evt3_count's bounds plus EVENT_SLACK events;
    trig_out is (triggers, 3): t ns, edge, id. The rules, counters included, are those of
    Evt3Decoder's numpy path: drop reasons are tested in the order no y, no base x, outside the
    sensor; a kept event older than the newest kept one is stamped with that one's time
    (counted in C_TIME_CLAMPED); dropped events do not move the newest time.

    Speed: output positions are unsigned (numba then skips its negative-index fix-up), and a
    vector word whose events are all valid writes all its 8 or 12 slots, one array at a time,
    advancing by its set bits (no branch per bit; same-array stores next to each other)."""
    i, started, th_raw, high, low, t_max, y, base, pol = _evt3_load(words, state)
    n = np.uint64(0)
    nt = 0
    nw = words.shape[0]
    cur = (high << 12) | low  # current time, µs
    # in_time: cur >= the newest kept event's time (t_max). It only changes with cur (TIME_LOW /
    # TIME_HIGH): the events kept at cur are stamped cur (in_time) or t_max (not), so t_max
    # becomes cur when cur changes after events kept in_time (n moved past n_mark), and the
    # per-word path never touches t_max. h_ok is the height while in_time, else 0, so the
    # branch-free test of an ADDR_X also sends the events to re-stamp to the rare path.
    in_time = cur >= t_max
    h_ok = np.uint64(height if in_time else 0)
    t_ns = (cur if in_time else t_max) * 1000  # the time an event kept now gets
    n_mark = n
    j = i - 1
    while j + 1 < nw:
        j += 1
        w = np.int64(words[j])
        typ = w >> 12
        v = w & 0xFFF
        if (_BRANCH_FREE_TYPES >> typ) & 1:
            # ADDR_Y and ADDR_X, eight words in ten of a real stream, come in an order no branch
            # predictor learns: ADDR_Y sets y with a masked select (numba's conditional
            # expressions become branches), and the event an ADDR_X gives is written whatever
            # the word and kept by advancing n. The loop-carried chain is two logic operations.
            xv = v & 0x7FF
            is_x = typ == ADDR_X
            m_y = (typ >> 1) - 1  # -1 (all ones) for ADDR_Y, 0 for ADDR_X
            y = (y & ~m_y) | (xv & m_y)
            good = is_x & (np.uint64(y) < h_ok) & (xv < width)  # y < 0 (no row yet) is huge unsigned
            x_out[n] = xv
            y_out[n] = y
            t_out[n] = t_ns
            p_out[n] = v >> 11
            n += np.uint64(good)
            if is_x & (not good):  # rare: no y yet, outside the sensor, or older than t_max
                if y < 0:
                    state[C_NO_ADDRESS_Y] += 1
                elif xv >= width or y >= height:
                    state[C_OUT_OF_SENSOR] += 1
                else:  # not in_time: kept with t_ns, the newest time (t_max, exact here)
                    n += np.uint64(1)
                    state[C_TIME_CLAMPED] += 1
        elif typ == VECT_BASE_X:
            base = v & 0x7FF
            pol = v >> 11
            # IMX636 sends a 32-pixel vector as VECT_BASE_X, VECT_12, VECT_12, VECT_8: one step
            if (j + 3 < nw and (words[j + 1] >> 12) == VECT_12 and (words[j + 2] >> 12) == VECT_12
                    and (words[j + 3] >> 12) == VECT_8):
                m = ((np.int64(words[j + 1]) & 0xFFF) | ((np.int64(words[j + 2]) & 0xFFF) << 12)
                     | ((np.int64(words[j + 3]) & 0xFF) << 24))
                if m != 0:
                    if in_time and 0 <= y < height and 0 <= base <= width - 32:
                        while m != 0:
                            b = _ctz(m)
                            x_out[n] = base + b
                            y_out[n] = y
                            t_out[n] = t_ns
                            p_out[n] = pol
                            n += np.uint64(1)
                            m &= m - 1
                    else:
                        n = _vector_checked(m, 32, base, y, pol, t_ns, not in_time, width, height,
                                            x_out, y_out, t_out, p_out, n, state)
                base += 32
                j += 3
        elif typ == VECT_12:  # (the two vector branches stay apart: a constant step unrolls)
            if v != 0:
                if in_time and 0 <= y < height and 0 <= base <= width - 12:
                    n = _vector_fast(v, 12, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                else:
                    n = _vector_checked(v, 12, base, y, pol, t_ns, not in_time, width, height,
                                        x_out, y_out, t_out, p_out, n, state)
            base += 12
        elif typ == VECT_8:
            mask = v & 0xFF
            if mask != 0:
                if in_time and 0 <= y < height and 0 <= base <= width - 8:
                    n = _vector_fast(mask, 8, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                else:
                    n = _vector_checked(mask, 8, base, y, pol, t_ns, not in_time, width, height,
                                        x_out, y_out, t_out, p_out, n, state)
            base += 8
        elif typ == TIME_LOW or typ == TIME_HIGH:
            if in_time and n > n_mark:
                t_max = cur
            n_mark = n
            if typ == TIME_LOW:
                low = v
            else:
                th_raw, high, low = _time_high(v, th_raw, high, low, state)
            cur = (high << 12) | low
            in_time = cur >= t_max
            h_ok = np.uint64(height if in_time else 0)
            t_ns = (cur if in_time else t_max) * 1000
        else:
            nt = _other_word(typ, w, cur * 1000, trig_out, nt, state)
    if in_time and n > n_mark:
        t_max = cur
    _evt3_store(state, started, th_raw, high, low, t_max, y, base, pol, nt)
    return np.int64(n), nt


@_jit
def evt3_decode_vectors(words, state, width, height, x_out, y_out, t_out, p_out, trig_out):
    """evt3_decode for streams whose events come mostly in vector words (fast motion, dense
    scenes): the same results, state and counters, with one branch a word type. Vector and
    ADDR_X words of a valid row in time order take a fast path (ok); the rest is checked."""
    i, started, th_raw, high, low, t_max, y, base, pol = _evt3_load(words, state)
    n = np.uint64(0)
    nt = 0
    nw = words.shape[0]
    cur = (high << 12) | low
    t_ns = cur * 1000
    y_ok = 0 <= y < height
    # ok: an event now would be in a valid row and in time order (t_max only becomes cur while
    # ok, or stays, so ok needs recomputing only when y or cur change)
    ok = y_ok and cur >= t_max
    for j in range(i, nw):
        w = np.int64(words[j])
        typ = w >> 12
        if typ == VECT_8:
            mask = w & 0xFF
            if mask != 0:
                if ok and 0 <= base <= width - 8:
                    t_max = cur
                    n = _vector_fast(mask, 8, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                else:
                    clamped = cur < t_max
                    before = n
                    n = _vector_checked(mask, 8, base, y, pol, max(cur, t_max) * 1000, clamped, width, height,
                                        x_out, y_out, t_out, p_out, n, state)
                    if n > before and not clamped:
                        t_max = cur
            base += 8
        elif typ == VECT_12:
            mask = w & 0xFFF
            if mask != 0:
                if ok and 0 <= base <= width - 12:
                    t_max = cur
                    n = _vector_fast(mask, 12, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                else:
                    clamped = cur < t_max
                    before = n
                    n = _vector_checked(mask, 12, base, y, pol, max(cur, t_max) * 1000, clamped, width, height,
                                        x_out, y_out, t_out, p_out, n, state)
                    if n > before and not clamped:
                        t_max = cur
            base += 12
        elif typ == ADDR_X:
            xv = w & 0x7FF
            if ok and xv < width:
                t_max = cur
                x_out[n] = xv
                y_out[n] = y
                t_out[n] = t_ns
                p_out[n] = (w >> 11) & 1
                n += np.uint64(1)
            elif y < 0:
                state[C_NO_ADDRESS_Y] += 1
            elif xv >= width or y >= height:
                state[C_OUT_OF_SENSOR] += 1
            else:  # a valid row but older than the newest kept event: kept with its time
                x_out[n] = xv
                y_out[n] = y
                t_out[n] = t_max * 1000
                p_out[n] = (w >> 11) & 1
                n += np.uint64(1)
                state[C_TIME_CLAMPED] += 1
        elif typ == ADDR_Y:
            y = w & 0x7FF
            y_ok = y < height
            ok = y_ok and cur >= t_max
        elif typ == VECT_BASE_X:
            base = w & 0x7FF
            pol = (w >> 11) & 1
        elif typ == TIME_LOW:
            low = w & 0xFFF
            cur = (high << 12) | low
            t_ns = cur * 1000
            ok = y_ok and cur >= t_max
        elif typ == TIME_HIGH:
            th_raw, high, low = _time_high(w & 0xFFF, th_raw, high, low, state)
            cur = (high << 12) | low
            t_ns = cur * 1000
            ok = y_ok and cur >= t_max
        else:
            nt = _other_word(typ, w, t_ns, trig_out, nt, state)
    _evt3_store(state, started, th_raw, high, low, t_max, y, base, pol, nt)
    return np.int64(n), nt


@_inline
def _last_kept(t_out, n, t_max0):
    """The µs time of the newest event written (t_max0, the stream's, when none yet)."""
    return t_out[n - np.uint64(1)] // 1000 if n > 0 else t_max0


@_jit
def _drop_invalid(x_out, y_out, t_out, p_out, n, width, height, state):
    """Remove (and count) the events outside the sensor or before any ADDR_Y from the first n
    outputs, keeping the order; returns how many are left. Only ADDR_X events can be invalid
    here (evt3_decode_fast checks vector events as it writes them)."""
    k = np.uint64(0)
    for i in range(n):
        yv = y_out[i]
        if yv == 0xFFFF:  # y = -1: no row yet
            state[C_NO_ADDRESS_Y] += 1
        elif x_out[i] >= width or yv >= height:
            state[C_OUT_OF_SENSOR] += 1
        else:
            x_out[k] = x_out[i]
            y_out[k] = yv
            t_out[k] = t_out[i]
            p_out[k] = p_out[i]
            k += np.uint64(1)
    return k


@_jit
def evt3_decode_fast(words, state, width, height, x_out, y_out, t_out, p_out, trig_out):
    """evt3_decode for packets whose time never goes back: the same events, counters and state,
    about 1.6 times faster on a real IMX636 stream; returns (events, triggers, status).

    status FAST_OK or FAST_OK_COUNTED (some counter of ``state`` moved): done, ``state``
    updated. FAST_NEEDS_EXACT (a time step back: events to re-stamp, which evt3_decode does) or
    FAST_NEEDS_ROOM (the outputs or trig_out are too short): nothing is done, ``state`` is as
    it was, the outputs hold garbage; decode the packet with evt3_decode then.

    Room: the outputs need words + FAST_SLACK events for streams of single events, more for
    vectors (checked: FAST_NEEDS_ROOM when a vector word could outrun them).

    Why faster: an ADDR_X or ADDR_Y word (eight in ten) is decoded with no test at all: its
    event is written, kept when the word is an ADDR_X, and y follows ADDR_Y with a select.
    Events outside the sensor or before any row are found afterwards, in one vectorised pass
    over the outputs, and removed by a second pass only when there are any (_drop_invalid);
    the time order is checked only where time goes back (a TIME_LOW below the last, a
    TIME_HIGH), against the newest event written. Positions are unsigned (no negative-index
    fix-up) and the word test is one mask (ADDR_Y 0x0 and ADDR_X 0x2 are the types with bits
    15, 14 and 12 clear)."""
    st = state.copy()  # worked on, copied back only on success
    i, started, th_raw, high, low, t_max0, y, base, pol = _evt3_load(words, st)
    nw = np.uint64(words.shape[0])
    cap = np.uint64(min(x_out.shape[0], y_out.shape[0], t_out.shape[0], p_out.shape[0]))
    if ((high << 12) | low) < t_max0:
        return np.int64(0), 0, FAST_NEEDS_EXACT
    if cap < nw + np.uint64(FAST_SLACK):
        return np.int64(0), 0, FAST_NEEDS_ROOM
    n = np.uint64(0)
    nt = 0
    t_ns = ((high << 12) | low) * 1000
    j = np.uint64(i)  # the next word
    while j < nw:
        w = np.int64(words[j])
        j += np.uint64(1)
        typ = w >> 12
        v = w & 0xFFF
        # (one if/elif chain: a `continue` out of this branch makes the loop a third slower)
        if (w & 0xD000) == 0:  # ADDR_Y or ADDR_X
            xv = w & 0x7FF
            y = xv if typ == ADDR_Y else y
            x_out[n] = xv
            y_out[n] = y
            t_out[n] = t_ns
            p_out[n] = (w >> 11) & 1
            n += np.uint64(typ >> 1)  # 1 for ADDR_X, 0 for ADDR_Y
        elif typ == TIME_LOW:
            if v < low and ((high << 12) | v) < _last_kept(t_out, n, t_max0):
                return np.int64(0), 0, FAST_NEEDS_EXACT
            low = v
            t_ns = ((high << 12) | low) * 1000
        elif typ == VECT_BASE_X or typ == VECT_12 or typ == VECT_8:
            # Room for the 32 events a group can give, one a word after it and the 32 slots
            # the next vector word may write: the outputs then never overflow (n + words left
            # + 32 <= cap holds after every word).
            if n + (nw - j) + np.uint64(64) > cap:
                return np.int64(0), 0, FAST_NEEDS_ROOM
            if typ == VECT_BASE_X:
                base = v & 0x7FF
                pol = v >> 11
                # IMX636 sends a 32-pixel vector as VECT_BASE_X, VECT_12, VECT_12, VECT_8: one step
                if (j + np.uint64(2) < nw and (words[j] >> 12) == VECT_12
                        and (words[j + np.uint64(1)] >> 12) == VECT_12 and (words[j + np.uint64(2)] >> 12) == VECT_8):
                    m = ((np.int64(words[j]) & 0xFFF) | ((np.int64(words[j + np.uint64(1)]) & 0xFFF) << 12)
                         | ((np.int64(words[j + np.uint64(2)]) & 0xFF) << 24))
                    if m != 0:
                        if 0 <= y < height and 0 <= base <= width - 32:
                            while m != 0:
                                b = _ctz(m)
                                x_out[n] = base + b
                                y_out[n] = y
                                t_out[n] = t_ns
                                p_out[n] = pol
                                n += np.uint64(1)
                                m &= m - 1
                        else:
                            n = _vector_checked(m, 32, base, y, pol, t_ns, False, width, height,
                                                x_out, y_out, t_out, p_out, n, st)
                    base += 32
                    j += np.uint64(3)
            elif typ == VECT_12:  # (the two vector branches stay apart: a constant step unrolls)
                if v != 0:
                    if 0 <= y < height and 0 <= base <= width - 12:
                        n = _vector_fast(v, 12, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                    else:
                        n = _vector_checked(v, 12, base, y, pol, t_ns, False, width, height,
                                            x_out, y_out, t_out, p_out, n, st)
                base += 12
            else:
                mask = v & 0xFF
                if mask != 0:
                    if 0 <= y < height and 0 <= base <= width - 8:
                        n = _vector_fast(mask, 8, base, y, pol, t_ns, x_out, y_out, t_out, p_out, n)
                    else:
                        n = _vector_checked(mask, 8, base, y, pol, t_ns, False, width, height,
                                            x_out, y_out, t_out, p_out, n, st)
                base += 8
        elif typ == TIME_HIGH:
            th_raw, high, low = _time_high(v, th_raw, high, low, st)
            if ((high << 12) | low) < _last_kept(t_out, n, t_max0):
                return np.int64(0), 0, FAST_NEEDS_EXACT
            t_ns = ((high << 12) | low) * 1000
        else:
            if typ == EXT_TRIGGER and nt >= trig_out.shape[0]:
                return np.int64(0), 0, FAST_NEEDS_ROOM
            nt = _other_word(typ, w, t_ns, trig_out, nt, st)
    # ADDR_X events outside the sensor or before any row: found in one vectorised pass
    x_lim = min(width, _FIELD_LIMIT)
    y_lim = min(height, _FIELD_LIMIT)
    bad = False
    for q in range(n):
        bad |= (x_out[q] >= x_lim) | (y_out[q] >= y_lim)
    if bad:
        n = _drop_invalid(x_out, y_out, t_out, p_out, n, width, height, st)
    _evt3_store(st, started, th_raw, high, low, _last_kept(t_out, n, t_max0), y, base, pol, nt)
    counted = False
    for c in range(C_FIRST, st.shape[0]):
        counted |= st[c] != state[c]
    state[:] = st
    return np.int64(n), nt, FAST_OK_COUNTED if counted else FAST_OK


# -- mono packets and windows ----------------------------------------------------------------------
@_jit
def mono_decode(words, time_base, width, height, t_max, x_out, y_out, t_out, p_out):
    """The 'mono' words (uint64: dt bits 0-31, x 32-47, y 48-62, polarity 63) of one packet into
    the out arrays (as long as words), as MonoDecoder's numpy path: events outside the sensor
    dropped, a kept event older than the newest kept one (``t_max``) raised to its time.
    Returns (events written, new t_max, events raised, events outside)."""
    n = 0
    clamped = 0
    for i in range(words.shape[0]):
        w = words[i]
        xi = np.uint16((w >> np.uint64(32)) & np.uint64(0xFFFF))
        yi = np.uint16((w >> np.uint64(48)) & np.uint64(0x7FFF))
        ti = time_base + np.int64(w & np.uint64(0xFFFFFFFF))
        keep = (xi < width) & (yi < height)
        if ti < t_max:
            clamped += keep
            ti = t_max
        x_out[n] = xi
        y_out[n] = yi
        t_out[n] = ti
        p_out[n] = np.uint8(w >> np.uint64(63))
        if keep:
            t_max = ti
            n += 1
    return np.int64(n), np.int64(t_max), np.int64(clamped), np.int64(words.shape[0] - n)


@_jit
def select_region(x, y, t, p, x0, y0, x1, y1, x_out, y_out, t_out, p_out):
    """The events with x0 <= x < x1 and y0 <= y < y1, in order, into the out arrays (as long as
    the input; written past the count too, branch-free); returns how many."""
    n = 0
    w = np.uint16(x1 - x0)
    h = np.uint16(y1 - y0)
    lx = np.uint16(x0)
    ly = np.uint16(y0)
    for i in range(x.shape[0]):
        xi = x[i]
        yi = y[i]
        x_out[n] = xi
        y_out[n] = yi
        t_out[n] = t[i]
        p_out[n] = p[i]
        n += (np.uint16(xi - lx) < w) & (np.uint16(yi - ly) < h)
    return np.int64(n)


@_jit
def area_resize_part(part, oy, ox, j, wt, tmp, out):
    """Area (box-filter) downscale of a square that is zero but for ``part`` (bins, h, w) at rows
    oy.., columns ox..: out (bins, size, size) float64 zeros += the resized square, computed from
    the part alone. Input index i (a row or a column of the square) adds weight wt[i, k] to
    output index j[i, k], k = 0, 1 (the tables of crops.area_tables; rows and columns share them,
    the square being square). ``tmp``: (h, size) float64 scratch."""
    bins, h, w = part.shape
    size = out.shape[2]
    for b in range(bins):
        tmp[:, :] = 0.0
        for r in range(h):
            for c in range(w):
                v = np.float64(part[b, r, c])
                if v != 0.0:
                    i = ox + c
                    tmp[r, j[i, 0]] += wt[i, 0] * v
                    tmp[r, j[i, 1]] += wt[i, 1] * v
        for r in range(h):
            i = oy + r
            j0, j1 = j[i, 0], j[i, 1]
            w0, w1 = wt[i, 0], wt[i, 1]
            for c in range(size):
                v = tmp[r, c]
                if v != 0.0:
                    out[b, j0, c] += w0 * v
                    out[b, j1, c] += w1 * v


# -- representations -----------------------------------------------------------------------------
@_jit
def is_sorted(t):
    """True when t never decreases (checked in blocks so the inner loop vectorises; unsigned
    indices, without which it does not)."""
    n = np.uint64(t.shape[0])
    s = np.uint64(1)
    while s < n:
        e = min(s + np.uint64(4096), n)
        bad = False
        for i in range(s, e):
            bad |= t[i] < t[i - np.uint64(1)]
        if bad:
            return False
        s = e
    return True


@_jit
def voxel_grid(x, y, t, p, t0, scale, bins, height, width, out, cells, track):
    """Add events (all in the window, sorted by t) to ``out``, the flat float32 (bins, H, W)
    grid, zero where this call adds; returns how many cells it recorded (``track``).

    The sums are those of the numpy reference, in the same order: event by event, the lower
    weight of event i is added to its bin b = floor(tn) and then its upper weight to bin b + 1
    (none past the last bin), each rounded to float32 first and added in float32. With
    ``track``, the lower cell of each event goes to ``cells`` (uint32, room for every event):
    the cells this grid wrote are those and the next plane's, which clear_cells zeroes again. One pass,
    one read-modify-write a weight, no scratch: a short window on a large sensor costs in
    proportion to its events. Indices are unsigned (no negative-index fix-up)."""
    w = np.uint64(width)
    hw = np.uint64(height) * w
    last = bins - 1
    m = 0
    for i in range(x.shape[0]):
        if x[i] < width and y[i] < height:
            tn = (t[i] - t0) * scale
            b = np.int64(tn)  # tn >= 0: the floor
            pol = p[i] * 2.0 - 1.0
            up = (tn - b) * pol
            cell = np.uint64(b) * hw + np.uint64(y[i]) * w + np.uint64(x[i])
            out[cell] += np.float32(pol - up)
            if b < last:  # (time-sorted events: taken in long runs, well predicted)
                out[cell + hw] += np.float32(up)
            if track:
                cells[m] = np.uint32(cell)
                m += 1
    return m


@_jit
def clear_cells(out, cells, m, plane):
    """Zero the cells voxel_grid recorded (the first m of ``cells``) and the next plane's:
    ``out`` needs a spare plane past the grid (a VoxelGridBuffer's has one)."""
    step = np.uint64(plane)
    for k in range(m):
        c = np.uint64(cells[k])
        out[c] = 0.0
        out[c + step] = 0.0


@_jit
def count_histogram(x, y, p, height, width, out):
    """Count events into ``out`` (2, H*W) float32, zeroed; channel 1 for p != 0. Exact while no
    pixel gets 2**24 events (the caller sends fewer events than that)."""
    w = np.uint64(width)
    on = out[1]
    off = out[0]
    for i in range(x.shape[0]):
        if x[i] < width and y[i] < height:
            pix = np.uint64(y[i]) * w + np.uint64(x[i])
            if p[i] != 0:
                on[pix] += 1.0
            else:
                off[pix] += 1.0


@_jit
def latest_times(x, y, t, p, t_ref, height, width, latest, pix_out, t_out):
    """Newest time <= t_ref of each (polarity, pixel): the pixels (index p * H*W + pixel, in
    order of first event) into pix_out, their times into t_out; returns how many. ``latest``
    (2*H*W int64) must be all int64-min and is left so."""
    w = np.uint64(width)
    hw = np.uint64(height) * w
    floor = np.iinfo(np.int64).min
    k = 0
    for i in range(x.shape[0]):
        ti = t[i]
        if x[i] < width and y[i] < height and ti <= t_ref:
            pix = np.uint64(y[i]) * w + np.uint64(x[i])
            if p[i] != 0:
                pix += hw
            old = latest[pix]
            if old == floor:
                pix_out[k] = pix
                k += 1
            if ti > old:
                latest[pix] = ti
    for j in range(k):
        pix = np.uint64(pix_out[j])
        t_out[j] = latest[pix]
        latest[pix] = floor
    return k
