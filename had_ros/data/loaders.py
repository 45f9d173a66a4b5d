"""RGB + event tracking datasets on disk behind one :class:`Sequence` interface.

Layouts (``open_sequence`` tries them in this order when ``layout`` is not given):

============  =====================================================================================
``had_sim``   ``DIR/{frames/*.png, events.raw, frame_times.txt, groundtruth.txt, absent.txt, meta.json}``
              (the generator's output, ``meta.json`` ``"format": "had_sim/1"``)
``coesot``    ``<seq>/{<seq>_aps/, <seq>_dvs/, <seq>.aedat4, groundtruth.txt, absent.txt}``
``visevent``  ``<seq>/{vis_imgs/, event_imgs/, groundtruth.txt, absent_label.txt[, *.aedat4]}``
``fe108``     ``<seq>/{img/ (or aps/), events.aedat4, groundtruth_rect.txt}``
``eventvot``  ``<seq>/{img/, <seq>.csv, groundtruth.txt, absent.txt}``
============  =====================================================================================

Ground truth: one box per frame, ``x,y,w,h`` in pixels, comma separated (whitespace or tabs are
accepted too, as some releases use them); ``NaN`` boxes count as absent.
Absent flags: ``absent.txt`` / ``absent_label.txt`` hold one int per frame, 1 = present,
0 = absent (COESOT's convention, shared by the generator and VisEvent). Without a flag file
(FE108, or a release that lacks it) a frame is absent when its box has w <= 0, h <= 0 or NaN, and
that always marks a frame absent even when its flag says present.

Frame times (``Sequence.frame_time_source`` says which one a sequence uses; all ns, sensor clock):

1. ``fps=`` given to open_sequence: frame i at ``t_first_event + (i + 1) / fps`` (0 without events).
2. ``frame_times.txt`` in the sequence folder (one int ns per frame): the generator writes it;
   it can be added to any real sequence to override what follows.
3. AEDAT4 layouts (COESOT, FE108, VisEvent with an .aedat4): the APS frame timestamps stored in
   the .aedat4; the image folder must hold exactly as many frames.
4. EventVOT (no timestamps shipped): the events' span split into N equal windows, frame i at the
   end of window i: ``t_first + (i + 1) * (t_last - t_first) / N``.
5. VisEvent with only event images: a nominal 30 fps from 0 (``DEFAULT_FPS``); there are no events.

Events are read once per sequence on first use and sliced by binary search
(``Events.time_window``). ``.raw`` and ``.aedat4`` go through ``had_ros.events.read_events``;
EventVOT's CSV through :func:`read_event_csv` (header line optional, see there).
VisEvent without an .aedat4 in the sequence folder: ``has_events`` is False and asking for events
raises a DatasetError that says only event images exist (``event_image(i)`` reads those).

Every bad input raises ``DatasetError`` naming the sequence and the file and what was expected. A
corrupt image only raises when that frame is read.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from had_ros.errors import DatasetError, HadError
from had_ros.events.container import Events

LAYOUTS = ("had_sim", "coesot", "visevent", "fe108", "eventvot")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_FPS = 30.0
SIM_FORMAT_PREFIX = "had_sim/"


# --------------------------------------------------------------------------------------------
# small file readers
# --------------------------------------------------------------------------------------------
def _natural_key(name: str) -> tuple:
    """'frame10.png' after 'frame9.png': digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name))


