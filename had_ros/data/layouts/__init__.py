"""Dataset layouts behind one registry: each module of this package describes one layout on disk
and registers it with :func:`register`; a new layout is one new file here.

A layout says how to recognise a sequence folder (``detect``), what identifies it in error
messages (``needs``), which files it holds (``files``, for docs and ``--help``) and how to open
one folder as a :class:`had_ros.data.sequence.Sequence` (``open(root, fps)``). Autodetection
tries layouts by ascending ``priority``.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from had_ros.data.readers import read_annotations, timing
from had_ros.data.sequence import Sequence
from had_ros.errors import DatasetError


@dataclass(frozen=True)
class Layout:
    name: str
    priority: int                                       # detection order, lower first
    files: str                                          # the folder's files, one line
    needs: str                                          # what detection looks for
    modalities: str                                     # what its sequences carry, in words
    detect: Callable[[Path], bool]
    open: Callable[[Path, "float | None"], Sequence]


_REGISTRY: dict[str, Layout] = {}


def register(layout: Layout) -> Layout:
    if layout.name in _REGISTRY:
        raise ValueError(f"dataset layout {layout.name!r} is registered twice")
    _REGISTRY[layout.name] = layout
    return layout


def layouts() -> list[Layout]:
    """Every registered layout in detection order."""
    return sorted(_REGISTRY.values(), key=lambda lay: (lay.priority, lay.name))


def get_layout(name: str, root: Path | None = None) -> Layout:
    if name not in _REGISTRY:
        where = f" for {root}" if root is not None else ""
        raise DatasetError(f"unknown layout {name!r}{where}; expected one of {', '.join(names())}")
    return _REGISTRY[name]


def names() -> tuple[str, ...]:
    return tuple(lay.name for lay in layouts())


def build_sequence(root: Path, name: str, layout: str, frames: list[Path], gt_name: str,
                   absent_name: str | None, fps: float | None,
                   default_timing: dict | Callable[[int], dict], *, absent_required: bool = False,
                   **kwargs: Any) -> Sequence:
    """What every layout does once it has found its files: read ground truth and absent flags,
    trim them and the frames to their common length, settle the frame times (``fps``, else a
    frame_times.txt, else ``default_timing``, or ``default_timing(n)`` for the n frames kept), and
    build the Sequence with the warnings of all that. ``kwargs`` go to Sequence."""
    log: list[str] = []
    ann = read_annotations(root, name, layout, frames, gt_name, absent_name, absent_required, warn=log.append)
    n = len(ann["frame_files"])
    default = default_timing(n) if callable(default_timing) else default_timing
    return Sequence(name=name, layout=layout, root=root, warnings=log, **ann, **kwargs,
                    **timing(root, name, n, fps, default, len(frames)))


def detect_layout(path: str | Path) -> str | None:
    """The layout name of a sequence folder, or None when it matches none."""
    root = Path(path)
    if not root.is_dir():
        return None
    for lay in layouts():
        if lay.detect(root):
            return lay.name
    return None


for _module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

LAYOUTS = names()
