"""``eventvot``: EventVOT ``<seq>/{img/, <seq>.csv, groundtruth.txt, absent.txt}``.

EventVOT was recorded with a Prophesee EVK4 alone: there is no frame camera, and its img/ frames
are renderings of the events. Its sequences therefore have the modalities "events" and
"event_images", never "rgb" (``Sequence.frame(i)`` still reads img/, and ``event_image(i)`` the
same files); an RGB model is refused on them. No frame timestamps ship: the events' span is split
into N equal windows, frame i at the end of window i. A converted release may carry the native
``<seq>.raw`` instead of the CSV.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np

from had_ros.data.layouts import Layout, build_sequence, register
from had_ros.data.readers import image_size, list_images, pick_file, warn_dataset
from had_ros.data.sequence import Sequence, read_event_file
from had_ros.errors import DatasetError
from had_ros.events.container import Events

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
MODALITY_NOTE = "no RGB camera: img/ frames are event renderings of a Prophesee EVK4"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_event_csv(path: Path, width: int, height: int, seq: str = "?",
                   warn: Callable[[str], None] | None = None) -> Events:
    """Events from a CSV file of one event per line.

    Columns: named by an optional header line (t/ts/timestamp, x, y, p/polarity, any order);
    without a header, x,y,p,t (Prophesee's CSV export) or t,x,y,p, whichever fits the values
    (p in {-1, 0, 1}, t non-decreasing; x,y,p,t wins a tie). Times: integers are microseconds,
    values with fractions are seconds. Polarity 1 = ON, 0 or -1 = OFF. Events outside the
    width x height sensor are dropped and counted in one warning (as the decoders drop them).
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
    x, y, p = data[:, cols["x"]], data[:, cols["y"]], data[:, cols["p"]]
    inside = (x >= 0) & (y >= 0) & (x < width) & (y < height)
    if not inside.all():
        k = int(np.argmax(~inside))
        dropped = int((~inside).sum())
        if dropped == len(inside):
            raise DatasetError(
                f"sequence {seq!r}: every event of {path} lies outside the {width}x{height} frames "
                f"(first: x={x[k]:g}, y={y[k]:g}); expected events of the same sensor"
            )
        (warn or warn_dataset)(
            f"sequence {seq!r}: dropped {dropped} of {len(inside)} events of {path} outside the "
            f"{width}x{height} sensor (first: data row {k + 1}, x={x[k]:g}, y={y[k]:g})"
        )
        x, y, t_ns, p = x[inside], y[inside], t_ns[inside], p[inside]
    return Events.from_arrays(x.astype(np.uint16), y.astype(np.uint16), t_ns,
                              (p > 0).astype(np.uint8), width, height)


def _read_events(path: Path, width: int, height: int, seq: str, warn: Callable[[str], None]) -> Events:
    if path.suffix.lower() == ".csv":
        return read_event_csv(path, width, height, seq, warn)
    return read_event_file(path, width, height, seq, warn)


def detect(root: Path) -> bool:
    return (root / "img").is_dir() and (root / "groundtruth.txt").is_file()


def open_eventvot(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    frames = list_images(root / "img", seq)
    event_file = pick_file(root, [f"{seq}.csv"], "*.csv", seq, "event CSV", required=False)
    if event_file is None:  # a converted release may carry the native Prophesee file instead
        event_file = pick_file(root, [f"{seq}.raw", f"{seq}.aedat4"], "*.raw", seq,
                               f"event ({seq}.csv)")
    w, h = image_size(frames, seq)
    return build_sequence(
        root, seq, "eventvot", frames, "groundtruth.txt", "absent.txt", fps,
        lambda n: dict(frame_time_mode="event_span",
                       frame_time_source=f"uniform over the event span ({n} frames)"),
        width=w, height=h, event_file=event_file, event_frame_files=frames,
        modalities=("events", "event_images"), modality_note=MODALITY_NOTE, event_reader=_read_events,
    )


LAYOUT = register(Layout(
    name="eventvot", priority=40, open=open_eventvot, detect=detect,
    files="<seq>/{img/, <seq>.csv, groundtruth.txt, absent.txt}",
    needs="img/ + groundtruth.txt",
    modalities="events (EVK4 .csv or .raw), event_images (img/); no RGB",
))
