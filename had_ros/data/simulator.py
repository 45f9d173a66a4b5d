"""Synthetic RGB + event sequences: render a planned scene on a fine time grid, feed the renders to an
event pixel model, integrate RGB frames over their exposure windows, tag each sequence with the
attributes its content really has, and write it in the had_sim/1 layout (see CONTRACT.md).

    had simulate --out DIR --sequences N --frames F --seed S      (had_ros/data/cli.py)

Per sequence folder: frames/NNNNNN.png, events.raw (Prophesee EVT3), frame_times.txt (ns),
groundtruth.txt (x,y,w,h), absent.txt (1 = present), meta.json, preview.png, and with --bag a
rosbag2 MCAP folder <name>.mcap (bag.py). The same seed gives byte-identical files.

Modules: sim_textures (photos, procedural textures, sprites), sim_scene (scene, trajectories,
renderer), sim_sensors (event pixels, frame camera), sim_plan (random scenes aimed at attributes).
"""
from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from had_ros.data.sim_plan import ATTRIBUTES, SequencePlan, attribute_mix, plan_sequence
from had_ros.data.sim_scene import Renderer, Timing, Trajectory, size_scale
from had_ros.data.sim_sensors import (DEFAULT_CAMERA, DEFAULT_SENSOR, EventSensor, EventSensorParams, Exposure,
                                      FrameCamera, RgbCameraParams, arbitrate, auto_exposure, frame_camera_profile,
                                      sensor_profile)
from had_ros.data.sim_textures import luminance
from had_ros.errors import DatasetError
from had_ros.events.container import Events

FORMAT = "had_sim/1"
FIRST_FRAME_VISIBLE = 0.75  # share of the target frame 0 must show (trackers start from its box)


