"""Small readers shared by the dataset layouts (``had_ros.data.layouts``): image folders, ground
truth, flags, frame times, and the tolerant reconciliation of files that disagree on the count.

Real datasets are messy; what is tolerated is said in a :class:`~had_ros.errors.DatasetWarning`
naming the files, and only what cannot be used raises :class:`~had_ros.errors.DatasetError`.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from had_ros.errors import DatasetError, DatasetWarning, HadError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DEFAULT_FPS = 30.0

# Files that should have one line per frame may disagree by a few lines in real releases (a
# trailing frame without annotation, an extra APS frame at the end of a recording). Up to this
# many lines (or this fraction of the longest count, whichever is larger) every file is trimmed to
# the shortest; beyond it the files are taken to belong to different sequences and are refused.
MAX_TRIM_LINES = 10
MAX_TRIM_FRACTION = 0.02

Warn = Callable[[str], None]


def warn_dataset(message: str) -> None:
    """The default sink of loader warnings: a DatasetWarning. It is about the data, not a line of
    code, so it is issued without a source location ("dataset:0: DatasetWarning: ...")."""
    warnings.warn_explicit(message, DatasetWarning, filename="dataset", lineno=0, module="had_ros.data")


def natural_key(name: str) -> tuple:
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
    return sorted(files, key=lambda p: natural_key(p.name))


def image_size(files: list[Path], seq: str) -> tuple[int, int]:
    """(width, height) from the header of the first readable image among the first few."""
    from PIL import Image  # reads only the header, so one corrupt image doesn't fail the sequence

    for path in files[:8]:
        try:
            with Image.open(path) as im:
                return int(im.size[0]), int(im.size[1])
        except (OSError, ValueError):
            continue
    raise DatasetError(f"sequence {seq!r}: none of the first images ({files[0]} ...) can be read; expected PNG/JPG/BMP frames")


def data_lines(path: Path, seq: str, what: str) -> list[tuple[int, str]]:
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


def read_boxes(path: Path, seq: str, warn: Warn | None = None) -> np.ndarray:
    """Boxes x,y,w,h (N, 4) float64 from a ground-truth file (comma, tab or space separated).

    A line of 8 numbers is a polygon x1,y1,...,x4,y4 (VisEvent's conversion scripts, VOT style):
    it becomes its enclosing axis-aligned box, with one warning for the file."""
    path = Path(path)
    rows, polygons = [], 0
    for n, line in data_lines(path, seq, "ground-truth"):
        fields = [f for f in re.split(r"[,\s]+", line) if f]
        try:
            if len(fields) not in (4, 8):
                raise ValueError
            values = [float(f) for f in fields]
        except ValueError:
            raise DatasetError(
                f"sequence {seq!r}: {path} line {n} is {line!r}; expected 4 numbers x,y,w,h "
                "(or 8, a polygon x1,y1,...,x4,y4)"
            ) from None
        if len(values) == 8:
            xs, ys = values[0::2], values[1::2]
            x0, y0 = min(xs), min(ys)  # NaN in, NaN out: an absent polygon stays absent
            values = [x0, y0, max(xs) - x0, max(ys) - y0]
            polygons += 1
        rows.append(values)
    if not rows:
        raise DatasetError(f"sequence {seq!r}: ground-truth file {path} is empty; expected one x,y,w,h line per frame")
    if polygons:
        (warn or warn_dataset)(
            f"sequence {seq!r}: {path} holds {polygons} 8-column polygon rows (x1,y1,...,x4,y4); "
            "using each one's enclosing axis-aligned box"
        )
    return np.asarray(rows, dtype=np.float64)


def read_flags(path: Path, seq: str) -> np.ndarray:
    """0/1 flags, one per line (first field of the line), as a bool array (True = 1)."""
    path = Path(path)
    out = []
    for n, line in data_lines(path, seq, "flag"):
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
    for n, line in data_lines(path, seq, "frame-time"):
        try:
            out.append(int(line))
        except ValueError:
            raise DatasetError(f"sequence {seq!r}: {path} line {n} is {line!r}; expected an integer time in ns") from None
    return np.asarray(out, dtype=np.int64)


def aedat4_frame_times(path: Path, seq: str) -> np.ndarray:
    """APS frame timestamps (ns) stored in an .aedat4 file."""
    from had_ros.events import read_aedat4_frames

    try:
        _, times = read_aedat4_frames(path)
    except HadError as exc:
        raise DatasetError(f"sequence {seq!r}: cannot read frame timestamps from {path}: {exc}") from exc
    return np.asarray(times, dtype=np.int64)


def pick_file(root: Path, preferred: list[str], pattern: str, seq: str, what: str,
              required: bool = True) -> Path | None:
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


def max_trim(n: int) -> int:
    """How many lines files of about ``n`` lines may disagree by and still be trimmed."""
    return max(MAX_TRIM_LINES, math.ceil(MAX_TRIM_FRACTION * n))


def common_length(seq: str, counts: list[tuple[str, int]], warn: Warn | None = None,
                  fix: str = "") -> int:
    """The shortest of ``counts`` ((description naming the file, count) pairs), with a warning
    naming every file when they differ by up to :func:`max_trim` lines, an error beyond that."""
    values = [c for _, c in counts]
    lo, hi = min(values), max(values)
    if lo == hi:
        return lo
    listing = "; ".join(f"{what}: {c}" for what, c in counts)
    if hi - lo > max_trim(hi) or lo == 0:
        raise DatasetError(
            f"sequence {seq!r}: the per-frame files disagree by {hi - lo} lines ({listing}); expected "
            f"one line per frame (up to {max_trim(hi)} lines apart are trimmed)" + (f"; {fix}" if fix else "")
        )
    (warn or warn_dataset)(
        f"sequence {seq!r}: per-frame counts differ ({listing}); using the first {lo} frames of each"
    )
    return lo


def read_annotations(root: Path, seq: str, layout: str, frames: list[Path], gt_name: str,
                absent_name: str | None, absent_required: bool = False,
                warn: Warn | None = None) -> dict:
    """Frames, ground truth and absent flags of one sequence, trimmed to their common length.

    Returns the keyword arguments ``frame_files, groundtruth, absent, absent_source`` of Sequence."""
    gt_path = root / gt_name
    if not gt_path.is_file():
        raise DatasetError(
            f"sequence {seq!r} ({layout}): ground-truth file {gt_path} is missing; expected "
            f"x,y,w,h per line for its {len(frames)} frames"
        )
    gt = read_boxes(gt_path, seq, warn)
    counts = [(f"images in {frames[0].parent}", len(frames)), (f"boxes in {gt_path}", len(gt))]
    absent_path = root / absent_name if absent_name else None
    if absent_path is not None and absent_path.is_file():
        present = read_flags(absent_path, seq)
        counts.append((f"flags in {absent_path}", len(present)))
        absent, source = ~present, str(absent_path)
    elif absent_required:
        raise DatasetError(
            f"sequence {seq!r} ({layout}): absent-flag file {absent_path} is missing; expected one "
            "0/1 per frame (1 = present)"
        )
    else:
        absent, source = np.zeros(len(gt), dtype=bool), "boxes (w, h <= 0 or NaN = absent)"
    n = common_length(seq, counts, warn)
    return dict(frame_files=list(frames[:n]), groundtruth=gt[:n], absent=absent[:n], absent_source=source)


def timing(root: Path, seq: str, n: int, fps: float | None, default: dict, n_images: int | None = None) -> dict:
    """Frame-time settings: an explicit fps, else frame_times.txt, else the layout's default.

    ``n`` is the frame count after trimming, ``n_images`` the images on disk: a frame_times.txt
    with one line per image is cut like the images were."""
    if fps is not None:
        if not fps > 0:
            raise DatasetError(f"sequence {seq!r}: fps must be > 0, got {fps}")
        return dict(frame_time_mode="fps", fps=float(fps), frame_time_source=f"fixed {fps:g} fps (given)")
    times_path = root / "frame_times.txt"
    if times_path.is_file():
        times = read_frame_times(times_path, seq)
        if n < len(times) <= max(n, n_images or 0):
            times = times[:n]
        if len(times) != n:
            raise DatasetError(
                f"sequence {seq!r}: frame-time file {times_path} has {len(times)} lines for {n} frames; "
                "expected one time per frame"
            )
        return dict(frame_times=times, frame_time_source=str(times_path))
    return default


def aedat4_timing(aedat: Path) -> dict:
    """The frame-time settings of a layout whose frames are the APS frames of an .aedat4."""
    return dict(frame_time_mode="aedat4", aedat4_file=aedat,
                frame_time_source=f"aedat4 frame timestamps ({aedat.name})")