def list_images(folder: Path, seq: str) -> list[Path]:
    """Image files of ``folder`` in natural order; an error when there is none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"sequence {seq!r}: frame folder {folder} is missing; expected a folder of images")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DatasetError(
            f"sequence {seq!r}: frame folder {folder} holds no images; expected files ending in "
            f"{', '.join(IMAGE_EXTENSIONS)}"
        )
    return sorted(files, key=lambda p: _natural_key(p.name))


def _data_lines(path: Path, seq: str, what: str) -> list[tuple[int, str]]:
    """(line number, stripped text) of a text file without trailing blank lines."""
    if not path.is_file():
        raise DatasetError(f"sequence {seq!r}: {what} file {path} is missing")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"sequence {seq!r}: cannot read {what} file {path}: {exc}") from exc
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    while lines and not lines[-1][1]:
        lines.pop()
    return lines


def read_boxes(path: Path, seq: str) -> np.ndarray:
    """Boxes x,y,w,h (N, 4) float64 from a ground-truth file (comma, tab or space separated)."""
    path = Path(path)
    rows = []
    for n, line in _data_lines(path, seq, "ground-truth"):
        fields = [f for f in re.split(r"[,\s]+", line) if f]
        try:
            if len(fields) != 4:
                raise ValueError
            rows.append([float(f) for f in fields])
        except ValueError:
            raise DatasetError(
                f"sequence {seq!r}: {path} line {n} is {line!r}; expected 4 numbers x,y,w,h"
            ) from None
    if not rows:
        raise DatasetError(f"sequence {seq!r}: ground-truth file {path} is empty; expected one x,y,w,h line per frame")
    return np.asarray(rows, dtype=np.float64)


def read_flags(path: Path, seq: str) -> np.ndarray:
    """0/1 flags, one per line (first field of the line), as a bool array (True = 1)."""
    path = Path(path)
    out = []
    for n, line in _data_lines(path, seq, "flag"):
        field = re.split(r"[,\s]+", line)[0] if line else ""
        try:
            value = float(field)
            if value not in (0.0, 1.0):
                raise ValueError
        except ValueError:
            raise DatasetError(f"sequence {seq!r}: {path} line {n} is {line!r}; expected 0 or 1") from None
        out.append(value == 1.0)
    return np.asarray(out, dtype=bool)


def read_frame_times(path: Path, seq: str) -> np.ndarray:
    """Frame times (N,) int64 ns, one integer per line."""
    path = Path(path)
    out = []
    for n, line in _data_lines(path, seq, "frame-time"):
        try:
            out.append(int(line))
        except ValueError:
            raise DatasetError(f"sequence {seq!r}: {path} line {n} is {line!r}; expected an integer time in ns") from None
    return np.asarray(out, dtype=np.int64)


# EventVOT's CSV: the benchmark does not document the column order. Recordings come from a
# Prophesee EVK4, whose CSV export writes x,y,p,t (t in microseconds); t,x,y,p is the other order
# in use. A header line names the columns; without one the order is inferred from the values.
_CSV_NAMES = {
    "t": ("t", "ts", "time", "timestamp", "t_us", "timestamp_us"),
    "x": ("x",),
    "y": ("y",),
    "p": ("p", "pol", "polarity"),
}
_CSV_ORDERS = (("x", "y", "p", "t"), ("t", "x", "y", "p"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_event_csv(path: Path, width: int, height: int, seq: str = "?") -> Events:
    """Events from a CSV file of one event per line.

    Columns: named by an optional header line (t/ts/timestamp, x, y, p/polarity, any order);
    without a header, x,y,p,t (Prophesee's CSV export) or t,x,y,p, whichever fits the values
    (p in {-1, 0, 1}, t non-decreasing; x,y,p,t wins a tie). Times: integers are microseconds,
    values with fractions are seconds. Polarity 1 = ON, 0 or -1 = OFF.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"sequence {seq!r}: event file {path} is missing")
    with open(path) as fh:
        first = fh.readline()
    has_header = not all(_is_number(f) for f in re.split(r"[,\s]+", first.strip()) if f)
    delimiter = "," if "," in first else None
    try:
        data = np.loadtxt(path, delimiter=delimiter, skiprows=1 if has_header else 0, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"sequence {seq!r}: cannot parse event CSV {path}: {exc}") from None
    if data.size == 0:
        raise DatasetError(f"sequence {seq!r}: event file {path} holds no events")
    if has_header:
        names = [f.strip().lower() for f in re.split(r"[,\s]+", first.strip()) if f.strip()]
        cols = {}
        for key, aliases in _CSV_NAMES.items():
            hits = [i for i, n in enumerate(names) if n in aliases]
            if not hits:
                raise DatasetError(
                    f"sequence {seq!r}: event CSV {path} header {first.strip()!r} has no {key} column; "
                    f"expected one of {', '.join(aliases)}"
                )
            cols[key] = hits[0]
        if data.shape[1] != len(names):
            raise DatasetError(f"sequence {seq!r}: event CSV {path} has {data.shape[1]} columns but its header names {len(names)}")
    else:
        if data.shape[1] != 4:
            raise DatasetError(f"sequence {seq!r}: event CSV {path} has {data.shape[1]} columns; expected 4 (x,y,p,t or t,x,y,p)")
        cols = None
        for order in _CSV_ORDERS:
            cand = {k: i for i, k in enumerate(order)}
            p, t = data[:, cand["p"]], data[:, cand["t"]]
            if np.isin(p, (-1.0, 0.0, 1.0)).all() and (len(t) < 2 or np.all(np.diff(t) >= 0)):
                cols = cand
                break
        if cols is None:
            raise DatasetError(
                f"sequence {seq!r}: cannot tell the columns of event CSV {path}: neither x,y,p,t nor "
                "t,x,y,p fits (expected polarity in {-1,0,1} and non-decreasing times); add a header line"
            )
    t = data[:, cols["t"]]
    t_ns = np.round(t * (1e3 if np.all(t == np.round(t)) else 1e9)).astype(np.int64)
    x, y = data[:, cols["x"]], data[:, cols["y"]]
    if (x < 0).any() or (y < 0).any() or (x >= width).any() or (y >= height).any():
        raise DatasetError(
            f"sequence {seq!r}: event CSV {path} has coordinates up to x={x.max():.0f}, y={y.max():.0f}; "
            f"expected inside the {width}x{height} frames"
        )
    ev = Events.from_arrays(x.astype(np.uint16), y.astype(np.uint16), t_ns,
                            (data[:, cols["p"]] > 0).astype(np.uint8), width, height)
    return ev


