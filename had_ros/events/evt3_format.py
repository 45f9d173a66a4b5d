"""The Prophesee EVT 3.0 format: word types, limits and the decoder's named state.

The one place these facts live; the numpy decoder and encoder (evt3.py) and the compiled kernel
(_kernels.py) both import them from here. This module imports nothing of had_ros, so no import
cycle runs through it.

The stream is little-endian 16-bit words, type in bits 15..12 (docs/DESIGN.md, and Prophesee's
"EVT 3.0 Format" page). Time in µs = (rollovers << 24) | (TIME_HIGH << 12) | TIME_LOW.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np


class WordType(IntEnum):
    """The 4-bit word types (bits 15..12)."""

    ADDR_Y = 0x0        # y (bits 0-10): sets the current row
    ADDR_X = 0x2        # x (bits 0-10), polarity (bit 11): one event
    VECT_BASE_X = 0x3   # x (bits 0-10), polarity (bit 11): base of the next vector words
    VECT_12 = 0x4       # mask (bits 0-11): events at base + i, then base += 12
    VECT_8 = 0x5        # mask (bits 0-7): events at base + i, then base += 8
    TIME_LOW = 0x6      # bits 0-11 of the µs time
    CONTINUED_4 = 0x7   # extra data of an OTHERS word: ignored
    TIME_HIGH = 0x8     # bits 12-23 of the µs time
    EXT_TRIGGER = 0xA   # edge (bit 0), channel (bits 8-11)
    OTHERS = 0xE        # vendor/system words (event rate counters, ...): ignored
    CONTINUED_12 = 0xF  # extra data of an OTHERS word: ignored


# Plain ints of the word types: numba freezes module-level ints into the compiled kernel.
ADDR_Y, ADDR_X, VECT_BASE_X = int(WordType.ADDR_Y), int(WordType.ADDR_X), int(WordType.VECT_BASE_X)
VECT_12, VECT_8 = int(WordType.VECT_12), int(WordType.VECT_8)
TIME_LOW, CONTINUED_4, TIME_HIGH = int(WordType.TIME_LOW), int(WordType.CONTINUED_4), int(WordType.TIME_HIGH)
EXT_TRIGGER, OTHERS, CONTINUED_12 = int(WordType.EXT_TRIGGER), int(WordType.OTHERS), int(WordType.CONTINUED_12)
KNOWN_TYPES = tuple(int(t) for t in WordType)
IGNORED_TYPES = (CONTINUED_4, OTHERS, CONTINUED_12)

# A TIME_HIGH smaller than the previous one by more than this many steps (of 4096 µs) is a wrap
# of the 24-bit counter; smaller steps back are sensor jitter (the rule of event_camera_codecs).
ROLLOVER_MARGIN = 10
# The encoder never lets TIME_HIGH advance by more than this many steps, so every wrap is
# unambiguous to a decoder using the rule above, however long a silent gap lasts.
MAX_HIGH_STEP = 2048
MAX_COORD = 1 << 11  # x and y are 11-bit fields
ROLLOVER_US = 1 << 24  # the µs counter wraps every 16.777216 s

# Vector base x before any VECT_BASE_X: every event it gives is invalid (x < 0).
NO_BASE = -(1 << 40)


# -- the decoder state ------------------------------------------------------------------------
# One int64 array holds the stream state (carried from packet to packet) and then the counters a
# decode call adds to; the kernel takes it as is, the numpy path reads it through Evt3State.
STATE_FIELDS = ("started", "th_raw", "high", "low", "t_max", "y", "base_x", "pol")
COUNTER_NAMES = ("before_time_high", "no_address_y", "no_base_x", "time_clamped", "out_of_sensor",
                 "unknown_words", "ignored_words", "rollovers", "triggers")
(S_STARTED, S_TH_RAW, S_HIGH, S_LOW, S_T_MAX, S_Y, S_BASE_X, S_POL) = range(len(STATE_FIELDS))
(C_BEFORE_TIME_HIGH, C_NO_ADDRESS_Y, C_NO_BASE_X, C_TIME_CLAMPED, C_OUT_OF_SENSOR, C_UNKNOWN_WORDS,
 C_IGNORED_WORDS, C_ROLLOVERS, C_TRIGGERS) = range(len(STATE_FIELDS), len(STATE_FIELDS) + len(COUNTER_NAMES))
C_FIRST = len(STATE_FIELDS)  # the first counter
STATE_SIZE = len(STATE_FIELDS) + len(COUNTER_NAMES)
_INITIAL = {"started": 0, "th_raw": 0, "high": 0, "low": 0, "t_max": -1, "y": -1, "base_x": NO_BASE, "pol": 0}


class Evt3State:
    """The state of one EVT3 stream, by name, in the int64 array the kernel takes (``array``).

    started: a TIME_HIGH has been seen (decoding starts there); th_raw: the last TIME_HIGH field
    (12 bits, for wrap detection); high: the last TIME_HIGH with wraps, (wraps << 12) | field;
    low: the last TIME_LOW; t_max: the newest event time (µs) so far, -1 before any; y: the current
    row, -1 before any ADDR_Y; base_x: the vector base, NO_BASE before any VECT_BASE_X; pol: the
    vector polarity. The counters after them are zeroed by ``take_counters``."""

    __slots__ = ("array",)

    def __init__(self) -> None:
        self.array = np.zeros(STATE_SIZE, np.int64)
        self.reset()

    def reset(self) -> None:
        for i, name in enumerate(STATE_FIELDS):
            self.array[i] = _INITIAL[name]
        self.array[len(STATE_FIELDS):] = 0

    def values(self) -> dict[str, int]:
        return {name: int(self.array[i]) for i, name in enumerate(STATE_FIELDS)}

    def take_counters(self) -> dict[str, int]:
        """The counters added since the last call (and zero them)."""
        counts = self.array[len(STATE_FIELDS):]
        values = counts.tolist()
        if not any(values):
            return {}
        counts[:] = 0
        return {name: v for name, v in zip(COUNTER_NAMES, values) if v}


def _field(index: int) -> property:
    def get(self) -> int:
        return int(self.array[index])

    def set_(self, value) -> None:
        self.array[index] = int(value)

    return property(get, set_)


for _i, _name in enumerate(STATE_FIELDS):
    setattr(Evt3State, _name, _field(_i))
del _i, _name
