"""The tracker node's parameters: one table that the node declares from, that checks values (at
start and on every set-parameters request) and that writes config/tracker.yaml and the docs.

No rclpy here: the table is plain data so the processing core, `had replay --direct` and the tests
use the same names, defaults and checks as the node.

The ``tracker.*`` parameters are the fields of :class:`had_ros.tracking.TrackerConfig`, with the
defaults of that dataclass; a value is accepted when TrackerConfig accepts it (its own checks give
the reason otherwise), so the runtime's knobs are never restated here.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from had_ros.tracking.tracker import TrackerConfig

TYPES = ("string", "int", "double", "bool", "double_array", "string_array")
TRACKER_PREFIX = "tracker."


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: its type, default, description, numeric range or choices, and
    whether it can change while the node runs (``read_only``: only at start)."""

    name: str
    type: str
    default: Any
    description: str
    range: tuple[float, float] | None = None     # inclusive bounds of an int/double
    choices: tuple[str, ...] | None = None        # allowed strings
    read_only: bool = False
    check: Callable[[Any], str | None] | None = None   # extra check: returns the reason or None

    def describe_range(self) -> str:
        if self.range is not None:
            return f"[{self.range[0]:g}, {self.range[1]:g}]"
        if self.choices is not None:
            return " | ".join(self.choices)
        return ""


def _box_check(value: Any) -> str | None:
    vals = list(value)
    if not vals:
        return None
    if len(vals) != 4:
        return f"init_box must be [] (no box) or 4 numbers [x, y, w, h], got {len(vals)} numbers"
    if not all(math.isfinite(v) for v in vals):
        return f"init_box {vals} has a non-finite value"
    if vals[2] <= 0 or vals[3] <= 0:
        return f"init_box {vals}: width and height must be > 0"
    return None


def _providers_check(value: Any) -> str | None:
    bad = [p for p in value if not str(p).endswith("ExecutionProvider")]
    return f"providers {bad} are not ONNX Runtime provider names (e.g. CPUExecutionProvider)" if bad else None


NODE_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("model", "string", "",
              "Tracker model: a checkpoint (.safetensors + .json or its folder), an exported .onnx, or a "
              "registry name. Empty: the package default (had_ros.tracking.factory.default_model(): the "
              "shipped weights in had_ros/weights/, else the UNTRAINED registry student).", read_only=True),
    ParamSpec("backend", "string", "onnx", "Inference backend: onnx (ONNX Runtime) or torch.",
              choices=("onnx", "torch"), read_only=True),
    ParamSpec("providers", "string_array", [],
              "ONNX Runtime execution providers in order of preference (empty: CUDA then CPU, those "
              "this onnxruntime has).", read_only=True, check=_providers_check),
    ParamSpec("device", "string", "cpu", "torch backend device (cpu, cuda, cuda:0, ...).", read_only=True),
    ParamSpec("threads", "int", 0, "CPU threads for inference (0: the library default).", range=(0, 256),
              read_only=True),
    ParamSpec("init_box", "double_array", [],
              "Target box [x, y, w, h] in image pixels, used on the next image (setting it while running "
              "re-initialises the target). Empty: wait for the init topic.", check=_box_check),
    ParamSpec("image_latency_ms", "double", 0.0,
              "How much later than the frame's time (the middle of its exposure, the time training "
              "pairs use) the image's header stamp is; subtracted before the image is paired with the "
              "events of its window. 0: the stamp is the frame time, as libcaer_driver stamps DAVIS "
              "frames (middle of the exposure, on the clock of its events). A driver that stamps on "
              "arrival needs exposure/2 + readout + transfer (bags of had simulate --bag: exposure/2 "
              "+ 4 ms).", range=(0.0, 1000.0)),
    ParamSpec("max_event_wait_ms", "double", 50.0,
              "How long an image waits for the events that close its window before it is tracked with "
              "what has arrived (counted as an incomplete window).", range=(0.0, 10000.0)),
    ParamSpec("event_rate_hz", "double", 0.0,
              "High-rate mode: with an event-only model, also track from events alone at this rate "
              "between images, published on event_detections with event-time stamps (0: off).",
              range=(0.0, 5000.0)),
    ParamSpec("queue_size", "int", 2,
              "Images waiting for the model; the worker takes the newest ready one, older ones are "
              "dropped and counted (latest first), so a slow model never builds latency.",
              range=(1, 100), read_only=True),
    ParamSpec("qos_reliability", "string", "best_effort",
              "Reliability of the image and events subscriptions (best_effort also receives reliable "
              "publishers).", choices=("best_effort", "reliable"), read_only=True),
    ParamSpec("image_qos_depth", "int", 5, "KeepLast depth of the image subscription.", range=(1, 1000),
              read_only=True),
    ParamSpec("events_qos_depth", "int", 1000, "KeepLast depth of the events subscription (drivers "
              "publish about 1 ms packets, best effort).", range=(1, 100000), read_only=True),
    ParamSpec("events_batch_ms", "double", 2.0,
              "Every this many ms a thread of the node takes all queued event packets at once and "
              "hands them to the core in one batch (the executor's dispatch costs about 0.3 ms a "
              "message: a third of a core at a driver's 1000 packets/s); adds at most this to the wait "
              "for a window's last events. 0: one executor callback per packet.",
              range=(0.0, 100.0), read_only=True),
    ParamSpec("buffer_max_events", "int", 4_000_000, "Events kept in the buffer at most (the oldest "
              "go first, counted).", range=(1000, 200_000_000), read_only=True),
    ParamSpec("buffer_max_age_ms", "double", 500.0, "Events older than this before the newest one "
              "are dropped from the buffer.", range=(1.0, 60000.0), read_only=True),
    ParamSpec("debug_overlay_events", "bool", True,
              "Draw the events the model read (the window's, inside its crop; ON red, OFF blue) on "
              "debug_image."),
    ParamSpec("diagnostics_period_s", "double", 1.0, "Period of /diagnostics.", range=(0.05, 60.0),
              read_only=True),
    ParamSpec("log_throttle_s", "double", 5.0, "Each kind of bad input is logged at most once per this "
              "period (every case is counted in /diagnostics).", range=(0.0, 3600.0)),
)

