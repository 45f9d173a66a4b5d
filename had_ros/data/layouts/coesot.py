"""``coesot``: COESOT ``<seq>/{<seq>_aps/, <seq>_dvs/, <seq>.aedat4, groundtruth.txt, absent.txt}``.
Recorded with a DAVIS346: APS frames (<seq>_aps/), the raw events and the APS frame timestamps in
the .aedat4, event renderings in <seq>_dvs/; absent.txt 1 = present."""
from __future__ import annotations

from pathlib import Path

from had_ros.data.layouts import Layout, build_sequence, register
from had_ros.data.readers import aedat4_timing, image_size, list_images, pick_file
from had_ros.data.sequence import Sequence
from had_ros.errors import DatasetError


def detect(root: Path) -> bool:
    return (root / f"{root.name}_aps").is_dir() or any(p.is_dir() for p in root.glob("*_aps"))


def open_coesot(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    aps = root / f"{seq}_aps"
    if not aps.is_dir():
        candidates = sorted(p for p in root.glob("*_aps") if p.is_dir())
        if len(candidates) != 1:
            raise DatasetError(f"sequence {seq!r} (coesot): frame folder {aps} is missing")
        aps = candidates[0]
    frames = list_images(aps, seq)
    dvs = aps.with_name(aps.name[:-4] + "_dvs")
    aedat = pick_file(root, [f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event")
    w, h = image_size(frames, seq)
    return build_sequence(
        root, seq, "coesot", frames, "groundtruth.txt", "absent.txt", fps, aedat4_timing(aedat),
        width=w, height=h, event_file=aedat,
        event_frame_files=list_images(dvs, seq) if dvs.is_dir() else None,
    )


LAYOUT = register(Layout(
    name="coesot", priority=10, open=open_coesot, detect=detect,
    files="<seq>/{<seq>_aps/, <seq>_dvs/, <seq>.aedat4, groundtruth.txt, absent.txt}",
    needs="<seq>_aps/",
    modalities="rgb (DAVIS346 APS), events (.aedat4), event_images (<seq>_dvs/)",
))
