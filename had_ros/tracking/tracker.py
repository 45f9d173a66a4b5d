"""The tracking runtime: one Tracker class for every model and backend.

Per frame: crop the search region (``search_factor`` x the box side sqrt(w*h), centred on the last
box) from the RGB frame and from the window's events (voxel grid of the crop, the same geometry as
the training pairs, via had_ros.data.crops), run the backend, multiply the score map (sigmoid of the
logits) by a Hann window that favours small motion, take the arg-max cell, add its sub-cell offset
and read its size, map the box back to image pixels and clip it to the image.

Lost state (score below ``lost_threshold``):
  * the low-confidence prediction is not accepted: ``track`` keeps returning the last accepted box,
    with the current score;
  * the search region grows by ``lost_search_growth`` per lost frame, up to ``max_search_factor``
    times the box side, still centred on the last accepted box, so a target that moved away while
    occluded or blurred can fall back inside it;
  * the tracker recovers (``lost`` becomes False, the search factor returns to ``search_factor``)
    on the first frame whose score reaches ``recover_threshold`` (>= lost_threshold: hysteresis
    keeps it from flickering around one value); that frame's prediction is accepted.
The template (crop of the first frame) is never updated.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from had_ros.data.crops import crop_and_resize, crop_events_voxel, crop_transform, xywh_from_normalized
from had_ros.errors import TrackingError
from had_ros.events.container import Events
from had_ros.tracking.backends import Backend


@dataclass(frozen=True)
class TrackerConfig:
    """Runtime knobs of the Tracker. The geometry (crop sizes, crop factors, event bins and window)
    comes from the model config, which the checkpoint carries; ``template_factor`` and
    ``search_factor`` left at None take the model's (set them only to experiment)."""

    template_factor: float | None = None
    search_factor: float | None = None
    window_influence: float = 1.0     # 1: response = score * hann (OSTrack); 0: no window
    lost_threshold: float = 0.25      # score (sigmoid) below this -> lost
    recover_threshold: float = 0.35   # score at or above this leaves the lost state
    lost_search_growth: float = 1.25  # search factor multiplier per lost frame
    max_search_factor: float = 8.0    # cap of the enlarged search region (x box side)
    smoothing: float = 0.0            # EMA weight of the previous box (0 = off) on accepted frames
    min_box_size: float = 2.0         # pixels; boxes are clipped to the image and kept this large

    def __post_init__(self) -> None:
        checks = [
            ("template_factor", self.template_factor is None or self.template_factor > 0, "None or > 0"),
            ("search_factor", self.search_factor is None or self.search_factor > 0, "None or > 0"),
            ("window_influence", 0.0 <= self.window_influence <= 1.0, "in [0, 1]"),
            ("lost_threshold", 0.0 <= self.lost_threshold <= 1.0, "in [0, 1]"),
            ("recover_threshold", self.lost_threshold <= self.recover_threshold <= 1.0,
             "in [lost_threshold, 1]"),
            ("lost_search_growth", self.lost_search_growth >= 1.0, ">= 1"),
            ("max_search_factor", self.max_search_factor >= (self.search_factor or 0.0), ">= search_factor"),
            ("smoothing", 0.0 <= self.smoothing < 1.0, "in [0, 1)"),
            ("min_box_size", self.min_box_size > 0, "> 0"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise TrackingError(f"tracker config field {name!r} = {getattr(self, name)!r}, expected {expected}")

    def replace(self, **overrides: Any) -> "TrackerConfig":
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TrackingError(f"unknown tracker option(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    def for_model(self, model: Any) -> "TrackerConfig":
        """This config with the crop factors left at None taken from ``model`` (a ModelConfig)."""
        out = self.replace(
            template_factor=float(model.template_factor) if self.template_factor is None else self.template_factor,
            search_factor=float(model.search_factor) if self.search_factor is None else self.search_factor)
        if out.max_search_factor < out.search_factor:  # the model's factor exceeds the default cap
            out = out.replace(max_search_factor=out.search_factor)
        return out


def hann_window(size: int) -> np.ndarray:
    """(size, size) outer product of the Hann window sampled at cell centres, strictly positive
    at the borders (as OSTrack's centred hann2d) so the edge cells are damped, not forbidden."""
    k = np.arange(1, size + 1, dtype=np.float64)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * k / (size + 1))
    return np.outer(w, w)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def decode_box(score: np.ndarray, size_map: np.ndarray, offset_map: np.ndarray,
               window: np.ndarray | None = None) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Center-head maps of one sample -> (normalised cx,cy,w,h of the search crop, score, cell).

    ``score`` (G,G) probabilities, ``size_map`` and ``offset_map`` (2,G,G); the cell maximising
    ``score * window`` is chosen; the returned score is the unwindowed probability there.
    """
    g = score.shape[-1]
    response = score if window is None else score * window
    iy, ix = np.unravel_index(int(np.argmax(response)), response.shape)
    cx = (ix + float(offset_map[0, iy, ix])) / g
    cy = (iy + float(offset_map[1, iy, ix])) / g
    w, h = float(size_map[0, iy, ix]), float(size_map[1, iy, ix])
    return np.array([cx, cy, w, h]), float(score[iy, ix]), (int(iy), int(ix))


def clip_box(box: np.ndarray, width: int, height: int, min_size: float) -> np.ndarray:
    """Clip x,y,w,h to the image and keep it at least ``min_size`` (capped by the image) wide."""
    mw, mh = min(min_size, width), min(min_size, height)
    x1 = float(np.clip(box[0], 0.0, width - mw))
    y1 = float(np.clip(box[1], 0.0, height - mh))
    x2 = float(np.clip(box[0] + box[2], x1 + mw, width))
    y2 = float(np.clip(box[1] + box[3], y1 + mh, height))
    return np.array([x1, y1, x2 - x1, y2 - y1])


class Tracker:
    """Single-object tracker over RGB frames and/or event windows.

    ``initialize(frame, events, box)`` takes the first frame (HxWx3 uint8 RGB, or None for an
    event-only model), the events of its window and the target box x,y,w,h in pixels;
    ``track(frame, events)`` returns (box x,y,w,h float64 array, score in [0,1]).
    ``window=(t0, t1)`` (ns) gives the time span of the voxel grid (callers with frame times pass
    ``seq.event_span(i, model_config.event_window_ns)``, the span training used); by default it runs
    from the end of the previous window (or the first event) to just after the last event.
    Bad input raises TrackingError before any state changes, so the tracker stays usable.
    """

    def __init__(self, backend: Backend, config: TrackerConfig | None = None) -> None:
        self.backend = backend
        self.model_config = backend.config
        self.config = config or TrackerConfig()
        self._window = hann_window(self.model_config.search_grid)
        self._reset()

    @property
    def config(self) -> TrackerConfig:
        """The runtime config, its crop factors resolved from the model config (also when a new
        config is assigned, e.g. by the node's parameter callback)."""
        return self._config

    @config.setter
    def config(self, value: TrackerConfig) -> None:
        self._config = value.for_model(self.model_config)

    def _reset(self) -> None:
        self._box: np.ndarray | None = None
        self._template: dict[str, np.ndarray] = {}
        self._size: tuple[int, int] | None = None  # image (width, height)
        self._lost = False
        self._lost_frames = 0
        self._t_last: int | None = None
        self.frame_index = -1
        self.last_info: dict[str, Any] = {}

    # state --------------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return self._box is not None

    @property
    def lost(self) -> bool:
        """True while the score stays below the thresholds (see the module doc)."""
        return self._lost

    @property
    def box(self) -> np.ndarray | None:
        return None if self._box is None else self._box.copy()

    @property
    def search_factor(self) -> float:
        """The current search region factor (grows while lost)."""
        c = self.config
        return min(c.search_factor * c.lost_search_growth ** self._lost_frames, c.max_search_factor)

    def events_region(self, init_box: Any = None) -> tuple[int, int, int, int] | None:
        """The square (x0, y0, x1, y1) in sensor pixels, half-open, whose events the next call
        reads: ``initialize`` with ``init_box`` when it is given, else ``track`` (None before
        initialisation). Events outside it do not change the result, so a caller holding a whole
        window may pass only those inside (the node's core does: it copies and grids less)."""
        mc = self.model_config
        if init_box is not None:
            tf = crop_transform(init_box, self.config.template_factor, mc.template_size)
        elif self._box is not None:
            tf = crop_transform(self._box, self.search_factor, mc.search_size)
        else:
            return None
        return tf.x0, tf.y0, tf.x0 + tf.side, tf.y0 + tf.side

    # validation -------------------------------------------------------------------------------
    def _check_frame(self, frame: Any, size: tuple[int, int] | None) -> np.ndarray | None:
        if frame is None:
            if self.model_config.uses_rgb:
                raise TrackingError(f"model {self.model_config.name!r} uses RGB: frame must be an "
                                    "HxWx3 uint8 RGB image, got None")
            return None
        if not isinstance(frame, np.ndarray):
            raise TrackingError(f"frame must be a numpy array HxWx3 uint8, got {type(frame).__name__}")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise TrackingError(f"frame must be HxWx3 uint8 RGB, got shape {frame.shape} dtype {frame.dtype}")
        if size is not None and (frame.shape[1], frame.shape[0]) != size:
            raise TrackingError(f"frame is {frame.shape[1]}x{frame.shape[0]} but the tracker was "
                                f"initialised on {size[0]}x{size[1]} images")
        return frame

    def _check_events(self, events: Any, size: tuple[int, int] | None) -> Events | None:
        if events is None:
            if self.model_config.uses_events:
                raise TrackingError(f"model {self.model_config.name!r} uses events: events must be "
                                    "an had_ros.events.Events, got None")
            return None
        if not isinstance(events, Events):
            raise TrackingError(f"events must be an had_ros.events.Events, got {type(events).__name__}")
        if size is not None and (events.width, events.height) != size:
            raise TrackingError(f"events are from a {events.width}x{events.height} sensor but the "
                                f"tracker works on {size[0]}x{size[1]} images")
        return events

    @staticmethod
    def _check_box(box: Any, size: tuple[int, int]) -> np.ndarray:
        try:
            b = np.asarray(box, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise TrackingError(f"box must be 4 numbers x,y,w,h, got {box!r}") from exc
        if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
            raise TrackingError(f"box must be 4 finite numbers x,y,w,h with w,h > 0, got {b.tolist()}")
        w, h = size
        if b[0] >= w or b[1] >= h or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
            raise TrackingError(f"box {b.tolist()} lies outside the {w}x{h} image")
        return b

    @staticmethod
    def _window_of(events: Events | None, window: tuple[int, int] | None,
                   t_last: int | None) -> tuple[int, int]:
        if window is not None:
            t0, t1 = int(window[0]), int(window[1])
            if t1 <= t0:
                raise TrackingError(f"event window must have t1 > t0, got ({t0}, {t1})")
            return t0, t1
        if events is None or len(events) == 0:
            t = t_last if t_last is not None else 0
            return t, t + 1
        first, last = int(events.t.min()), int(events.t.max())  # min/max: robust to unsorted packets
        t0 = first if t_last is None else min(t_last, first)
        return t0, last + 1

    # crops ------------------------------------------------------------------------------------
    def _inputs(self, part: str, frame: np.ndarray | None, events: Events | None, box: np.ndarray,
                factor: float, t_span: tuple[int, int]) -> tuple[dict[str, np.ndarray], Any]:
        mc = self.model_config
        out_size = mc.template_size if part == "template" else mc.search_size
        inputs: dict[str, np.ndarray] = {}
        if mc.uses_rgb:
            crop, tf = crop_and_resize(frame, box, factor, out_size)
            inputs[f"{part}_rgb"] = (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        else:
            tf = crop_transform(box, factor, out_size)
        if mc.uses_events:
            vox = crop_events_voxel(events, tf, mc.event_bins, t_span[0], t_span[1])
            inputs[f"{part}_events"] = vox[None].astype(np.float32, copy=False)
        return inputs, tf

    # API ----------------------------------------------------------------------------------------
    def initialize(self, frame: np.ndarray | None, events: Events | None, box: Any,
                   window: tuple[int, int] | None = None) -> None:
        """Start tracking ``box`` (x,y,w,h pixels) from this frame and event window."""
        frame = self._check_frame(frame, None)
        events = self._check_events(events, None)
        if frame is not None:
            size = (frame.shape[1], frame.shape[0])
            if events is not None and (events.width, events.height) != size:
                raise TrackingError(f"events are from a {events.width}x{events.height} sensor but the "
                                    f"frame is {size[0]}x{size[1]}; they must share one pixel grid")
        elif events is not None:
            size = (events.width, events.height)
        else:
            raise TrackingError("initialize needs a frame or events")
        b = self._check_box(box, size)
        span = self._window_of(events, window, None) if events is not None else (0, 1)
        template, _ = self._inputs("template", frame, events, b, self.config.template_factor, span)
        self._reset()
        self._template = template
        self._size = size
        self._box = clip_box(b, size[0], size[1], self.config.min_box_size)
        self._t_last = span[1] if events is not None else None
        self.frame_index = 0

    def track(self, frame: np.ndarray | None, events: Events | None,
              window: tuple[int, int] | None = None) -> tuple[np.ndarray, float]:
        """Locate the target in this frame / event window; returns (box x,y,w,h, score)."""
        if self._box is None:
            raise TrackingError("track() called before initialize()")
        frame = self._check_frame(frame, self._size)
        events = self._check_events(events, self._size)
        span = self._window_of(events, window, self._t_last) if events is not None else (0, 1)
        c, mc = self.config, self.model_config
        factor = self.search_factor
        search, tf = self._inputs("search", frame, events, self._box, factor, span)
        out = self.backend.run({**self._template, **search})

        score = sigmoid(out["score_map"][0, 0].astype(np.float64))
        window_map = (1.0 - c.window_influence) + c.window_influence * self._window
        norm_box, value, cell = decode_box(score, out["size_map"][0], out["offset_map"][0], window_map)
        pred = tf.box_from_crop(xywh_from_normalized(norm_box, mc.search_size))

        # A non-finite box (a broken model or export) is never accepted; NaN scores fail the test too.
        accept = bool(np.all(np.isfinite(pred))) and \
            value >= (c.recover_threshold if self._lost else c.lost_threshold)
        if accept:
            if c.smoothing > 0:
                pred = self._smooth(self._box, pred, c.smoothing)
            self._box = clip_box(pred, self._size[0], self._size[1], c.min_box_size)
            self._lost, self._lost_frames = False, 0
        else:
            self._lost = True
            self._lost_frames += 1
        if events is not None:
            self._t_last = span[1]
        self.frame_index += 1
        self.last_info = {"score_map": score, "cell": cell, "prediction": pred, "accepted": accept,
                          "search_factor": factor, "search_transform": tf}
        return self._box.copy(), value

    @staticmethod
    def _smooth(prev: np.ndarray, new: np.ndarray, alpha: float) -> np.ndarray:
        """EMA in centre/size space so smoothing does not drag the box corner."""
        def to_c(b):
            return np.array([b[0] + b[2] / 2, b[1] + b[3] / 2, b[2], b[3]])
        m = alpha * to_c(prev) + (1 - alpha) * to_c(new)
        return np.array([m[0] - m[2] / 2, m[1] - m[3] / 2, m[2], m[3]])

