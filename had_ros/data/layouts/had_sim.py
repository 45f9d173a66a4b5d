"""``had_sim``: what ``had simulate`` writes (the generator's format, ``meta.json`` ``"format":
"had_sim/1"``): ``DIR/{frames/*.png, events.raw, frame_times.txt, groundtruth.txt, absent.txt,
meta.json}``. Rendered RGB frames and an EVT3 event stream of the same scene; frame times in ns in
frame_times.txt; absent.txt 1 = present."""
from __future__ import annotations

import json
from pathlib import Path

from had_ros.data.layouts import Layout, build_sequence, register
from had_ros.data.readers import list_images
from had_ros.data.sequence import Sequence
from had_ros.errors import DatasetError

SIM_FORMAT_PREFIX = "had_sim/"


def detect(root: Path) -> bool:
    meta = root / "meta.json"
    if meta.is_file():
        try:
            fmt = json.loads(meta.read_text()).get("format", "")
        except (OSError, ValueError, AttributeError):
            fmt = ""
        if str(fmt).startswith(SIM_FORMAT_PREFIX):
            return True
    return (root / "frames").is_dir() and (root / "frame_times.txt").is_file()


def open_had_sim(root: Path, fps: float | None) -> Sequence:
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
    return build_sequence(
        root, seq, "had_sim", frames, "groundtruth.txt", "absent.txt", fps, {}, absent_required=True,
        width=int(meta["width"]), height=int(meta["height"]),
        attributes=[str(a) for a in meta.get("attributes", [])], event_file=event_file,
        modalities=("rgb", "events"),
    )


LAYOUT = register(Layout(
    name="had_sim", priority=0, open=open_had_sim, detect=detect,
    files="DIR/{frames/*.png, events.raw, frame_times.txt, groundtruth.txt, absent.txt, meta.json}",
    needs="meta.json (format had_sim/...) or frames/ + frame_times.txt",
    modalities="rgb (rendered), events (EVT3 .raw)",
))