def _image_size(files: list[Path], seq: str) -> tuple[int, int]:
    """(width, height) from the header of the first readable image among the first few."""
    from PIL import Image  # reads only the header, so one corrupt image doesn't fail the sequence

    for path in files[:8]:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except (OSError, ValueError):
            continue
    raise DatasetError(f"sequence {seq!r}: none of the first images ({files[0]} ...) can be read; expected PNG/JPG/BMP frames")


def _aedat4_frame_times(path: Path, seq: str) -> np.ndarray:
    """APS frame timestamps (ns) stored in an .aedat4 file."""
    from had_ros.events import read_aedat4_frames

    try:
        _, times = read_aedat4_frames(path)
    except HadError as exc:
        raise DatasetError(f"sequence {seq!r}: cannot read frame timestamps from {path}: {exc}") from exc
    return np.asarray(times, dtype=np.int64)


def _read_event_file(path: Path, width: int, height: int, seq: str) -> Events:
    if path.suffix.lower() == ".csv":
        return read_event_csv(path, width, height, seq)
    from had_ros.events import read_events

    try:
        return read_events(path)
    except HadError as exc:
        raise DatasetError(f"sequence {seq!r}: cannot read events from {path}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Sequence
# --------------------------------------------------------------------------------------------
class Sequence:
    """One recorded sequence: frames (read lazily), their times, the event stream, ground truth.

    Attributes: ``name``, ``layout``, ``root``, ``width``, ``height``, ``attributes`` (frozenset of
    attribute names), ``groundtruth`` (N, 4) x,y,w,h, ``absent`` (N,) True where the target is not
    visible, ``frame_files``, ``event_file`` (None when the release has no raw events),
    ``frame_time_source`` (how frame times were obtained, see the module docstring),
    ``absent_source`` (the flag file, or how absence was derived).
    """

    def __init__(self, *, name: str, layout: str, root: Path, frame_files: list[Path],
                 groundtruth: np.ndarray, absent: np.ndarray, width: int, height: int,
                 attributes: Iterable[str] = (), event_file: Path | None = None,
                 no_events_reason: str = "", frame_times: np.ndarray | None = None,
                 frame_time_mode: str = "file", frame_time_source: str = "", fps: float | None = None,
                 aedat4_file: Path | None = None, event_frame_files: list[Path] | None = None,
                 absent_source: str = "") -> None:
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
        self.event_frame_files = event_frame_files
        self._frame_time_mode = frame_time_mode
        self._fps = fps
        self._aedat4_file = aedat4_file
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

    # frames -------------------------------------------------------------------------------------
    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sequence {self.name!r}: frame {i} out of range (it has {n} frames)")
        return i % n

    def frame(self, i: int) -> np.ndarray:
        """Frame i as (H, W, 3) uint8 RGB, read from disk now."""
        return self._read_image(self.frame_files[self._index(i)], i)

    def event_image(self, i: int) -> np.ndarray:
        """The dataset's own event image for frame i (VisEvent event_imgs/, COESOT <seq>_dvs/)."""
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
            times = _aedat4_frame_times(self._aedat4_file, self.name)
            if len(times) != n:
                raise DatasetError(
                    f"sequence {self.name!r}: {self._aedat4_file} stores {len(times)} frames but "
                    f"{self.frame_files[0].parent} holds {n} images; expected one aedat4 frame per image "
                    "(add a frame_times.txt or pass fps= to override)"
                )
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
        if len(times) > 1 and np.any(np.diff(times) <= 0):
            k = int(np.argmax(np.diff(times) <= 0))
            raise DatasetError(
                f"sequence {self.name!r}: frame times from {source} do not increase at frame {k + 1} "
                f"({times[k]} then {times[k + 1]} ns); expected strictly increasing times"
            )

    @property
    def frame_times_ready(self) -> bool:
        """True when frame times are known without reading the event or AEDAT4 file."""
        return self._frame_times is not None or (self._frame_time_mode == "fps" and self.event_file is None)

    def frame_time(self, i: int) -> int:
        """Time of frame i in ns (sensor clock)."""
        return int(self.frame_times[self._index(i)])

    def frame_window(self, i: int, window_ns: int | None = None) -> tuple[int, int]:
        """(t0, t1): the span (t0, t1] of frame i's events; by default from the previous frame's
        time (for frame 0, the same span as frame 1's before it)."""
        i = self._index(i)
        t = self.frame_times
        if window_ns is None:
            if len(t) > 1:
                window_ns = int(t[i] - t[i - 1]) if i > 0 else int(t[1] - t[0])
            else:
                window_ns = int(round(1e9 / (self._fps or DEFAULT_FPS)))
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
            ev = _read_event_file(self.event_file, self.width, self.height, self.name)
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
        """The whole event stream (read on first use). Raises DatasetError when frames lie where
        the stream has no events (before its first or after its last event)."""
        ev = self._load_events()
        if not self._coverage_checked:
            self._check_coverage(ev)
            self._coverage_checked = True
        return ev

    def _check_coverage(self, ev: Events) -> None:
        t = self.frame_times
        # frame i's window starts at the previous frame time; frame 0's is as long as frame 1's
        starts = np.concatenate([[2 * t[0] - t[1]] if len(t) > 1 else [self.frame_window(0)[0]], t[:-1]])
        uncovered = np.flatnonzero((t < ev.t[0]) | (starts >= ev.t[-1]))
        if len(uncovered):
            j = int(uncovered[0])
            raise DatasetError(
                f"sequence {self.name!r}: {len(uncovered)} of {len(self)} frames have no events "
                f"(first: frame {j} at t={int(t[j])} ns) because {self.event_file} only spans "
                f"t={int(ev.t[0])}..{int(ev.t[-1])} ns; expected events around every frame time "
                f"(frame times from {self.frame_time_source})"
            )

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


# --------------------------------------------------------------------------------------------
# layouts
# --------------------------------------------------------------------------------------------
def _pick_file(root: Path, preferred: list[str], pattern: str, seq: str, what: str, required: bool = True) -> Path | None:
    """The first existing ``preferred`` name, else the single file matching ``pattern``."""
    for name in preferred:
        if (root / name).is_file():
            return root / name
    hits = sorted(p for p in root.glob(pattern) if p.is_file())
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise DatasetError(
            f"sequence {seq!r}: {len(hits)} {what} files in {root} ({', '.join(p.name for p in hits)}); "
            f"expected one, named {preferred[0]}"
        )
    if required:
        raise DatasetError(f"sequence {seq!r}: {what} file missing in {root}; expected {preferred[0]}")
    return None


def _check_count(seq: str, what: str, path: Path, count: int, frames: list[Path]) -> None:
    n = len(frames)
    if count != n:
        kind = "short" if count < n else "too long"
        raise DatasetError(
            f"sequence {seq!r}: {what} {path} is {kind}: {count} lines for {n} frames in "
            f"{frames[0].parent}; expected one line per frame"
        )


def _common(root: Path, seq: str, layout: str, frames: list[Path], gt_name: str,
            absent_name: str | None, absent_required: bool = False) -> dict:
    """Ground truth and absent flags shared by every layout."""
    gt_path = root / gt_name
    if not gt_path.is_file():
        raise DatasetError(
            f"sequence {seq!r} ({layout}): ground-truth file {gt_path} is missing; expected "
            f"x,y,w,h per line for its {len(frames)} frames"
        )
    gt = read_boxes(gt_path, seq)
    _check_count(seq, "ground-truth file", gt_path, len(gt), frames)
    absent_path = root / absent_name if absent_name else None
    if absent_path is not None and absent_path.is_file():
        present = read_flags(absent_path, seq)
        _check_count(seq, "absent-flag file", absent_path, len(present), frames)
        absent, source = ~present, str(absent_path)
    elif absent_required:
        raise DatasetError(
            f"sequence {seq!r} ({layout}): absent-flag file {absent_path} is missing; expected one "
            "0/1 per frame (1 = present)"
        )
    else:
        absent, source = np.zeros(len(gt), dtype=bool), "boxes (w, h <= 0 or NaN = absent)"
    return dict(groundtruth=gt, absent=absent, absent_source=source)


def _timing(root: Path, seq: str, n: int, fps: float | None, default: dict) -> dict:
    """Frame-time settings: an explicit fps, else frame_times.txt, else the layout's default."""
    if fps is not None:
        if not fps > 0:
            raise DatasetError(f"sequence {seq!r}: fps must be > 0, got {fps}")
        return dict(frame_time_mode="fps", fps=float(fps), frame_time_source=f"fixed {fps:g} fps (given)")
    times_path = root / "frame_times.txt"
    if times_path.is_file():
        times = read_frame_times(times_path, seq)
        if len(times) != n:
            raise DatasetError(
                f"sequence {seq!r}: frame-time file {times_path} has {len(times)} lines for {n} frames; "
                "expected one time per frame"
            )
        return dict(frame_times=times, frame_time_source=str(times_path))
    return default


def _open_had_sim(root: Path, fps: float | None) -> Sequence:
    meta_path = root / "meta.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    except (OSError, ValueError) as exc:
        raise DatasetError(f"sequence {root.name!r}: cannot parse {meta_path}: {exc}") from None
    seq = str(meta.get("name", root.name)) if isinstance(meta, dict) else root.name
    if not isinstance(meta, dict) or "width" not in meta or "height" not in meta:
        raise DatasetError(f"sequence {seq!r}: {meta_path} is missing or lacks width/height; expected the generator's meta.json")
    frames = list_images(root / "frames", seq)
    if "num_frames" in meta and int(meta["num_frames"]) != len(frames):
        raise DatasetError(
            f"sequence {seq!r}: {meta_path} says {meta['num_frames']} frames but {root / 'frames'} holds {len(frames)}"
        )
    event_file = root / "events.raw"
    if not event_file.is_file():
        raise DatasetError(f"sequence {seq!r}: event file {event_file} is missing; expected the generator's EVT3 .raw")
    if fps is None and not (root / "frame_times.txt").is_file():
        raise DatasetError(f"sequence {seq!r}: frame-time file {root / 'frame_times.txt'} is missing; expected one ns time per frame")
    return Sequence(
        name=seq, layout="had_sim", root=root, frame_files=frames,
        width=int(meta["width"]), height=int(meta["height"]),
        attributes=[str(a) for a in meta.get("attributes", [])], event_file=event_file,
        **_common(root, seq, "had_sim", frames, "groundtruth.txt", "absent.txt", absent_required=True),
        **_timing(root, seq, len(frames), fps, {}),
    )


def _aedat_timing(aedat: Path) -> dict:
    return dict(frame_time_mode="aedat4", aedat4_file=aedat, frame_time_source=f"aedat4 frame timestamps ({aedat.name})")


def _open_coesot(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    aps = root / f"{seq}_aps"
    if not aps.is_dir():
        candidates = sorted(p for p in root.glob("*_aps") if p.is_dir())
        if len(candidates) != 1:
            raise DatasetError(f"sequence {seq!r} (coesot): frame folder {aps} is missing")
        aps = candidates[0]
    frames = list_images(aps, seq)
    dvs = aps.with_name(aps.name[:-4] + "_dvs")
    aedat = _pick_file(root, [f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event")
    w, h = _image_size(frames, seq)
    return Sequence(
        name=seq, layout="coesot", root=root, frame_files=frames, width=w, height=h, event_file=aedat,
        event_frame_files=list_images(dvs, seq) if dvs.is_dir() else None,
        **_common(root, seq, "coesot", frames, "groundtruth.txt", "absent.txt"),
        **_timing(root, seq, len(frames), fps, _aedat_timing(aedat)),
    )


def _open_visevent(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    frames = list_images(root / "vis_imgs", seq)
    event_imgs = root / "event_imgs"
    aedat = _pick_file(root, [f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event", required=False)
    w, h = _image_size(frames, seq)
    if aedat is not None:
        default, reason = _aedat_timing(aedat), ""
    else:
        default = dict(frame_time_mode="fps", fps=DEFAULT_FPS,
                       frame_time_source=f"nominal {DEFAULT_FPS:g} fps (no timestamps or events in this release)")
        reason = (f"VisEvent folder {root} has only event images (event_imgs/), no raw events; "
                  "put the sequence's .aedat4 in the folder to use events")
    return Sequence(
        name=seq, layout="visevent", root=root, frame_files=frames, width=w, height=h,
        event_file=aedat, no_events_reason=reason,
        event_frame_files=list_images(event_imgs, seq) if event_imgs.is_dir() else None,
        **_common(root, seq, "visevent", frames, "groundtruth.txt", "absent_label.txt"),
        **_timing(root, seq, len(frames), fps, default),
    )


def _open_fe108(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    folder = root / "img" if (root / "img").is_dir() else root / "aps"
    frames = list_images(folder if folder.is_dir() else root / "img", seq)
    aedat = _pick_file(root, ["events.aedat4", f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event")
    w, h = _image_size(frames, seq)
    dvs = root / "dvs"
    return Sequence(
        name=seq, layout="fe108", root=root, frame_files=frames, width=w, height=h, event_file=aedat,
        event_frame_files=list_images(dvs, seq) if dvs.is_dir() else None,
        **_common(root, seq, "fe108", frames, "groundtruth_rect.txt", None),
        **_timing(root, seq, len(frames), fps, _aedat_timing(aedat)),
    )


def _open_eventvot(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    frames = list_images(root / "img", seq)
    event_file = _pick_file(root, [f"{seq}.csv"], "*.csv", seq, "event CSV", required=False)
    if event_file is None:  # a converted release may carry the native Prophesee file instead
        event_file = _pick_file(root, [f"{seq}.raw", f"{seq}.aedat4"], "*.raw", seq,
                                f"event ({seq}.csv)")
    w, h = _image_size(frames, seq)
    default = dict(frame_time_mode="event_span",
                   frame_time_source=f"uniform over the event span ({len(frames)} frames)")
    return Sequence(
        name=seq, layout="eventvot", root=root, frame_files=frames, width=w, height=h, event_file=event_file,
        **_common(root, seq, "eventvot", frames, "groundtruth.txt", "absent.txt"),
        **_timing(root, seq, len(frames), fps, default),
    )


_OPENERS: dict[str, Callable[[Path, float | None], Sequence]] = {
    "had_sim": _open_had_sim,
    "coesot": _open_coesot,
    "visevent": _open_visevent,
    "fe108": _open_fe108,
    "eventvot": _open_eventvot,
}

_LAYOUT_NEEDS = {
    "had_sim": "meta.json (format had_sim/...) or frames/ + frame_times.txt",
    "coesot": "<seq>_aps/",
    "visevent": "vis_imgs/",
    "fe108": "groundtruth_rect.txt",
    "eventvot": "img/ + groundtruth.txt",
}


def _is_sim(root: Path) -> bool:
    meta = root / "meta.json"
    if meta.is_file():
        try:
            fmt = json.loads(meta.read_text()).get("format", "")
        except (OSError, ValueError, AttributeError):
            fmt = ""
        if str(fmt).startswith(SIM_FORMAT_PREFIX):
            return True
    return (root / "frames").is_dir() and (root / "frame_times.txt").is_file()


def detect_layout(path: str | Path) -> str | None:
    """The layout name of a sequence folder, or None when it matches none."""
    root = Path(path)
    if not root.is_dir():
        return None
    if _is_sim(root):
        return "had_sim"
    if (root / f"{root.name}_aps").is_dir() or any(p.is_dir() for p in root.glob("*_aps")):
        return "coesot"
    if (root / "vis_imgs").is_dir():
        return "visevent"
    if (root / "groundtruth_rect.txt").is_file():
        return "fe108"
    if (root / "img").is_dir() and (root / "groundtruth.txt").is_file():
        return "eventvot"
    return None


def open_sequence(path: str | Path, layout: str | None = None, fps: float | None = None) -> Sequence:
    """Open one sequence folder; ``layout`` is autodetected when None. ``fps`` forces fixed-rate
    frame times (see the module docstring)."""
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"sequence folder {root} does not exist or is not a folder")
    if layout is None:
        layout = detect_layout(root)
        if layout is None:
            contents = ", ".join(sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12])
            needs = "; ".join(f"{k}: {v}" for k, v in _LAYOUT_NEEDS.items())
            raise DatasetError(
                f"sequence {root.name!r}: unknown layout in {root} (holds: {contents or 'nothing'}); "
                f"expected one of {needs}"
            )
    if layout not in _OPENERS:
        raise DatasetError(f"unknown layout {layout!r} for {root}; expected one of {', '.join(LAYOUTS)}")
    return _OPENERS[layout](root, fps)


def open_dataset(root: str | Path, layout: str | None = None, fps: float | None = None) -> list[Sequence]:
    """All sequences under ``root``: the ones named in ``root/list.txt`` (one per line) if it
    exists, else every subfolder that is a sequence; ``root`` may also be one sequence folder."""
    from tqdm import tqdm

    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"dataset folder {base} does not exist or is not a folder")
    if detect_layout(base) is not None:
        return [open_sequence(base, layout, fps)]
    list_file = base / "list.txt"
    if list_file.is_file():
        names = [line.split(",")[0].strip() for line in list_file.read_text().splitlines()]
        names = [n for n in names if n and not n.startswith("#")]
        for n in names:
            if not (base / n).is_dir():
                raise DatasetError(f"dataset {base}: {list_file} names sequence {n!r} but {base / n} is not a folder")
        folders = [base / n for n in names]
    else:
        folders = [p for p in sorted(base.iterdir(), key=lambda p: _natural_key(p.name))
                   if p.is_dir() and detect_layout(p) is not None]
    if not folders:
        raise DatasetError(
            f"dataset {base} holds no sequences; expected list.txt or subfolders in one of the layouts "
            f"{', '.join(LAYOUTS)}"
        )
    return [open_sequence(p, layout, fps)
            for p in tqdm(folders, desc="opening sequences", unit="seq", disable=len(folders) < 50)]