@dataclass(frozen=True)
class SimConfig:
    """Generation settings shared by all sequences of a run."""

    width: int = 346
    height: int = 260
    fps: float = 30.0
    num_frames: int = 100
    render_rate: float = 1000.0
    events: EventSensorParams = field(default_factory=lambda: sensor_profile(DEFAULT_SENSOR))
    camera: RgbCameraParams = field(default_factory=lambda: frame_camera_profile(DEFAULT_CAMERA))
    # Event renders: render_rate is the mean rate; each render period is split so nothing moves more
    # than max_step_px between two renders, and every render time is drawn at random inside its slot
    # (so neither the render rate nor its harmonics show in the event-rate spectrum).
    max_step_px: float = 2.0
    max_substeps: int = 8
    # Renders averaged into one exposure are spaced so nothing moves more than this many pixels
    # between two of them (the blur is then as smooth as at the full render rate, for less work).
    blur_sample_px: float = 1.0

    def __post_init__(self) -> None:
        checks = {
            "width": 8 <= self.width <= 2048, "height": 8 <= self.height <= 2048,
            "fps": self.fps > 0, "num_frames": self.num_frames >= 1,
            "render_rate": self.render_rate >= self.fps,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise DatasetError(
                f"bad simulator settings {bad}: need 8 <= width, height <= 2048 (EVT3 limit), fps > 0, "
                f"frames >= 1 and render rate >= fps; got {self.width}x{self.height}, fps {self.fps}, "
                f"frames {self.num_frames}, render rate {self.render_rate}"
            )

    @property
    def timing(self) -> Timing:
        return Timing(self.fps, self.num_frames, self.render_rate)


@dataclass(frozen=True)
class AttributeThresholds:
    """When a sequence gets each tag. Pixel values are at 346x260 and scaled by the image diagonal."""

    fast_motion_px_per_frame: float = 20.0   # max target center displacement between frames (OTB's tm)
    motion_blur_px: float = 6.0              # max target motion inside one exposure window
    low_light_radiance: float = 0.006        # metered (shade) radiance; normal daylight white = 1
    hdr_overexposure: float = 8.0            # pixel radiance >= this x the RGB clipping level ...
    hdr_pixel_fraction: float = 0.02         # ... on at least this share of a frame's pixels ...
    hdr_frame_fraction: float = 0.2          # ... in at least this share of the frames
    occlusion_hidden_fraction: float = 0.3   # something in front hides at least this much of the target
    out_of_view_fraction: float = 0.5        # some frame shows at most this much of the target in the view
    absent_visible_fraction: float = 0.05    # a frame is absent when less than this is visible
    scale_area_ratio: float = 2.0            # max / min target area over the sequence
    camera_motion_px_per_frame: float = 1.5  # max background (view corner) displacement between frames
    distractor_frame_fraction: float = 0.5   # a look-alike is in view in at least this share of frames

    def scaled(self, width: int, height: int) -> dict:
        s = size_scale(width, height)
        out = asdict(self)
        for key in ("fast_motion_px_per_frame", "motion_blur_px", "camera_motion_px_per_frame"):
            out[key] = round(out[key] * s, 4)
        return out


@dataclass
class SimulationResult:
    """One rendered sequence (frames are None when they went to a frame sink)."""

    frames: list[np.ndarray] | None
    frame_times: np.ndarray
    events: Events
    boxes: np.ndarray      # (F, 4) float64 x, y, w, h; absent frames hold the last present box
    absent: np.ndarray     # (F,) bool, True where the target is not visible
    visible: np.ndarray    # (F,) visible fraction of the target
    exposure: Exposure
    stats: dict
    preview_index: int
    preview_frame: np.ndarray


def _path_motion(path: Trajectory, reach: float, t_a: float, t_b: float) -> float:
    """Largest pixel travel of a sprite's outline between t_a and t_b (arc length of its center,
    plus what scaling and rotation move its farthest point), from the sampled path."""
    k0 = max(0, int(np.floor(t_a / path.step_ns)))
    k1 = min(len(path.cx) - 1, int(np.ceil(t_b / path.step_ns)))
    if k1 <= k0:
        return 0.0
    sl = slice(k0, k1 + 1)
    center = float(np.sum(np.hypot(np.diff(path.cx[sl]), np.diff(path.cy[sl]))))
    scale = path.scale[sl]
    turn = float(np.sum(np.abs(np.diff(scale))) + scale.mean() * np.sum(np.abs(np.diff(path.angle[sl]))))
    return center + reach * turn


def _camera_motion(cam: Trajectory | None, width: int, height: int, t_a: float, t_b: float) -> float:
    if cam is None:
        return 0.0
    k0 = max(0, int(np.floor(t_a / cam.step_ns)))
    k1 = min(len(cam.cx) - 1, int(np.ceil(t_b / cam.step_ns)))
    if k1 <= k0:
        return 0.0
    sl = slice(k0, k1 + 1)
    z = cam.scale[sl]
    center = float(np.sum(np.hypot(np.diff(cam.cx[sl]), np.diff(cam.cy[sl])))) * float(z.mean())
    half = 0.5 * np.hypot(width, height)
    return center + half * float(np.sum(np.abs(np.diff(np.log(z)))) + np.sum(np.abs(np.diff(cam.angle[sl]))))


def _corner_shift(scene, t0: float, t1: float) -> float:
    """Largest displacement of a background point at a view corner between two times."""
    if scene.camera is None:
        return 0.0
    w, h = scene.width, scene.height
    corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], np.float64).T
    M0 = np.vstack([scene.camera_matrix(t0), [0, 0, 1]])
    M1 = np.vstack([scene.camera_matrix(t1), [0, 0, 1]])
    moved = M1 @ np.linalg.solve(M0, corners)
    return float(np.max(np.hypot(*(moved[:2] - corners[:2]))))


def _grid_motion(scene, timing: Timing) -> np.ndarray:
    """Largest pixel travel of anything in view during each render period [k step, (k+1) step]
    (sprite outlines and, with a moving camera, the view corners), from the sampled paths."""
    n = timing.grid_size - 1
    out = np.zeros(n)
    paths = [(a.path, a.sprite.half_diagonal) for a in scene.layers if not a.path.is_static]
    for path, reach in paths:
        m = min(n, len(path.cx) - 1)
        move = (np.hypot(np.diff(path.cx), np.diff(path.cy)) + reach * (
            np.abs(np.diff(path.scale)) + path.scale[1:] * np.abs(np.diff(path.angle))))[:m]
        out[:m] = np.maximum(out[:m], move)
    cam = scene.camera
    if cam is not None and not cam.is_static:
        m = min(n, len(cam.cx) - 1)
        half = 0.5 * np.hypot(scene.width, scene.height)
        move = (np.hypot(np.diff(cam.cx), np.diff(cam.cy)) * cam.scale[1:]
                + half * (np.abs(np.diff(np.log(cam.scale))) + np.abs(np.diff(cam.angle))))[:m]
        out[:m] = np.maximum(out[:m], move)
    return out


