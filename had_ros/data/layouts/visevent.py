"""``visevent``: VisEvent ``<seq>/{vis_imgs/, event_imgs/, groundtruth.txt, absent_label.txt[, *.aedat4]}``.
DAVIS346 recordings: frames in vis_imgs/, event renderings in event_imgs/; the raw events (and the
APS frame timestamps) only where the sequence's .aedat4 is in the folder, else frames get a nominal
30 fps. absent_label.txt 1 = present. Ground truth may be 8-column polygons (the conversion
scripts): their enclosing boxes are used."""
from __future__ import annotations

from pathlib import Path

from had_ros.data.layouts import Layout, build_sequence, register
from had_ros.data.readers import DEFAULT_FPS, aedat4_timing, image_size, list_images, pick_file
from had_ros.data.sequence import Sequence


def detect(root: Path) -> bool:
    return (root / "vis_imgs").is_dir()


def open_visevent(root: Path, fps: float | None) -> Sequence:
    seq = root.name
    frames = list_images(root / "vis_imgs", seq)
    event_imgs = root / "event_imgs"
    aedat = pick_file(root, [f"{seq}.aedat4"], "*.aedat4", seq, "AEDAT4 event", required=False)
    w, h = image_size(frames, seq)
    if aedat is not None:
        default, reason = aedat4_timing(aedat), ""
    else:
        default = dict(frame_time_mode="fps", fps=DEFAULT_FPS,
                       frame_time_source=f"nominal {DEFAULT_FPS:g} fps (no timestamps or events in this release)")
        reason = (f"VisEvent folder {root} has only event images (event_imgs/), no raw events; "
                  "put the sequence's .aedat4 in the folder to use events")
    return build_sequence(
        root, seq, "visevent", frames, "groundtruth.txt", "absent_label.txt", fps, default,
        width=w, height=h, event_file=aedat, no_events_reason=reason,
        event_frame_files=list_images(event_imgs, seq) if event_imgs.is_dir() else None,
    )


LAYOUT = register(Layout(
    name="visevent", priority=20, open=open_visevent, detect=detect,
    files="<seq>/{vis_imgs/, event_imgs/, groundtruth.txt, absent_label.txt[, *.aedat4]}",
    needs="vis_imgs/",
    modalities="rgb (DAVIS346 APS), event_images (event_imgs/), events only with the .aedat4",
))
