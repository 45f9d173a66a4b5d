"""RGB + event tracking datasets on disk behind one :class:`Sequence` interface.

Each layout is one module of ``had_ros.data.layouts`` (its docstring says what the dataset really
holds); ``open_sequence`` tries them in this order when ``layout`` is not given:

============  =====================================================================================
``had_sim``   ``DIR/{frames/*.png, events.raw, frame_times.txt, groundtruth.txt, absent.txt, meta.json}``
              (the generator's output, ``meta.json`` ``"format": "had_sim/1"``)
``coesot``    ``<seq>/{<seq>_aps/, <seq>_dvs/, <seq>.aedat4, groundtruth.txt, absent.txt}``
``visevent``  ``<seq>/{vis_imgs/, event_imgs/, groundtruth.txt, absent_label.txt[, *.aedat4]}``
``fe108``     ``<seq>/{img/ (or aps/), events.aedat4, groundtruth_rect.txt}``
``eventvot``  ``<seq>/{img/, <seq>.csv, groundtruth.txt, absent.txt}`` (no RGB: img/ are event renderings)
============  =====================================================================================

Modalities: ``Sequence.modalities`` says what a sequence really has ("rgb" frames of a frame
camera, raw "events", dataset "event_images"); EventVOT has no "rgb".

Ground truth: one box per frame, ``x,y,w,h`` in pixels, comma separated (whitespace or tabs are
accepted too, as some releases use them); ``NaN`` boxes count as absent; 8-column polygons
(x1,y1,...,x4,y4) become their enclosing axis-aligned box.
Absent flags: ``absent.txt`` / ``absent_label.txt`` hold one int per frame, 1 = present,
0 = absent (COESOT's convention, shared by the generator and VisEvent). Without a flag file
(FE108, or a release that lacks it) a frame is absent when its box has w <= 0, h <= 0 or NaN, and
that always marks a frame absent even when its flag says present.

Frame times (``Sequence.frame_time_source`` says which one a sequence uses; all ns, sensor clock):

1. ``fps=`` given to open_sequence: frame i at ``t_first_event + (i + 1) / fps`` (0 without events).
2. ``frame_times.txt`` in the sequence folder (one int ns per frame): the generator writes it;
   it can be added to any real sequence to override what follows.
3. AEDAT4 layouts (COESOT, FE108, VisEvent with an .aedat4): the APS frame timestamps stored in
   the .aedat4.
4. EventVOT (no timestamps shipped): the events' span split into N equal windows, frame i at the
   end of window i: ``t_first + (i + 1) * (t_last - t_first) / N``.
5. VisEvent with only event images: a nominal 30 fps from 0 (``DEFAULT_FPS``); there are no events.

Tolerated with a :class:`~had_ros.errors.DatasetWarning` naming the files (and kept in
``Sequence.warnings``), as real releases need:

* ground-truth, absent-flag and image counts (and the .aedat4's APS frame count) that differ by a
  few lines (``readers.max_trim``): every one is trimmed to the shortest;
* frames before the first event or after the last: empty event windows (refused only when no
  frame window overlaps the event stream at all);
* equal consecutive frame times: the repeated frame reuses the previous frame's event window
  (decreasing times are refused);
* CSV events outside the sensor: counted and dropped.

Events are read once per sequence on first use and sliced by binary search
(``Events.time_window``). ``.raw`` and ``.aedat4`` go through ``had_ros.events.read_events``;
EventVOT's CSV through :func:`read_event_csv` (header line optional, see there).
VisEvent without an .aedat4 in the sequence folder: ``has_events`` is False and asking for events
raises a DatasetError that says only event images exist (``event_image(i)`` reads those).

Every unusable input raises ``DatasetError`` naming the sequence and the file and what was
expected. A corrupt image only raises when that frame is read.
"""
from __future__ import annotations

from pathlib import Path

from had_ros.data.layouts import LAYOUTS, detect_layout, get_layout, layouts
from had_ros.data.layouts.eventvot import read_event_csv
from had_ros.data.layouts.had_sim import SIM_FORMAT_PREFIX
from had_ros.data.readers import (DEFAULT_FPS, IMAGE_EXTENSIONS, list_images, natural_key, read_boxes,
                                  read_flags, read_frame_times)
from had_ros.data.sequence import MODALITIES, Sequence
from had_ros.errors import DatasetError

__all__ = ["DEFAULT_FPS", "IMAGE_EXTENSIONS", "LAYOUTS", "MODALITIES", "SIM_FORMAT_PREFIX", "Sequence",
           "detect_layout", "list_images", "open_dataset", "open_sequence", "read_boxes",
           "read_event_csv", "read_flags", "read_frame_times"]


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
            needs = "; ".join(f"{lay.name}: {lay.needs}" for lay in layouts())
            raise DatasetError(
                f"sequence {root.name!r}: unknown layout in {root} (holds: {contents or 'nothing'}); "
                f"expected one of {needs}"
            )
    return get_layout(layout, root).open(root, fps)


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
        folders = [p for p in sorted(base.iterdir(), key=lambda p: natural_key(p.name))
                   if p.is_dir() and detect_layout(p) is not None]
    if not folders:
        raise DatasetError(
            f"dataset {base} holds no sequences; expected list.txt or subfolders in one of the layouts "
            f"{', '.join(LAYOUTS)}"
        )
    return [open_sequence(p, layout, fps)
            for p in tqdm(folders, desc="opening sequences", unit="seq", disable=len(folders) < 50)]
