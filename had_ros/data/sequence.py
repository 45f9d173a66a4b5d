"""One recorded RGB + event tracking sequence behind one interface, whatever its layout on disk
(the layouts live in ``had_ros.data.layouts``; ``had_ros.data.loaders`` opens them)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from had_ros.data.readers import DEFAULT_FPS, aedat4_frame_times, common_length, warn_dataset
from had_ros.errors import DatasetError, HadError
from had_ros.events.container import Events

# What a sequence can carry. "rgb": frames of a frame camera (RGB or gray APS frames);
# "events": a raw event stream; "event_images": event renderings shipped by the dataset.
MODALITIES = ("rgb", "events", "event_images")

EventReader = Callable[[Path, int, int, str, Callable[[str], None]], Events]


def read_event_file(path: Path, width: int, height: int, seq: str,
                    warn: Callable[[str], None] | None = None) -> Events:
    """Events of a .raw / .aedat4 / .npz file through had_ros.events.read_events."""
    from had_ros.events import read_events

    try:
        return read_events(path)
    except HadError as exc:
        raise DatasetError(f"sequence {seq!r}: cannot read events from {path}: {exc}") from exc


class Sequence:
    """One recorded sequence: frames (read lazily), their times, the event stream, ground truth.

    Attributes: ``name``, ``layout``, ``root``, ``width``, ``height``, ``attributes`` (frozenset of
    attribute names), ``groundtruth`` (N, 4) x,y,w,h, ``absent`` (N,) True where the target is not
    visible, ``frame_files``, ``event_file`` (None when the release has no raw events),
    ``frame_time_source`` (how frame times were obtained, see had_ros.data.loaders),
    ``absent_source`` (the flag file, or how absence was derived), ``modalities`` (what the
    sequence really has, a subset of MODALITIES in that order; ``modality_note`` says more),
    ``warnings`` (every quirk tolerated while opening and reading it, also issued as
    DatasetWarning).

    ``len(seq)`` can shrink once, when frame times are first read from an .aedat4 that stores a
    few APS frames fewer than there are images (trimmed with a warning); read ``frame_times``
    first where the final length matters.
    """

    def __init__(self, *, name: str, layout: str, root: Path, frame_files: list[Path],
                 groundtruth: np.ndarray, absent: np.ndarray, width: int, height: int,
                 attributes: Iterable[str] = (), event_file: Path | None = None,
                 no_events_reason: str = "", frame_times: np.ndarray | None = None,
                 frame_time_mode: str = "file", frame_time_source: str = "", fps: float | None = None,
                 aedat4_file: Path | None = None, event_frame_files: list[Path] | None = None,
                 absent_source: str = "", modalities: Iterable[str] | None = None,
                 modality_note: str = "", event_reader: EventReader | None = None,
                 warnings: Iterable[str] = ()) -> None:
        self.name = name
        self.layout = layout
        self.root = Path(root)
        self.frame_files = list(frame_files)
        self.width, self.height = int(width), int(height)
        self.attributes = frozenset(attributes)
        self.event_file = event_file
        self.no_events_reason = no_events_reason
        self.frame_time_source = frame_time_source
        self.absent_source = absent_source
        # event renderings beyond the frames kept (files trimmed to a common length) are not used
        self.event_frame_files = None if event_frame_files is None else list(event_frame_files)[:len(self.frame_files)]
        if modalities is None:
            modalities = ["rgb"] + (["events"] if event_file is not None else []) \
                + (["event_images"] if event_frame_files else [])
        unknown = set(modalities) - set(MODALITIES)
        if unknown:
            raise DatasetError(f"sequence {name!r}: unknown modalities {sorted(unknown)}; expected some of {MODALITIES}")
        self.modalities = tuple(m for m in MODALITIES if m in set(modalities))
        self.modality_note = modality_note
        self.warnings: list[str] = []
        for message in warnings:
            self.warn(message)
        self._event_reader = event_reader or read_event_file
        self._frame_time_mode = frame_time_mode
        self._fps = fps
        self._aedat4_file = aedat4_file
        self._windows: np.ndarray | None = None
        self._frame_times = None if frame_times is None else np.asarray(frame_times, np.int64)
        if self._frame_times is not None:
            self._check_times(self._frame_times, frame_time_source)
        self._events: Events | None = None
        self._coverage_checked = False
        n = len(self.frame_files)
        gt = np.asarray(groundtruth, dtype=np.float64)
        self.groundtruth = gt
        absent = np.asarray(absent, dtype=bool)
        if gt.shape != (n, 4) or absent.shape != (n,):
            raise DatasetError(
                f"sequence {name!r}: boxes of shape {gt.shape} and {absent.shape} absent flags for {n} "
                "frames; expected (N, 4) boxes and N flags"
            )
        invalid = ~np.all(np.isfinite(gt), axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)
        self.absent = absent | invalid
        if self._frame_times is None and frame_time_mode not in ("aedat4", "event_span", "fps"):
            raise DatasetError(f"sequence {name!r}: no frame times and no way to derive them ({frame_time_mode!r})")

    def __len__(self) -> int:
        return len(self.frame_files)

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, layout={self.layout}, frames={len(self)}, {self.width}x{self.height})"

    def warn(self, message: str) -> None:
        """Record a tolerated quirk of this sequence and issue it as a DatasetWarning (once: a
        stream read again after release() does not repeat it)."""
        if message in self.warnings:
            return
        self.warnings.append(message)
        warn_dataset(message)

    @property
    def has_rgb(self) -> bool:
        """True when ``frame(i)`` is a frame camera's image (EventVOT's img/ are event renderings)."""
        return "rgb" in self.modalities

    def _trim(self, n: int) -> None:
        """Keep the first n frames (and their boxes, flags and event images)."""
        self.frame_files = self.frame_files[:n]
        self.groundtruth = self.groundtruth[:n]
        self.absent = self.absent[:n]
        if self.event_frame_files and len(self.event_frame_files) > n:
            self.event_frame_files = self.event_frame_files[:n]
        self._windows = None

    # frames -------------------------------------------------------------------------------------
    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sequence {self.name!r}: frame {i} out of range (it has {n} frames)")
        return i % n

    def frame(self, i: int) -> np.ndarray:
        """Frame i as (H, W, 3) uint8 RGB, read from disk now. On a sequence without the "rgb"
        modality these are the dataset's event renderings (see ``has_rgb``)."""
        return self._read_image(self.frame_files[self._index(i)], i)

    def event_image(self, i: int) -> np.ndarray:
        """The dataset's own event image for frame i (VisEvent event_imgs/, COESOT <seq>_dvs/,
        EventVOT img/)."""
        if not self.event_frame_files:
            raise DatasetError(f"sequence {self.name!r} ({self.layout}) at {self.root} has no event images")
        if len(self.event_frame_files) != len(self):
            raise DatasetError(
                f"sequence {self.name!r}: {self.event_frame_files[0].parent} holds "
                f"{len(self.event_frame_files)} event images but there are {len(self)} frames"
            )
        return self._read_image(self.event_frame_files[self._index(i)], i)

    def _read_image(self, path: Path, i: int) -> np.ndarray:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DatasetError(
                f"sequence {self.name!r}: frame {i} file {path} cannot be decoded; expected a readable image"
            )
        if bgr.shape[:2] != (self.height, self.width):
            raise DatasetError(
                f"sequence {self.name!r}: frame {i} file {path} is {bgr.shape[1]}x{bgr.shape[0]}; "
                f"expected {self.width}x{self.height} like the rest of the sequence"
            )
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    # times --------------------------------------------------------------------------------------
    @property
    def frame_times(self) -> np.ndarray:
        """All frame times (N,) int64 ns (resolved on first use, see ``frame_time_source``)."""
        if self._frame_times is None:
            self._frame_times = self._resolve_frame_times()
        return self._frame_times

    def _resolve_frame_times(self) -> np.ndarray:
        n = len(self)
        mode = self._frame_time_mode
        if mode == "aedat4":
            times = aedat4_frame_times(self._aedat4_file, self.name)
            if len(times) != n:
                m = common_length(
                    self.name, [(f"frames with images and annotations in {self.root}", n),
                                (f"APS frames in {self._aedat4_file}", len(times))], self.warn,
                    fix="add a frame_times.txt or pass fps= to override")
                self._trim(m)
                times = times[:m]
        elif mode == "event_span":
            ev = self._load_events()
            t0, t1 = int(ev.t[0]), int(ev.t[-1])
            times = t0 + np.round((np.arange(n) + 1) * ((t1 - t0) / n)).astype(np.int64)
        elif mode == "fps":
            start = int(self._load_events().t[0]) if self.event_file is not None else 0
            times = start + np.round((np.arange(n) + 1) * (1e9 / self._fps)).astype(np.int64)
        else:
            raise AssertionError(mode)
        times = np.asarray(times, dtype=np.int64)
        self._check_times(times, str(self._aedat4_file or self.frame_time_source))
        return times

    def _check_times(self, times: np.ndarray, source: str) -> None:
        """Decreasing times are refused; equal consecutive ones are tolerated with a warning (such
        a frame reuses the event window of the frame before it, see frame_window)."""
        if len(times) < 2:
            return
        d = np.diff(times)
        if np.any(d < 0):
            k = int(np.argmax(d < 0))
            raise DatasetError(
                f"sequence {self.name!r}: frame times from {source} do not increase at frame {k + 1} "
                f"({times[k]} then {times[k + 1]} ns); expected non-decreasing times"
            )
        if not np.any(d > 0):
            raise DatasetError(
                f"sequence {self.name!r}: all {len(times)} frame times from {source} are {times[0]} ns; "
                "expected increasing times"
            )
        repeats = np.flatnonzero(d == 0) + 1
        if len(repeats):
            k = int(repeats[0])
            self.warn(
                f"sequence {self.name!r}: {len(repeats)} frames have the same time as the frame before "
                f"them in {source} (first: frame {k} at {times[k]} ns); they reuse that frame's event window"
            )

    @property
    def frame_times_ready(self) -> bool:
        """True when frame times are known without reading the event or AEDAT4 file."""
        return self._frame_times is not None or (self._frame_time_mode == "fps" and self.event_file is None)

    def frame_time(self, i: int) -> int:
        """Time of frame i in ns (sensor clock)."""
        return int(self.frame_times[self._index(i)])

    def _default_windows(self) -> np.ndarray:
        """Per frame, the time since the previous frame (frame 0: the next interval); a repeated
        frame time takes the last positive interval before it (or the first after it)."""
        if self._windows is None or len(self._windows) != len(self):
            t = self.frame_times
            if len(t) < 2:
                w = np.full(len(t), int(round(1e9 / (self._fps or DEFAULT_FPS))), np.int64)
            else:
                w = np.concatenate([[t[1] - t[0]], np.diff(t)]).astype(np.int64)
                positive = w > 0
                if not positive.all():
                    last = np.maximum.accumulate(np.where(positive, np.arange(len(w)), -1))
                    first = int(np.argmax(positive))
                    w = w[np.where(last >= 0, last, first)]
            self._windows = w
        return self._windows

    def frame_window(self, i: int, window_ns: int | None = None) -> tuple[int, int]:
        """(t0, t1): the span (t0, t1] of frame i's events; by default from the previous frame's
        time (for frame 0, the same span as frame 1's before it)."""
        i = self._index(i)
        t = self.frame_times
        if window_ns is None:
            window_ns = int(self._default_windows()[i])
        if window_ns <= 0:
            raise DatasetError(f"sequence {self.name!r}: event window must be > 0 ns, got {window_ns}")
        return int(t[i]) - int(window_ns), int(t[i])

    @property
    def duration_ns(self) -> int:
        """Span of the frames: last minus first frame time plus one frame interval."""
        t = self.frame_times
        if len(t) < 2:
            return int(round(1e9 / (self._fps or DEFAULT_FPS)))
        return int(t[-1] - t[0] + (t[-1] - t[0]) // (len(t) - 1))

    # events -------------------------------------------------------------------------------------
    @property
    def has_events(self) -> bool:
        return self.event_file is not None

    def _load_events(self) -> Events:
        """The whole event stream, read once, sorted by time; no checks against frame times."""
        if self._events is None:
            if self.event_file is None:
                raise DatasetError(f"sequence {self.name!r}: {self.no_events_reason}")
            ev = self._event_reader(self.event_file, self.width, self.height, self.name, self.warn)
            if (ev.width, ev.height) != (self.width, self.height):
                raise DatasetError(
                    f"sequence {self.name!r}: events in {self.event_file} are {ev.width}x{ev.height}; "
                    f"expected the frames' {self.width}x{self.height}"
                )
            if len(ev) == 0:
                raise DatasetError(
                    f"sequence {self.name!r}: event file {self.event_file} holds no events; "
                    f"expected events for its {len(self)} frames"
                )
            if not ev.is_sorted():
                ev = ev[np.argsort(ev.t, kind="stable")]
            self._events = ev
        return self._events

    @property
    def events(self) -> Events:
        """The whole event stream (read on first use). Frames whose window lies before the first
        or after the last event get empty windows (with one warning); raises DatasetError only
        when no frame window overlaps the stream at all."""
        ev = self._load_events()
        if not self._coverage_checked:
            self._check_coverage(ev)
            self._coverage_checked = True
        return ev

    def _check_coverage(self, ev: Events) -> None:
        t = self.frame_times
        starts = t - self._default_windows()
        before = np.flatnonzero(t < ev.t[0])
        after = np.flatnonzero(starts >= ev.t[-1])
        span = (f"{self.event_file} spans t={int(ev.t[0])}..{int(ev.t[-1])} ns, the frames "
                f"t={int(t[0])}..{int(t[-1])} ns (frame times from {self.frame_time_source})")
        if len(before) + len(after) >= len(t):
            raise DatasetError(
                f"sequence {self.name!r}: no frame has events: {span}; expected the frame and event "
                "clocks to overlap"
            )
        parts = []
        if len(before):
            parts.append(f"{len(before)} before the first event (frames 0..{int(before[-1])})")
        if len(after):
            parts.append(f"{len(after)} after the last event (frames {int(after[0])}..{len(t) - 1})")
        if parts:
            self.warn(f"sequence {self.name!r}: {' and '.join(parts)} of {len(t)} frames get empty "
                      f"event windows: {span}")

    @property
    def num_events(self) -> int:
        return len(self.events)

    def events_between(self, t0: int, t1: int) -> Events:
        """All events with t0 <= t < t1 (views into the stream)."""
        return self.events.time_window(int(t0), int(t1))

    def event_span(self, i: int, window_ns: int | None = None) -> tuple[int, int]:
        """Frame i's events (t0, t1] of frame_window as the half-open [t0 + 1, t1 + 1) in integer
        ns: the span that training pairs and the tracker both bin voxel grids over, so an event
        stamped exactly at the frame time counts."""
        t0, t1 = self.frame_window(i, window_ns)
        return t0 + 1, t1 + 1

    def events_for_frame(self, i: int, window_ns: int | None = None) -> Events:
        """Events in (t_i - window, t_i]; the default window is the one of frame_window."""
        return self.events_between(*self.event_span(i, window_ns))

    def release(self) -> None:
        """Drop the cached event stream (it is read again when next needed)."""
        self._events = None
        self._coverage_checked = False