_TRACKER_DOCS: dict[str, tuple[str, tuple[float, float] | None]] = {
    "template_factor": ("Template crop side as a multiple of the box side sqrt(w*h).", None),
    "search_factor": ("Search region side as a multiple of the box side.", None),
    "window_influence": ("Weight of the Hann window on the score map (0: none, 1: full).", (0.0, 1.0)),
    "lost_threshold": ("Score below which the target counts as lost (box kept).", (0.0, 1.0)),
    "recover_threshold": ("Score at or above which a lost target is tracked again (>= lost_threshold).",
                          (0.0, 1.0)),
    "lost_search_growth": ("Search factor multiplier per lost frame.", None),
    "max_search_factor": ("Cap of the enlarged search factor while lost (>= search_factor).", None),
    "smoothing": ("EMA weight of the previous box on accepted frames (0: off).", (0.0, 1.0)),
    "min_box_size": ("Smallest box side in pixels.", None),
}


def _tracker_params() -> tuple[ParamSpec, ...]:
    default = TrackerConfig()
    out = []
    for f in dataclasses.fields(TrackerConfig):
        value = getattr(default, f.name)
        doc, rng = _TRACKER_DOCS.get(f.name, (f"TrackerConfig.{f.name}.", None))
        if value is None:  # "from the model config" (crop factors): ROS has no null, 0.0 stands for it
            value, doc = 0.0, doc + " 0: the model's own value (from its checkpoint)."
        kind = "bool" if isinstance(value, bool) else "int" if isinstance(value, int) else \
            "double" if isinstance(value, float) else "string"
        out.append(ParamSpec(TRACKER_PREFIX + f.name, kind, value,
                             doc + " Checked by had_ros.tracking.TrackerConfig.", range=rng))
    return tuple(out)


PARAMS: tuple[ParamSpec, ...] = NODE_PARAMS + _tracker_params()
BY_NAME: dict[str, ParamSpec] = {p.name: p for p in PARAMS}


def defaults() -> dict[str, Any]:
    return {p.name: (list(p.default) if isinstance(p.default, list) else p.default) for p in PARAMS}