def render_times(motion: np.ndarray, step: int, end_ns: int, max_step_px: float, max_substeps: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Event render times (int ns, increasing, in (0, end_ns]): each render period k is cut into
    n_k = ceil(motion_k / max_step_px) slots (1..max_substeps) and one time is drawn uniformly inside
    each slot (stratified jitter: the mean rate stays, the periodicity goes); end_ns is the last."""
    n_periods = int(np.ceil(end_ns / step))
    m = motion[:n_periods] if len(motion) >= n_periods else np.pad(motion, (0, n_periods - len(motion)))
    n_k = np.clip(np.ceil(m / max_step_px), 1, max_substeps).astype(np.int64)
    k = np.repeat(np.arange(n_periods), n_k)
    j = np.arange(len(k)) - np.repeat(np.cumsum(n_k) - n_k, n_k)
    t = (k + (j + rng.random(len(k))) / n_k[k]) * step
    t = np.unique(np.round(t).astype(np.int64))
    t = t[(t > 0) & (t < end_ns)]
    return np.append(t, np.int64(end_ns))


def _sorted_chunk(idx: list, t: list, p: list, width: int, height: int) -> Events:
    """Events of one time chunk, times floored to whole µs (what EVT3 stores, so files round-trip
    exactly), sorted by time then row, polarity and column (a sensor's readout order, which also
    lets the EVT3 encoder pack runs of a row into vector words)."""
    if not idx:
        return Events.empty(width, height)
    idx_a = np.concatenate(idx)
    t_us = np.floor(np.concatenate(t) / 1000.0).astype(np.int64)
    p_a = np.concatenate(p).astype(np.int64)
    y, x = np.divmod(idx_a, width)
    # One int64 key (µs, row, polarity, column) sorts faster than a four-key lexsort.
    order = np.argsort(((t_us * height + y) * 2 + p_a) * width + x, kind="stable")
    return Events(x[order].astype(np.uint16), y[order].astype(np.uint16), t_us[order] * 1000,
                  p_a[order].astype(np.uint8), width, height)


def sensor_params_for(params: EventSensorParams, plan: SequencePlan) -> EventSensorParams:
    """The event sensor of one sequence. A profile whose noise does not depend on light (ideal)
    takes the plan's darkness factor instead, as the generator did before profiles."""
    if params.noise_exponent == 0:
        return replace(params, noise_rate_hz=params.noise_rate_hz * plan.noise_rate_factor)
    return params


def _readout_limit(events: Events, refractory: np.ndarray, max_rate_hz: float) -> Events:
    """The sensor's readout (arbiter / bus) limit on a time-sorted stream (sim_sensors.arbitrate);
    times stay whole µs and the readout order is restored."""
    t = events.t.astype(np.float64)
    idx = events.y.astype(np.int64) * events.width + events.x
    keep = arbitrate(t, idx, refractory, max_rate_hz)
    if keep.all() and np.array_equal(t, events.t):
        return events
    t_us = np.floor(t[keep] / 1000.0).astype(np.int64)
    x, y, p = events.x[keep].astype(np.int64), events.y[keep].astype(np.int64), events.p[keep].astype(np.int64)
    W, H = events.width, events.height
    order = np.argsort(((t_us * H + y) * 2 + p) * W + x, kind="stable")
    return Events(x[order].astype(np.uint16), y[order].astype(np.uint16), t_us[order] * 1000,
                  p[order].astype(np.uint8), W, H)


def _mean_radiance(renderer: Renderer, times: list[float]) -> np.ndarray:
    """Mean RGB radiance over render times (an exposure): motion blur by integration."""
    first = renderer.radiance(times[0], True)
    acc = first * np.float32(len(times))
    moving = renderer.moving_region(times) if len(times) > 1 else None
    if moving is None:  # a moving camera: everything changes
        for t in times[1:]:
            acc += renderer.radiance(t, True)
    elif moving[2] > moving[0] and moving[3] > moving[1]:
        # Fixed camera: only the rectangle the sprites sweep changes during the exposure.
        x0, y0, x1, y1 = moving
        part = first[y0:y1, x0:x1].copy()
        for t in times[1:]:
            part += renderer.render(t, True, region=moving)
        acc[y0:y1, x0:x1] = part
    return acc / np.float32(len(times))


def simulate(plan: SequencePlan, config: SimConfig, seeds: np.random.SeedSequence,
             frame_sink: Callable[[int, np.ndarray], None] | None = None,
             progress: Callable[[int], None] | None = None,
             thresholds: AttributeThresholds = AttributeThresholds()) -> SimulationResult:
    """Render a planned sequence: events on the render grid, RGB frames over their exposures.

    seeds gives the sensor streams (pixel mismatch, background noise, RGB noise). frame_sink, when
    given, receives each frame instead of the result keeping it; progress is called once per frame."""
    # The warps here are small: OpenCV's thread pool costs more than it gains (and sequences are
    # what runs in parallel), so use one thread while rendering and restore the caller's setting.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        return _simulate(plan, config, seeds, frame_sink, progress, thresholds)
    finally:
        cv2.setNumThreads(threads)


def _simulate(plan: SequencePlan, config: SimConfig, seeds: np.random.SeedSequence,
              frame_sink: Callable[[int, np.ndarray], None] | None,
              progress: Callable[[int], None] | None,
              thresholds: AttributeThresholds) -> SimulationResult:
    sc = plan.scene
    if (sc.width, sc.height) != (config.width, config.height):
        raise DatasetError(f"scene is {sc.width}x{sc.height} but the config asks for {config.width}x{config.height}")
    rng_pixels, rng_noise, rng_rgb, rng_grid = (np.random.default_rng(s) for s in seeds.spawn(4))
    timing = config.timing
    W, H = sc.width, sc.height
    renderer = Renderer(sc)
    ev_params = sensor_params_for(config.events, plan)
    sensor = EventSensor(ev_params, W, H, rng_pixels)
    cam = config.camera
    frame_camera = FrameCamera(cam, W, H, rng_rgb)
    ft = timing.frame_times
    period = timing.frame_period_ns
    step = timing.render_step_ns
    n_frames = timing.num_frames

    # Auto exposure meters the shade: HDR scenes keep their shadows and clip their sunlit part.
    meter = float(np.median(renderer.reflectance(float(ft[0]), False))) * sc.base_illumination
    exposure = auto_exposure(meter, period, cam, plan.long_exposure_fraction)
    exp_ns = exposure.exposure_ns
    clip_radiance = cam.full_well_e / (exposure.gain * cam.electrons_per_radiance_s * exposure.transmission
                                       * exp_ns * 1e-9)
    max_samples = max(1, int(round(exp_ns * 1e-9 * config.render_rate)))
    target_reach = sc.target.sprite.half_diagonal
    movers = [(a.path, a.sprite.half_diagonal) for a in sc.layers if not a.path.is_static]

    first = renderer.radiance(0.0, False)
    if sc.flicker is None:
        sensor.reset(first, 0)
    else:
        # Under flickering light the pixels are in steady state when recording starts: run them
        # through a few flicker periods of the first view before t = 0 and drop those events.
        pre = int(round(3e9 / sc.flicker.hz))
        sensor.reset(first * np.float32(sc.flicker.factor(-pre)), -pre)
        for t_k in range(-pre + step, 1, step):
            sensor.step(first * np.float32(sc.flicker.factor(float(t_k))), t_k)
        sensor.background(-pre, 0, rng_noise)
    parts: list[Events] = []
    frames: list[np.ndarray] | None = None if frame_sink is not None else []
    boxes = np.zeros((n_frames, 4))
    visible = np.zeros(n_frames)
    in_view = np.zeros(n_frames)
    unoccluded = np.zeros(n_frames)
    areas = np.zeros(n_frames)
    blur = np.zeros(n_frames)
    overexposed = np.zeros(n_frames)
    medians = np.zeros(n_frames)
    samples = np.zeros(n_frames, np.int64)
    preview_index = n_frames // 2
    preview_frame = None
    times = render_times(_grid_motion(sc, timing), step, timing.end_ns, config.max_step_px,
                         config.max_substeps, rng_grid)
    k = 0
    t_prev = 0
    t_lo = 0
    for i in range(n_frames + 1):
        t_hi = int(ft[i]) if i < n_frames else timing.end_ns
        idx_l, t_l, p_l = [], [], []
        while k < len(times) and times[k] <= t_hi:
            t_k = int(times[k])
            if sc.flicker is None:
                region = renderer.changed_region(float(t_prev), float(t_k))
                empty = region is not None and (region[2] <= region[0] or region[3] <= region[1])
                image = None if empty else renderer.render(float(t_k), False, region=region)
            else:  # flickering light: every pixel changes
                region = None
                image = renderer.render(float(t_k), False) * np.float32(sc.flicker.factor(float(t_k)))
            a, b, c = sensor.step(image, t_k, region)
            if len(a):
                idx_l.append(a), t_l.append(b), p_l.append(c)
            t_prev = t_k
            k += 1
        # Chunks end at a render time, so this chunk's background events and the next chunk's
        # crossings (which start at that time) cannot interleave.
        a, b, c = sensor.background(t_lo, t_prev, rng_noise)
        idx_l.append(a), t_l.append(b), p_l.append(c)
        parts.append(_sorted_chunk(idx_l, t_l, p_l, W, H))
        t_lo = t_prev
        if i == n_frames:
            break

        # RGB frame i: average renders across the exposure window centered on the frame time.
        t_a, t_b = float(ft[i]) - exp_ns / 2, float(ft[i]) + exp_ns / 2
        motion = max([_path_motion(p, r, t_a, t_b) for p, r in movers]
                     + [_camera_motion(sc.camera, W, H, t_a, t_b)])
        n_s = int(np.clip(np.ceil(motion / config.blur_sample_px), 1, max_samples))
        acc = _mean_radiance(renderer, [t_a + (j + 0.5) * exp_ns / n_s for j in range(n_s)])
        if sc.flicker is not None:
            acc *= np.float32(sc.flicker.mean_factor(t_a, t_b))
        rgb = frame_camera.expose(acc, exposure, rng_rgb)
        lum = luminance(acc)
        overexposed[i] = float(np.mean(lum >= thresholds.hdr_overexposure * clip_radiance))
        medians[i] = float(np.median(lum))
        samples[i] = n_s
        fp = renderer.footprint(float(ft[i]))
        boxes[i] = fp.box
        visible[i], areas[i] = fp.visible_fraction, fp.area
        in_view[i], unoccluded[i] = fp.in_view_fraction, fp.unoccluded_fraction
        blur[i] = _path_motion(sc.target.path, target_reach, t_a, t_b) if not sc.target.path.is_static else 0.0
        if i == preview_index:
            preview_frame = rgb
        if frame_sink is not None:
            frame_sink(i, rgb)
        else:
            frames.append(rgb)
        if progress is not None:
            progress(1)

    events = Events.concatenate(parts, W, H)
    if ev_params.max_event_rate_hz > 0 and len(events):
        events = _readout_limit(events, sensor.refractory, ev_params.max_event_rate_hz)
    absent = visible < thresholds.absent_visible_fraction
    last = np.zeros(4)
    for i in range(n_frames):  # contract: absent frames repeat the last present box (or zeros)
        if absent[i]:
            boxes[i] = last
        else:
            last = boxes[i].copy()

    centers = np.array([sc.target.path.center(float(t)) for t in ft])
    speeds = np.hypot(*np.diff(centers, axis=0).T) if n_frames > 1 else np.zeros(1)
    cam_shift = [_corner_shift(sc, float(ft[i]), float(ft[i + 1])) for i in range(n_frames - 1)] or [0.0]
    d_in_view = []
    for d in sc.all_distractors:
        c = np.array([d.path.center(float(t)) for t in ft])
        d_in_view.append(float(np.mean((c[:, 0] >= 0) & (c[:, 0] <= W - 1) & (c[:, 1] >= 0) & (c[:, 1] <= H - 1))))
    stats = {
        "num_events": len(events),
        "event_rate_mev_per_s": len(events) / (timing.end_ns * 1e-9) / 1e6,
        "max_target_speed_px_per_frame": float(speeds.max()),
        "mean_target_speed_px_per_frame": float(speeds.mean()),
        "max_target_blur_px": float(blur.max()),
        "metered_radiance": meter,
        "median_radiance": float(np.median(medians)),
        "hdr_frame_fraction": float(np.mean(overexposed >= thresholds.hdr_pixel_fraction)),
        "max_overexposed_pixel_fraction": float(overexposed.max()),
        "min_visible_fraction": float(unoccluded.min()),  # hidden by something in front
        "min_in_view_fraction": float(in_view.min()),
        "absent_frames": int(absent.sum()),
        "target_area_ratio": float(areas.max() / max(areas.min(), 1e-9)),
        "max_camera_shift_px_per_frame": float(max(cam_shift)),
        "num_distractors": len(sc.all_distractors),
        "num_distractors_in_front": len(sc.front),
        "distractor_in_view_fraction": max(d_in_view, default=0.0),
        "exposure_samples_max": int(samples.max()),
    }
    return SimulationResult(frames, ft, events, boxes, absent, visible, exposure, stats,
                            preview_index, preview_frame)


def tag_attributes(stats: dict, width: int, height: int,
                   thresholds: AttributeThresholds = AttributeThresholds()) -> frozenset[str]:
    """The attributes a rendered sequence has, from its measured stats (see AttributeThresholds)."""
    th = thresholds.scaled(width, height)
    tags = {
        "fast_motion": stats["max_target_speed_px_per_frame"] >= th["fast_motion_px_per_frame"],
        "motion_blur": stats["max_target_blur_px"] >= th["motion_blur_px"],
        "low_light": stats["metered_radiance"] < th["low_light_radiance"],
        "hdr": stats["hdr_frame_fraction"] >= th["hdr_frame_fraction"],
        "occlusion": stats["min_visible_fraction"] <= 1.0 - th["occlusion_hidden_fraction"],
        "out_of_view": stats.get("min_in_view_fraction", 1.0) <= th["out_of_view_fraction"],
        "distractors": stats["num_distractors"] > 0
        and stats["distractor_in_view_fraction"] >= th["distractor_frame_fraction"],
        "scale_variation": stats["target_area_ratio"] >= th["scale_area_ratio"],
        "camera_motion": stats["max_camera_shift_px_per_frame"] >= th["camera_motion_px_per_frame"],
    }
    return frozenset(a for a in ATTRIBUTES if tags[a])


# -- one sequence, end to end ----------------------------------------------------------------------
def sequence_seeds(seed: int, index: int, attempt: int = 0) -> tuple[np.random.Generator, np.random.SeedSequence]:
    """The planning generator and the sensor seed sequence of one sequence (independent of how many
    sequences a run makes and of the worker that renders it)."""
    plan_ss, sensor_ss = np.random.SeedSequence([int(seed), int(index), int(attempt)]).spawn(2)
    return np.random.default_rng(plan_ss), sensor_ss


@dataclass
class GeneratedSequence:
    name: str
    result: SimulationResult
    plan: SequencePlan
    attributes: frozenset[str]
    meta: dict


def generate_sequence(name: str, index: int, seed: int, requested: frozenset[str], config: SimConfig,
                      frame_sink: Callable[[int, np.ndarray], None] | None = None,
                      progress: Callable[[int], None] | None = None, attempts: int = 3,
                      thresholds: AttributeThresholds = AttributeThresholds()) -> GeneratedSequence:
    """Plan, render and tag one sequence. A draw whose content misses a requested attribute, or
    whose first frame (where trackers start) does not show most of the target, is redrawn, up to
    `attempts` times (rare: e.g. a target that turned away before reaching full speed); a redraw
    sends its frames to frame_sink again (same indices, so files are simply replaced)."""
    for attempt in range(attempts):
        rng, sensor_ss = sequence_seeds(seed, index, attempt)
        plan = plan_sequence(rng, requested, config.width, config.height, config.timing)
        result = simulate(plan, config, sensor_ss, frame_sink=frame_sink, progress=progress,
                          thresholds=thresholds)
        tags = tag_attributes(result.stats, config.width, config.height, thresholds)
        first_visible = result.visible[0] >= FIRST_FRAME_VISIBLE
        if requested <= tags and first_visible:
            break
    missing = sorted(requested - tags)
    if missing:
        warnings.warn(f"sequence {name}: requested attributes {missing} did not come out after {attempts} draws")
    if not first_visible:
        warnings.warn(f"sequence {name}: only {result.visible[0]:.0%} of the target shows in frame 0 "
                      f"after {attempts} draws (a longer sequence leaves room for the occluder)")
    meta = _meta(name, index, seed, attempt, config, plan, result, tags, thresholds)
    return GeneratedSequence(name, result, plan, tags, meta)


def _meta(name: str, index: int, seed: int, attempt: int, config: SimConfig, plan: SequencePlan,
          result: SimulationResult, tags: frozenset[str], thresholds: AttributeThresholds) -> dict:
    from had_ros import __version__

    def clean(v):
        if isinstance(v, float):
            return round(v, 6) if np.isfinite(v) else None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    ev = asdict(sensor_params_for(config.events, plan))
    return clean({
        "format": FORMAT,
        "name": name,
        "width": config.width,
        "height": config.height,
        "fps": config.fps,
        "num_frames": config.num_frames,
        "seed": int(seed),
        "sequence_index": int(index),
        "attempt": int(attempt),
        "attributes": sorted(tags),
        "requested_attributes": sorted(plan.requested),
        "render_rate": config.render_rate,
        "frame_period_ns": config.timing.frame_period_ns,
        "clock": "sensor time in ns from the start of the simulation; frame times are mid-exposure",
        "event_file": "events.raw",
        "event_sensor": ev,
        "rgb_camera": {**asdict(config.camera), "exposure_ns": result.exposure.exposure_ns,
                       "gain": result.exposure.gain, "transmission": result.exposure.transmission},
        "scene": plan.description,
        "stats": result.stats,
        "attribute_thresholds": thresholds.scaled(config.width, config.height),
        "generator": {"module": __name__, "version": __version__, "blur_sample_px": config.blur_sample_px,
                      "max_step_px": config.max_step_px, "max_substeps": config.max_substeps},
    })


# -- files -----------------------------------------------------------------------------------------
def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DatasetError(f"{path}: could not encode PNG")
    path.write_bytes(buf.tobytes())


def prepare_folder(folder: Path, overwrite: bool) -> None:
    """Create a sequence folder; an existing non-empty one is replaced only with overwrite and only
    when it is a had_sim sequence (so a wrong --out never deletes unrelated data)."""
    if folder.exists() and any(folder.iterdir()):
        meta = folder / "meta.json"
        ours = False
        if meta.is_file():
            try:
                ours = json.loads(meta.read_text()).get("format") == FORMAT
            except (ValueError, OSError):
                ours = False
        if not overwrite or not ours:
            raise DatasetError(
                f"{folder} exists and is not empty; pass --overwrite to replace it"
                + ("" if ours else " (only had_sim sequence folders are replaced)")
            )
        shutil.rmtree(folder)
    (folder / "frames").mkdir(parents=True, exist_ok=True)


def write_sequence(folder: Path, seq: GeneratedSequence, frames_written: bool = False) -> None:
    """Write a generated sequence's files (frames too unless a frame sink already wrote them)."""
    from had_ros.events.io import write_raw

    res = seq.result
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "frames").mkdir(exist_ok=True)
    if not frames_written:
        for i, frame in enumerate(res.frames):
            write_png(folder / "frames" / f"{i:06d}.png", frame)
    write_raw(folder / "events.raw", res.events)
    (folder / "frame_times.txt").write_text("".join(f"{int(t)}\n" for t in res.frame_times))
    (folder / "groundtruth.txt").write_text("".join(
        f"{int(b[0])},{int(b[1])},{int(b[2])},{int(b[3])}\n" for b in res.boxes))
    (folder / "absent.txt").write_text("".join(f"{0 if a else 1}\n" for a in res.absent))
    (folder / "meta.json").write_text(json.dumps(seq.meta, indent=2, sort_keys=True) + "\n")
    write_png(folder / "preview.png", preview_image(seq))


