"""``fe108``: FE108 ``<seq>/{img/ (or aps/), events.aedat4, groundtruth_rect.txt}``. DAVIS346 APS
frames and events; no absent file, so a box with w <= 0, h <= 0 or NaN marks the target absent."""
from __future__ import annotations

from pathlib import Path

from had_ros.data.layouts import Layout, build_sequence, register
from had_ros.data.readers import aedat4_timing, image_size, list_images, pick_file
from had_ros.data.sequence import Sequence


def detect(root: Path) -> bool:
    return (root / "groundtruth_rect.txt").is_file()


def open_fe108(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    folder = root / "img" if (root / "img").is_dir() else root / "aps"
    frames = list_images(folder if folder.is_dir() else root / "img", seq)
    aedat = pick_file(root, ["events.aedat4", f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event")
    w, h = image_size(frames, seq)
    dvs = root / "dvs"
    return build_sequence(
        root, seq, "fe108", frames, "groundtruth_rect.txt", None, fps, aedat4_timing(aedat),
        width=w, height=h, event_file=aedat,
        event_frame_files=list_images(dvs, seq) if dvs.is_dir() else None,
    )


LAYOUT = register(Layout(
    name="fe108", priority=30, open=open_fe108, detect=detect,
    files="<seq>/{img/ (or aps/), events.aedat4, groundtruth_rect.txt}",
    needs="groundtruth_rect.txt",
    modalities="rgb (DAVIS346 APS), events (.aedat4)",
))
