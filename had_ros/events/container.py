"""The in-memory event container shared by every part of had_ros."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from had_ros.errors import DecodeError

X_DTYPE = np.uint16
Y_DTYPE = np.uint16
T_DTYPE = np.int64
P_DTYPE = np.uint8


@dataclass(frozen=True)
class Events:
    """A batch of events from one sensor as a struct of numpy arrays.

    ``x``, ``y`` are pixel coordinates (uint16), ``t`` is time in nanoseconds (int64, sensor
    clock), ``p`` is polarity (uint8, 1 = ON, 0 = OFF; ``from_arrays`` refuses other values).
    ``width``/``height`` give the sensor size.
    Events are expected sorted by ``t``; slicing by time relies on it.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        n = len(self.t)
        for name in ("x", "y", "p"):
            if len(getattr(self, name)) != n:
                raise DecodeError(
                    f"Events arrays differ in length: t has {n}, {name} has {len(getattr(self, name))}"
                )
        if self.width <= 0 or self.height <= 0:
            raise DecodeError(f"Events sensor size must be positive, got {self.width}x{self.height}")

    # construction -----------------------------------------------------------------------------
    @classmethod
    def empty(cls, width: int, height: int) -> "Events":
        return cls(
            np.empty(0, X_DTYPE), np.empty(0, Y_DTYPE), np.empty(0, T_DTYPE), np.empty(0, P_DTYPE),
            int(width), int(height),
        )

    @classmethod
    def _trusted(cls, x, y, t, p, width: int, height: int) -> "Events":
        """For decoders, per packet: arrays already of the canonical dtypes and one length,
        a positive size. Skips the checks (a few µs a packet, a tenth of a small packet's cost)."""
        ev = object.__new__(cls)
        ev.__dict__.update(x=x, y=y, t=t, p=p, width=width, height=height)
        return ev

    @classmethod
    def from_arrays(cls, x, y, t, p, width: int, height: int) -> "Events":
        """Build from any array-likes, casting to the canonical dtypes (copies only when needed).

        Raises DecodeError for a polarity other than 0 (OFF) and 1 (ON) (a -1/+1 convention would
        wrap to 255 in uint8: map it with ``p > 0`` first) and for negative x or y."""
        p = np.asarray(p)
        if p.dtype != bool and len(p) and (p.min() < 0 or p.max() > 1):
            bad = np.unique(p[(p < 0) | (p > 1)])[:5].tolist()
            raise DecodeError(
                f"Events.from_arrays: polarity must be 0 (OFF) or 1 (ON), got {bad} among the values; "
                f"for a -1/+1 polarity pass (p > 0)"
            )
        for name, a in (("x", x), ("y", y)):
            a = np.asarray(a)
            if a.dtype.kind in "if" and len(a) and a.min() < 0:
                raise DecodeError(f"Events.from_arrays: {name} must be >= 0, got {a.min()}")
        return cls(
            np.asarray(x, X_DTYPE), np.asarray(y, Y_DTYPE), np.asarray(t, T_DTYPE),
            np.asarray(p, P_DTYPE), int(width), int(height),
        )

    @classmethod
    def concatenate(cls, parts: Iterable["Events"], width: int | None = None,
                    height: int | None = None) -> "Events":
        """Concatenate batches of the same sensor in the order given."""
        parts = list(parts)
        if not parts:
            if width is None or height is None:
                raise DecodeError("concatenate of no Events needs width and height")
            return cls.empty(width, height)
        w, h = parts[0].width, parts[0].height
        for e in parts[1:]:
            if (e.width, e.height) != (w, h):
                raise DecodeError(f"cannot concatenate events of {w}x{h} and {e.width}x{e.height}")
        if len(parts) == 1:
            return parts[0]
        return cls(
            np.concatenate([e.x for e in parts]), np.concatenate([e.y for e in parts]),
            np.concatenate([e.t for e in parts]), np.concatenate([e.p for e in parts]), w, h,
        )

    # access -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, idx) -> "Events":
        """Index or mask every array alike (a slice gives views, no copy)."""
        if isinstance(idx, (int, np.integer)):
            idx = slice(int(idx), int(idx) + 1 if int(idx) != -1 else None)
        return Events(self.x[idx], self.y[idx], self.t[idx], self.p[idx], self.width, self.height)

    @property
    def t_start(self) -> int | None:
        return int(self.t[0]) if len(self.t) else None

    @property
    def t_end(self) -> int | None:
        return int(self.t[-1]) if len(self.t) else None

    def time_window(self, t0: int, t1: int) -> "Events":
        """Events with t0 <= t < t1, as views (binary search: needs t sorted)."""
        i0, i1 = np.searchsorted(self.t, [t0, t1], side="left")
        return self[int(i0):int(i1)]

    def is_sorted(self) -> bool:
        return bool(len(self.t) < 2 or np.all(self.t[1:] >= self.t[:-1]))

    def equals(self, other: "Events") -> bool:
        return (
            (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.x, other.x) and np.array_equal(self.y, other.y)
            and np.array_equal(self.t, other.t) and np.array_equal(self.p, other.p)
        )

    def as_structured(self) -> np.ndarray:
        """A copy as one structured array with fields x, y, t, p."""
        out = np.empty(len(self), dtype=[("x", X_DTYPE), ("y", Y_DTYPE), ("t", T_DTYPE), ("p", P_DTYPE)])
        out["x"], out["y"], out["t"], out["p"] = self.x, self.y, self.t, self.p
        return out

    def __repr__(self) -> str:
        span = "" if not len(self) else f", t=[{self.t_start}..{self.t_end}] ns"
        return f"Events(n={len(self)}, {self.width}x{self.height}{span})"


def stack_sorted(parts: Sequence[Events]) -> Events:
    """Concatenate and sort by time (stable, so equal times keep their order)."""
    ev = Events.concatenate(parts)
    if ev.is_sorted():
        return ev
    order = np.argsort(ev.t, kind="stable")
    return ev[order]