def event_frame(events: Events, width: int, height: int) -> np.ndarray:
    """RGB picture of events: white background, ON red, OFF blue (last event of a pixel wins)."""
    img = np.full((height, width, 3), 255, np.uint8)
    colors = np.array([[40, 60, 230], [230, 40, 40]], np.uint8)  # OFF blue, ON red
    img[events.y, events.x] = colors[events.p.astype(np.intp)]
    return img


def preview_image(seq: GeneratedSequence) -> np.ndarray:
    """The preview frame beside the events of its frame interval, ground-truth box on both, with
    the name and attributes written above."""
    res = seq.result
    i = res.preview_index
    ft = res.frame_times
    t0 = int(ft[i - 1]) if i > 0 else int(ft[0]) - (int(ft[1] - ft[0]) if len(ft) > 1 else int(ft[0]))
    ev = res.events.time_window(t0, int(ft[i]))
    h, w = res.preview_frame.shape[:2]
    panels = [res.preview_frame.copy(), event_frame(ev, w, h)]
    zoom = max(1, int(np.ceil(346 / w)))
    x, y, bw, bh = res.boxes[i]
    out = []
    for p in panels:
        p = cv2.resize(p, (w * zoom, h * zoom), interpolation=cv2.INTER_NEAREST)
        color = (0, 200, 0) if not res.absent[i] else (160, 160, 160)
        cv2.rectangle(p, (int(x * zoom), int(y * zoom)), (int((x + bw) * zoom) - 1, int((y + bh) * zoom) - 1),
                      color, max(1, zoom))
        out.append(p)
    gap = np.full((h * zoom, 4, 3), 255, np.uint8)
    body = np.concatenate([out[0], gap, out[1]], axis=1)
    header = np.full((34, body.shape[1], 3), 255, np.uint8)
    label = f"{seq.name} frame {i}{' (absent)' if res.absent[i] else ''}: {len(ev)} events"
    cv2.putText(header, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(header, ", ".join(sorted(seq.attributes)) or "(no attributes)", (4, 29),
                cv2.FONT_HERSHEY_SIMPLEX, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    return np.concatenate([header, body], axis=0)


# -- a whole run -----------------------------------------------------------------------------------
def plan_attributes(num_sequences: int, seed: int, forced: frozenset[str] = frozenset(),
                    probability: float = 0.3) -> list[frozenset[str]]:
    """The attribute mix of a run (seeded by the run's seed)."""
    return attribute_mix(np.random.default_rng([int(seed), 0x6D6978]), num_sequences, forced, probability)


def sequence_name(index: int) -> str:
    return f"sim_{index:04d}"


def generate_to_folder(out: Path, index: int, seed: int, requested: frozenset[str], config: SimConfig,
                       bag: bool = False, overwrite: bool = False,
                       progress: Callable[[int], None] | None = None) -> dict:
    """Generate sequence `index` of a run into out/<name>/ (and its bag with bag=True); returns a
    summary (name, attributes, frames, events)."""
    name = sequence_name(index)
    folder = Path(out) / name
    prepare_folder(folder, overwrite)

    def sink(i: int, frame: np.ndarray) -> None:
        write_png(folder / "frames" / f"{i:06d}.png", frame)

    seq = generate_sequence(name, index, seed, requested, config, frame_sink=sink, progress=progress)
    write_sequence(folder, seq, frames_written=True)
    if bag:
        from had_ros.data.bag import write_sequence_bag

        write_sequence_bag(folder, folder / f"{name}.mcap", seed=seed)
    return {"name": name, "attributes": sorted(seq.attributes), "frames": config.num_frames,
            "events": len(seq.result.events)}