def _type_ok(spec: ParamSpec, value: Any) -> bool:
    if spec.type == "string":
        return isinstance(value, str)
    if spec.type == "bool":
        return isinstance(value, bool)
    if spec.type == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if spec.type == "double":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.type == "double_array":
        return isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if spec.type == "string_array":
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
    return False


def check_value(name: str, value: Any) -> str | None:
    """Why ``value`` is refused for parameter ``name`` (None: accepted). Tracker fields are checked
    one by one here and together by :func:`check_all`."""
    spec = BY_NAME.get(name)
    if spec is None:
        return f"unknown parameter {name!r}"
    if not _type_ok(spec, value):
        return f"{name} must be a {spec.type}, got {value!r} ({type(value).__name__})"
    if spec.range is not None:
        lo, hi = spec.range
        if not (isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi):
            return f"{name} = {value!r} is outside {spec.describe_range()}"
    if spec.choices is not None and value not in spec.choices:
        return f"{name} = {value!r} is not one of {list(spec.choices)}"
    if spec.check is not None:
        return spec.check(value)
    return None


def tracker_config(values: dict[str, Any]) -> TrackerConfig:
    """TrackerConfig from the ``tracker.*`` entries of ``values`` (raises TrackingError with the
    field and the expected range when they do not fit together)."""
    default = TrackerConfig()
    kw = {}
    for key, v in values.items():
        field = key[len(TRACKER_PREFIX):]
        if key.startswith(TRACKER_PREFIX) and hasattr(default, field):
            if getattr(default, field) is None:  # 0.0 = the model's value (see _tracker_params)
                kw[field] = None if float(v) == 0.0 else float(v)
                continue
            kw[field] = float(v) if isinstance(getattr(default, field), float) else v
    return TrackerConfig(**kw)


def check_all(values: dict[str, Any]) -> str | None:
    """Why this full set of values is refused (None: accepted)."""
    from had_ros.errors import TrackingError

    for name, value in values.items():
        reason = check_value(name, value)
        if reason:
            return reason
    try:
        tracker_config(values)
    except TrackingError as exc:
        return str(exc)
    return None


def _yaml_value(p: ParamSpec) -> str:
    import json

    if p.type == "bool":
        return "true" if p.default else "false"
    if p.type in ("double_array", "string_array", "string"):
        return json.dumps(p.default)
    return repr(p.default)


def markdown_table() -> str:
    """The parameter table of docs/NODE.md (test_ros_core checks the file holds it as written here)."""
    import json

    lines = ["| parameter | type | default | range | description |", "| --- | --- | --- | --- | --- |"]
    for p in PARAMS:
        default = json.dumps(p.default) if p.type in ("string", "double_array", "string_array") else repr(p.default)
        rng = p.describe_range().replace("|", "\\|") or "-"
        note = " (read-only while running)" if p.read_only else ""
        lines.append(f"| `{p.name}` | {p.type} | `{default}` | {rng} | {p.description}{note} |")
    return "\n".join(lines) + "\n"


def yaml_text() -> str:
    """config/tracker.yaml: every parameter with its default, its description and range as comments
    (``/**`` matches the node under any name or namespace; tracker.* are nested under ``tracker``)."""
    lines = ["# Parameters of the had_ros tracker node, every one with its default. Written from",
             "# had_ros/ros/params.py (test_ros_params checks they agree); see docs/NODE.md.",
             "/**:", "  ros__parameters:"]
    nested = False
    for p in PARAMS:
        rng = p.describe_range()
        comment = p.description + (f" Range: {rng}." if rng else "") + (" Read-only while running." if p.read_only else "")
        if p.name.startswith(TRACKER_PREFIX):
            if not nested:
                lines.append("    tracker:")
                nested = True
            indent, key = "      ", p.name[len(TRACKER_PREFIX):]
        else:
            indent, key = "    ", p.name
        lines.append(f"{indent}# {comment}")
        if p.type in ("double_array", "string_array") and not p.default:
            # ROS parameter files cannot give an empty list a type: left unset, as it is by default
            example = "[10.0, 20.0, 40.0, 30.0]" if p.name == "init_box" else '["CPUExecutionProvider"]'
            lines.append(f"{indent}# {key}: {example}   (unset by default)")
        else:
            lines.append(f"{indent}{key}: {_yaml_value(p)}")
    return "\n".join(lines) + "\n"
