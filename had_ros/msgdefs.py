"""Message definitions for the types rosbags does not ship (event_camera_msgs, vision_msgs,
had_ros), read from the installed .msg files so bags use exactly what the ROS graph uses.

Search order: every prefix on AMENT_PREFIX_PATH (a sourced ROS install or this venv), then this
interpreter's prefix, then a source checkout (interfaces/<pkg>/msg and msg/ for had_ros).
No ROS import: rosbags reads and writes bags in pure Python.
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from had_ros.errors import HadError

# Types had_ros reads or writes in bags, with the package whose share folder holds them.
EXTRA_TYPES: tuple[str, ...] = (
    "event_camera_msgs/msg/EventPacket",
    "vision_msgs/msg/Point2D",
    "vision_msgs/msg/Pose2D",
    "vision_msgs/msg/BoundingBox2D",
    "vision_msgs/msg/ObjectHypothesis",
    "vision_msgs/msg/ObjectHypothesisWithPose",
    "vision_msgs/msg/Detection2D",
    "vision_msgs/msg/Detection2DArray",
    "had_ros/msg/TrackerState",
)

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


class MessageDefinitionError(HadError):
    """A message definition could not be found or parsed."""


def _search_dirs(package: str) -> list[Path]:
    dirs = [Path(p) / "share" / package / "msg"
            for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(sys.prefix) / "share" / package / "msg")
    if package == "had_ros":
        dirs.append(_SOURCE_ROOT / "msg")
    dirs.append(_SOURCE_ROOT / "interfaces" / package / "msg")
    return dirs


def find_msg_definition(type_name: str) -> str:
    """The .msg text of `pkg/msg/Name` from the first folder that has it."""
    try:
        package, kind, name = type_name.split("/")
    except ValueError:
        raise MessageDefinitionError(f"type name {type_name!r} is not of the form pkg/msg/Name") from None
    if kind != "msg":
        raise MessageDefinitionError(f"only msg types are supported, got {type_name!r}")
    tried = []
    for folder in _search_dirs(package):
        path = folder / f"{name}.msg"
        tried.append(str(path))
        if path.is_file():
            return path.read_text()
    raise MessageDefinitionError(
        f"no definition of {type_name} found; looked in: {', '.join(tried)} "
        "(source a ROS 2 install that has the package, or run `make interfaces`)"
    )


@lru_cache(maxsize=None)
def typestore():
    """A rosbags typestore (ROS 2 kilted) with had_ros's extra types registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for type_name in EXTRA_TYPES:
        types.update(get_types_from_msg(find_msg_definition(type_name), type_name))
    store.register(types)
    return store
