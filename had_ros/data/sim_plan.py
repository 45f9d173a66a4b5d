"""Random scene planning for the synthetic generator: from a seed and the attributes asked for, draw
the textures, target, distractors, occluder, trajectories, camera path and lighting of one sequence.

The plan only *aims* at attributes; the generator tags each sequence from what was rendered
(simulator.tag_attributes), so a tag is always true of the content.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from had_ros.data.sim_scene import Actor, Flicker, Scene, Timing, Trajectory, size_scale
from had_ros.data.sim_textures import (MASK_SHAPES, PROCEDURAL_NAMES, REFLECTANCE_MAX, REFLECTANCE_MIN, Sprite,
                                       available_photos, compress_contrast, luminance, mask, optical_blur, photo,
                                       texture)

ATTRIBUTES: tuple[str, ...] = (
    "fast_motion", "low_light", "hdr", "motion_blur", "occlusion", "distractors", "scale_variation",
    "camera_motion", "out_of_view",
)


@dataclass(frozen=True)
class SequencePlan:
    """A scene plus the camera policy and the attributes it was drawn for."""

    scene: Scene
    requested: frozenset[str]
    long_exposure_fraction: float | None = None  # slow shutter (motion blur); None = auto exposure
    noise_rate_factor: float = 1.0               # scales the event sensor's background activity
    description: dict = field(default_factory=dict)  # JSON-able summary for meta.json


def _fold(p: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect an unbounded coordinate into [lo, hi] (a bounce off the borders, speed preserved)."""
    span = hi - lo
    if span <= 0:
        return np.full_like(p, 0.5 * (lo + hi))
    u = np.mod(p - lo, 2.0 * span)
    return lo + np.where(u <= span, u, 2.0 * span - u)


def _speed_profile(rng: np.random.Generator, t_s: np.ndarray, v0: float, modulation: float) -> np.ndarray:
    f = rng.uniform(0.2, 1.5)
    return v0 * (1.0 + modulation * np.sin(2 * np.pi * f * t_s + rng.uniform(0, 2 * np.pi)))


def _wander(rng: np.random.Generator, t_s: np.ndarray, speed: np.ndarray, lo: np.ndarray, hi: np.ndarray,
            turn: float, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random walk: speed(t) along a heading that turns by a sum of two sinusoids (rad/s),
    bounced off the [lo, hi] box."""
    dt = float(t_s[1] - t_s[0]) if len(t_s) > 1 else 0.0
    omega = np.zeros_like(t_s)
    for f_lo, f_hi, share in ((0.1, 0.8, 1.0), (0.8, 2.5, 0.5)):
        omega += turn * share * rng.uniform(0.3, 1.0) * np.sin(
            2 * np.pi * rng.uniform(f_lo, f_hi) * t_s + rng.uniform(0, 2 * np.pi))
    heading = rng.uniform(0, 2 * np.pi) + np.concatenate([[0.0], np.cumsum(omega[:-1]) * dt])
    if start is None:
        start = rng.uniform(lo, hi)
    out = []
    for axis, trig in enumerate((np.cos, np.sin)):
        step = speed[:-1] * trig(heading[:-1]) * dt
        out.append(_fold(start[axis] + np.concatenate([[0.0], np.cumsum(step)]), lo[axis], hi[axis]))
    return out[0], out[1]


def _steer(rng: np.random.Generator, t_s: np.ndarray, speed: np.ndarray, lo: np.ndarray, hi: np.ndarray,
           turn: float, start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A moving object's path: speed(t) (accelerating and braking) along a heading that turns by a
    random smooth rate (curvature) and steers away from the [lo, hi] box's walls before reaching
    them, as a walker or a vehicle would (no mirror bounces); positions stay inside the box."""
    n = len(t_s)
    dt = float(t_s[1] - t_s[0]) if n > 1 else 0.0
    omega = np.zeros(n)
    for f_lo, f_hi, share in ((0.1, 0.8, 1.0), (0.8, 2.5, 0.5)):
        omega += turn * share * rng.uniform(0.3, 1.0) * np.sin(
            2 * np.pi * rng.uniform(f_lo, f_hi) * t_s + rng.uniform(0, 2 * np.pi))
    h = float(rng.uniform(0, 2 * np.pi))
    p = np.array(rng.uniform(lo, hi) if start is None else start, np.float64)
    lo_f, hi_f = [float(v) for v in lo], [float(v) for v in hi]
    margin = [max(0.25 * (b - a), 1e-3) for a, b in zip(lo_f, hi_f)]
    m_min = min(margin)
    x, y = float(p[0]), float(p[1])
    xs, ys = np.empty(n), np.empty(n)
    om, sp = omega.tolist(), speed.tolist()
    for k in range(n):
        xs[k], ys[k] = x, y
        push_x = max(0.0, lo_f[0] + margin[0] - x) / margin[0] - max(0.0, x - (hi_f[0] - margin[0])) / margin[0]
        push_y = max(0.0, lo_f[1] + margin[1] - y) / margin[1] - max(0.0, y - (hi_f[1] - margin[1])) / margin[1]
        steer = 0.0
        if push_x or push_y:
            steer = 4.0 * sp[k] / m_min * np.hypot(push_x, push_y) * np.sin(np.arctan2(push_y, push_x) - h)
        h += (om[k] + steer) * dt
        x = min(max(x + sp[k] * np.cos(h) * dt, lo_f[0]), hi_f[0])
        y = min(max(y + sp[k] * np.sin(h) * dt, lo_f[1]), hi_f[1])
    return xs, ys


def _excursion(rng: np.random.Generator, clk: _Clock, tx: np.ndarray, ty: np.ndarray, reach: float,
               desc: dict) -> tuple[np.ndarray, np.ndarray]:
    """The target leaves the view and comes back: a smooth push (accelerate out, stay out for some
    frames, return) toward the border nearest to it, far enough that it is wholly outside."""
    F, t_s, period = clk.timing.num_frames, clk.t_s, clk.period_s
    first = clk.first_s
    hold = int(np.clip(round(0.12 * F), 1, 15))
    i_exit = int(rng.integers(max(1, int(0.2 * F)), max(2, int(0.45 * F)) + 1))
    k_mid = min(len(tx) - 1, int(round((first + (i_exit + hold / 2) * period) / (clk.step * 1e-9))))
    w, h = clk.width, clk.height
    gaps = {"left": tx[k_mid], "right": w - 1 - tx[k_mid], "top": ty[k_mid], "bottom": h - 1 - ty[k_mid]}
    side = min(gaps, key=gaps.get)
    axis, sign = {"left": (0, -1.0), "right": (0, 1.0), "top": (1, -1.0), "bottom": (1, 1.0)}[side]
    pos = tx if axis == 0 else ty
    border = -reach * 1.3 if sign < 0 else (w if axis == 0 else h) - 1 + reach * 1.3
    # Frames to get out at a moderate peak speed (12 px/frame at 346x260), fewer when the sequence is short.
    v_peak = 12.0 * clk.s
    room = max(1, (F - 1 - i_exit - hold) // 2)
    move = int(np.clip(np.ceil(np.pi * (abs(border - float(np.median(pos))) + reach) / (2 * v_peak)), 1, room))
    t1 = first + i_exit * period
    t2, t3, t4 = t1 + move * period, t1 + (move + hold) * period, t1 + (2 * move + hold) * period
    ramp = np.clip((t_s - t1) / (t2 - t1), 0, 1)
    back = np.clip((t_s - t3) / (t4 - t3), 0, 1)
    bump = 0.5 * (1 - np.cos(np.pi * ramp)) - 0.5 * (1 - np.cos(np.pi * back))
    window = (t_s >= t1) & (t_s <= t4)
    need = float(np.max(sign * (border - pos[window]))) if window.any() else 0.0
    offset = sign * max(need, 0.0) * bump
    desc["out_of_view"] = {"side": side, "exit_frame": i_exit, "frames_moving": move, "frames_out": hold}
    if axis == 0:
        return tx + offset, ty
    return tx, ty + offset


def _object_texture(source: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Texture for an object patch: a window of a photo seen at moderate zoom (so the object shows a
    part of the photo, not a thumbnail of all of it), or a procedural texture."""
    if not source.startswith("photo:"):
        return texture(source, rng, height, width)
    img = photo(source.split(":", 1)[1])
    ph, pw = img.shape[:2]
    zoom = rng.uniform(1.5, 4.0)
    rh, rw = min(ph, int(height * zoom)), min(pw, int(width * zoom))
    y0, x0 = int(rng.integers(0, ph - rh + 1)), int(rng.integers(0, pw - rw + 1))
    return cv2.resize(img[y0:y0 + rh, x0:x0 + rw], (width, height), interpolation=cv2.INTER_AREA)


def _pick_source(rng: np.random.Generator, photo_share: float, exclude: str = "") -> str:
    photos = [f"photo:{n}" for n in available_photos() if f"photo:{n}" != exclude]
    if photos and rng.random() < photo_share:
        return photos[int(rng.integers(len(photos)))]
    return PROCEDURAL_NAMES[int(rng.integers(len(PROCEDURAL_NAMES)))]


def _look_alike_mask_params(rng: np.random.Generator, shape: str, params: np.ndarray) -> np.ndarray:
    p = params * rng.uniform(0.85, 1.15, len(params))
    if shape == "ellipse":
        p = np.clip(p, 0.6, 0.98)
    return p


@dataclass(frozen=True)
class _Clock:
    """The time grid a plan samples its paths on, and the sizes that scale its speeds."""

    width: int
    height: int
    timing: Timing

    @property
    def s(self) -> float:
        return size_scale(self.width, self.height)

    @property
    def period_s(self) -> float:
        return self.timing.frame_period_ns * 1e-9

    @property
    def step(self) -> int:
        return self.timing.render_step_ns

    @property
    def t_s(self) -> np.ndarray:
        return np.arange(self.timing.grid_size) * self.step * 1e-9

    @property
    def first_s(self) -> float:
        return float(self.timing.frame_times[0]) * 1e-9

    @property
    def span_s(self) -> float:
        """Time from the first to the last frame (at least one period)."""
        return max(float(self.timing.frame_times[-1] - self.timing.frame_times[0]) * 1e-9, self.period_s)

    def once_over_sequence(self, rng: np.random.Generator, cycles: tuple[float, float], phase: float) -> np.ndarray:
        """sin of a slow oscillation doing `cycles` periods between the first and the last frame."""
        return np.sin(2 * np.pi * rng.uniform(*cycles) * (self.t_s - self.first_s) / self.span_s + phase)


def _plan_camera(rng: np.random.Generator, clk: _Clock, moving: bool, desc: dict
                 ) -> tuple[Trajectory | None, int, int]:
    """Camera path over a canvas twice the view (pan, zoom, roll, hand shake), or a fixed camera
    on a view-sized canvas. Returns (path, canvas width, canvas height)."""
    width, height, t_s, s = clk.width, clk.height, clk.t_s, clk.s
    if not moving:
        desc["camera"] = "fixed"
        return None, width, height
    cw, ch = 2 * width, 2 * height
    zoom_amp = rng.uniform(0.03, 0.15)
    roll_amp = rng.uniform(0.0, 0.05)
    zmin = np.exp(-zoom_amp)
    half = np.array([(width / 2 + height / 2 * roll_amp) / zmin, (height / 2 + width / 2 * roll_amp) / zmin])
    # A pan (with a little hand shake), or a hand-held camera that mostly shakes.
    handheld = rng.random() < 0.3
    shake = (rng.uniform(1.5, 4.0) if handheld else rng.uniform(0.3, 1.5)) * s
    lo = half + shake + 2
    hi = np.array([cw, ch]) - 1 - half - shake - 2
    v0 = (rng.uniform(0.2, 1.0) if handheld else rng.uniform(2.5, 8.0)) * s / clk.period_s
    cx, cy = _wander(rng, t_s, _speed_profile(rng, t_s, v0, rng.uniform(0, 0.25)), lo, hi,
                     turn=rng.uniform(0.2, 1.5), start=np.array([cw / 2, ch / 2]))
    f_shake = rng.uniform(4, 9)
    cx = cx + shake * np.sin(2 * np.pi * f_shake * t_s + rng.uniform(0, 2 * np.pi))
    cy = cy + shake * np.sin(2 * np.pi * f_shake * 1.3 * t_s + rng.uniform(0, 2 * np.pi))
    zoom = np.exp(zoom_amp * clk.once_over_sequence(rng, (0.5, 1.5), rng.uniform(0, 2 * np.pi)))
    roll = roll_amp * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t_s + rng.uniform(0, 2 * np.pi))
    desc["camera"] = {"kind": "handheld" if handheld else "pan", "pan_px_per_frame": round(v0 * clk.period_s, 3), "zoom_amplitude": round(zoom_amp, 4),
                      "roll_amplitude_rad": round(roll_amp, 4), "shake_px": round(shake, 3)}
    return Trajectory(clk.step, cx, cy, zoom, roll), cw, ch


def _plan_lighting(rng: np.random.Generator, clk: _Clock, cw: int, ch: int, req: frozenset[str],
                   desc: dict) -> float | np.ndarray:
    """World lighting: uniform daylight or darkness, or for HDR sunlight on part of the world."""
    base_light = rng.uniform(0.0015, 0.006) if "low_light" in req else rng.uniform(0.6, 1.5)
    desc["illumination"] = round(float(base_light), 5)
    if "hdr" not in req:
        return float(base_light)
    # A soft-edged lit half-plane through the middle of the canvas (the view always contains the
    # canvas center, so the lit edge stays in sight), 300-1000x brighter than the shade.
    ratio = rng.uniform(300.0, 1000.0)
    ang = rng.uniform(0, 2 * np.pi)
    offset = rng.uniform(-0.15, 0.15) * min(clk.width, clk.height)
    soft = rng.uniform(2.0, 8.0) * clk.s
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    u = ((xx - cw / 2) * np.cos(ang) + (yy - ch / 2) * np.sin(ang) - offset) / soft
    if "low_light" in req:
        u -= 0.35 * min(clk.width, clk.height) / soft  # a smaller pool of light in a dark scene
    lit = 1.0 / (1.0 + np.exp(-np.clip(u, -50, 50)))
    desc["hdr_ratio"] = round(float(ratio), 1)
    return (base_light * (1.0 + (ratio - 1.0) * lit)).astype(np.float32)


@dataclass(frozen=True)
class _TargetLook:
    """What look-alikes copy from the target: its texture source and mask."""

    texture: np.ndarray  # larger than the target, so look-alikes can be other crops of it
    size: tuple[int, int]  # (w, h)
    shape: str
    mask_params: np.ndarray
    reach: float  # largest distance of a target pixel from its center, at its largest scale


def _plan_target(rng: np.random.Generator, clk: _Clock, source: str, req: frozenset[str], desc: dict,
                 bg_mean: float = 0.2) -> tuple[Actor, _TargetLook]:
    """The target: a masked photo or procedural patch wandering at the speed its attributes ask for
    (fast: 30-55 px/frame, for motion blur 12-15, otherwise 0.5-12, log-uniform), with spin and,
    for scale variation, a growth or shrink of its area by more than 2x over the sequence."""
    width, height = clk.width, clk.height
    scale_amp = rng.uniform(0.45, 0.6) if "scale_variation" in req else rng.uniform(0.0, 0.08)
    # Far-field to close: the target covers 0.3-5 % of the image (log-uniform).
    area_frac = float(np.exp(rng.uniform(np.log(TARGET_AREA[0]), np.log(TARGET_AREA[1]))))
    side_frac = np.sqrt(area_frac * width * height) / min(width, height)
    aspect = np.exp(rng.uniform(-0.45, 0.45))
    while True:  # shrink until the target fits with room to move
        side = side_frac * min(width, height)
        tw, th = max(6, int(round(side * np.sqrt(aspect)))), max(6, int(round(side / np.sqrt(aspect))))
        reach = 0.5 * np.hypot(tw, th) * np.exp(scale_amp) + 1.0
        lo = np.array([reach, reach])
        hi = np.array([width - 1 - reach, height - 1 - reach])
        if np.all(hi - lo >= 0.25 * np.array([width, height])) or side_frac < 0.05:
            break
        side_frac *= 0.85
    src = _object_texture(source, rng, int(np.ceil(th * 1.4)), int(np.ceil(tw * 1.4)))
    # Objects are seen at moderate contrast, brighter or darker than their surroundings by a factor
    # of about exp(+-0.6) (a log-normal draw), not as studio photographs pasted on a scene.
    src = compress_contrast(src, float(rng.uniform(0.45, 0.85)), bg_mean * float(np.exp(rng.normal(0.0, 0.6))))
    oy, ox = int(rng.integers(0, src.shape[0] - th + 1)), int(rng.integers(0, src.shape[1] - tw + 1))
    shape = MASK_SHAPES[int(rng.integers(len(MASK_SHAPES)))]
    alpha, mask_params = mask(rng, shape, th, tw)
    sprite = Sprite.from_rgb_alpha(src[oy:oy + th, ox:ox + tw], alpha)

    if "fast_motion" in req:
        v0_frame = rng.uniform(30.0, 55.0) * clk.s
    elif "motion_blur" in req:
        v0_frame = rng.uniform(12.0, 15.0) * clk.s  # smears in a slow shutter, stays below fast_motion
    else:
        v0_frame = float(np.exp(rng.uniform(np.log(0.5), np.log(12.0)))) * clk.s
    t_s = clk.t_s
    speed = _speed_profile(rng, t_s, v0_frame / clk.period_s, rng.uniform(0.0, 0.6))
    tx, ty = _steer(rng, t_s, speed, lo, hi, turn=rng.uniform(0.0, 2.5))
    if "out_of_view" in req:
        tx, ty = _excursion(rng, clk, tx, ty, reach, desc)
    # With scale variation the oscillation starts at an extreme (phase +-pi/2) and runs at least
    # half a cycle, so the area ratio reaches exp(4 * 0.45) / ... > 2 between first and last frame.
    phase = rng.choice([-1.0, 1.0]) * np.pi / 2 if "scale_variation" in req else rng.uniform(0, 2 * np.pi)
    log_scale = scale_amp * clk.once_over_sequence(rng, (0.5, 1.5), phase)
    spin = rng.uniform(-1.5, 1.5) if rng.random() < 0.4 else rng.uniform(-0.3, 0.3)
    angle = rng.uniform(-0.3, 0.3) + spin * t_s
    desc["target"] = {"source": source, "mask": shape, "size_px": [tw, th], "area_fraction": round(tw * th / (width * height), 5),
                      "speed_px_per_frame": round(v0_frame, 3), "scale_amplitude": round(scale_amp, 4),
                      "spin_rad_per_s": round(spin, 4)}
    actor = Actor(sprite, Trajectory(clk.step, tx, ty, np.exp(log_scale), angle))
    return actor, _TargetLook(src, (tw, th), shape, mask_params, reach)


def _plan_distractors(rng: np.random.Generator, clk: _Clock, look: _TargetLook, target_source: str,
                      bg_mean: float) -> tuple[list[Actor], list[Actor], list[str]]:
    """1-3 distractors, each a look-alike (another crop of the target's texture with jittered color,
    size and mask) or a different object (its own texture, shape and size), wandering at its own
    pace, behind or (40 %) in front of the target. Returns (behind, in front, kinds)."""
    src, (tw, th), shape = look.texture, look.size, look.shape
    behind, front, kinds = [], [], []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            f = rng.uniform(0.85, 1.15)
            dw, dh = min(src.shape[1], max(6, int(round(tw * f)))), min(src.shape[0], max(6, int(round(th * f))))
            dy, dx = int(rng.integers(0, src.shape[0] - dh + 1)), int(rng.integers(0, src.shape[1] - dw + 1))
            rgb = np.clip(src[dy:dy + dh, dx:dx + dw] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
                          * np.float32(rng.uniform(0.85, 1.15)), REFLECTANCE_MIN, REFLECTANCE_MAX)
            alpha, _ = mask(rng, shape, dh, dw, _look_alike_mask_params(rng, shape, look.mask_params))
            kinds.append("look_alike")
        else:
            f = float(np.exp(rng.uniform(-0.7, 0.7)))
            dw = int(np.clip(round(tw * f * np.exp(rng.uniform(-0.4, 0.4))), 6, 0.6 * clk.width))
            dh = int(np.clip(round(th * f * np.exp(rng.uniform(-0.4, 0.4))), 6, 0.6 * clk.height))
            other = _pick_source(rng, 0.7, exclude=target_source)
            rgb = compress_contrast(_object_texture(other, rng, dh, dw), float(rng.uniform(0.45, 0.85)),
                                    bg_mean * float(np.exp(rng.normal(0.0, 0.6))))
            alpha, _ = mask(rng, MASK_SHAPES[int(rng.integers(len(MASK_SHAPES)))], dh, dw)
            kinds.append("other:" + other)
        reach = 0.5 * np.hypot(dw, dh) * 1.1 + 1
        lo = np.array([reach, reach])
        hi = np.array([max(clk.width - 1 - reach, reach + 1), max(clk.height - 1 - reach, reach + 1)])
        t_s = clk.t_s
        speed = _speed_profile(rng, t_s, rng.uniform(1.0, 10.0) * clk.s / clk.period_s, 0.4)
        xs, ys = _steer(rng, t_s, speed, lo, hi, turn=rng.uniform(0.0, 2.0))
        scale = np.exp(0.08 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t_s + rng.uniform(0, 2 * np.pi)))
        angle = rng.uniform(-0.3, 0.3) + rng.uniform(-0.5, 0.5) * t_s
        actor = Actor(Sprite.from_rgb_alpha(rgb, alpha), Trajectory(clk.step, xs, ys, scale, angle))
        (front if rng.random() < 0.4 else behind).append(actor)
    return behind, front, kinds


def _plan_occluder(rng: np.random.Generator, clk: _Clock, target: Actor, reach: float, exclude: str,
                   desc: dict) -> Actor:
    """A long opaque bar perpendicular to the target's motion, centered on the target at one frame
    time (that frame is fully hidden) and thick enough to hide it for a couple of frames. A slow
    target gets a moving bar, so the pass always takes a few frames. The middle frame is drawn so
    that frame 0 (where trackers are initialised) is clear of the bar where the sequence allows."""
    timing, step, period_s = clk.timing, clk.step, clk.period_s
    extent = 2.0 * reach
    v_min = max(extent / 4.0, 1.0 * clk.s)
    n_frames = timing.num_frames
    lo = min(max(2, int(0.3 * n_frames)), n_frames - 1)
    hi = max(int(0.7 * n_frames), lo + 1)
    candidates = rng.permutation(np.arange(lo, hi))
    candidates = np.concatenate([candidates, rng.permutation(np.arange(hi, n_frames))])
    p0 = target.path.center(float(timing.frame_times[0]))
    for i_c in candidates:
        t_c = float(timing.frame_times[i_c])
        p_c = target.path.center(t_c)
        vel = (target.path.center(t_c + step) - target.path.center(t_c - step)) / (2 * step * 1e-9)  # px/s
        v_t = float(np.hypot(*vel)) * period_s  # px/frame
        heading = np.arctan2(vel[1], vel[0]) if v_t > 1e-6 else rng.uniform(0, 2 * np.pi)
        normal = np.array([np.cos(heading), np.sin(heading)])
        bar_speed = min(0.0, v_t - v_min)  # px/frame along the normal (against the target's motion)
        v_rel = v_t - bar_speed
        thickness = min(extent + v_rel * rng.uniform(1.6, 3.0), 0.8 * max(clk.width, clk.height))
        thickness = int(np.ceil(max(thickness, extent + 2)))
        bar_at_0 = p_c + normal * bar_speed * (float(timing.frame_times[0]) - t_c) * 1e-9 / period_s
        if abs(float((p0 - bar_at_0) @ normal)) >= (thickness + extent) / 2:
            break
    length = int(np.ceil(1.5 * np.hypot(clk.width, clk.height) + thickness))
    rgb = compress_contrast(texture(_pick_source(rng, 0.5, exclude=exclude), rng, thickness + 2, length + 2), 0.6)
    alpha = np.zeros((thickness + 2, length + 2), np.float32)
    alpha[1:-1, 1:-1] = 1.0  # opaque; the zero rim gives a one-pixel anti-aliased edge
    frames_from_c = (clk.t_s - t_c * 1e-9) / period_s
    n = len(frames_from_c)
    path = Trajectory(step, p_c[0] + normal[0] * bar_speed * frames_from_c,
                      p_c[1] + normal[1] * bar_speed * frames_from_c, np.ones(n),
                      np.full(n, heading + np.pi / 2))  # the bar's long side runs across the motion
    desc["occluder"] = {"frame": int(i_c), "thickness_px": thickness, "speed_px_per_frame": round(-bar_speed, 3)}
    return Actor(Sprite.from_rgb_alpha(rgb, alpha), path)


FLICKER_SHARE = {"low_light": 0.4, "default": 0.15}
TARGET_AREA = (0.003, 0.05)  # share of the image the target covers (far field .. close)  # share of sequences under mains-powered light


def _plan_flicker(rng: np.random.Generator, req: frozenset[str], desc: dict) -> Flicker | None:
    """Mains flicker (artificial light: more often in the dark): 100 or 120 Hz, a depth of 1-8 %
    (log-uniform; a strongly flickering lamp would flood the event sensor) and a pulse shape that
    sets its harmonics."""
    share = FLICKER_SHARE["low_light" if "low_light" in req else "default"]
    draws = rng.random(5)
    if draws[0] >= share:
        desc["flicker"] = None
        return None
    fl = Flicker(hz=100.0 if draws[1] < 0.5 else 120.0, depth=float(np.exp(np.log(0.01) + draws[2] * np.log(8.0))),
                 shape=float(1.0 + 2.0 * draws[3]), phase=float(draws[4] * np.pi))
    desc["flicker"] = {"hz": fl.hz, "depth": round(fl.depth, 4), "shape": round(fl.shape, 3)}
    return fl


def plan_sequence(rng: np.random.Generator, requested: frozenset[str] | set[str], width: int, height: int,
                  timing: Timing) -> SequencePlan:
    """Draw one sequence's scene aimed at the requested attributes (the others stay off)."""
    req = frozenset(requested)
    unknown = req - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}: expected some of {ATTRIBUTES}")
    clk = _Clock(width, height, timing)
    desc: dict = {}
    bg_source = _pick_source(rng, 0.65)
    desc["background"] = bg_source
    camera, cw, ch = _plan_camera(rng, clk, "camera_motion" in req, desc)
    # Real scenes are flatter than photographs: the background's log contrast is scaled down.
    kappa = float(rng.uniform(0.35, 0.8))
    background = compress_contrast(texture(bg_source, rng, ch, cw), kappa)
    bg_mean = float(np.exp(np.mean(np.log(np.maximum(luminance(background), 1e-4)))))
    illumination = _plan_lighting(rng, clk, cw, ch, req, desc)
    tgt_source = _pick_source(rng, 0.8, exclude=bg_source)
    target, look = _plan_target(rng, clk, tgt_source, req, desc, bg_mean)
    distractors, front, kinds = (_plan_distractors(rng, clk, look, tgt_source, bg_mean) if "distractors" in req
                                 else ([], [], []))
    desc["distractors"] = len(distractors) + len(front)
    desc["distractors_in_front"] = len(front)
    desc["distractor_kinds"] = kinds
    occluder = _plan_occluder(rng, clk, target, look.reach, tgt_source, desc) if "occlusion" in req else None
    # Optics: everything is seen through a PSF, so no edge is a one-pixel step.
    psf = max(0.5, float(rng.uniform(0.5, 1.1)) * clk.s)  # px; at least half a pixel at any size
    desc["background_contrast"] = round(kappa, 3)
    desc["psf_sigma_px"] = round(psf, 3)
    background = optical_blur(background, psf)

    def soft(a: Actor | None) -> Actor | None:
        return None if a is None else Actor(a.sprite.blurred(psf), a.path)

    flicker = _plan_flicker(rng, req, desc)
    # HDR optics: veiling glare (flare, bloom) spreads part of the bright light over the shade.
    bloom = float(rng.uniform(0.002, 0.01)) if "hdr" in req else 0.0
    desc["bloom"] = round(bloom, 5)
    scene = Scene(width, height, background, illumination, soft(target), camera,
                  tuple(soft(d) for d in distractors), soft(occluder), flicker=flicker,
                  front=tuple(soft(d) for d in front), bloom=bloom)
    return SequencePlan(
        scene=scene,
        requested=req,
        long_exposure_fraction=float(rng.uniform(0.75, 0.95)) if "motion_blur" in req else None,
        noise_rate_factor=4.0 if "low_light" in req else 1.0,  # dark pixels fire more background activity
        description=desc,
    )


def attribute_mix(rng: np.random.Generator, num_sequences: int, forced: frozenset[str] | set[str] = frozenset(),
                  probability: float = 0.3) -> list[frozenset[str]]:
    """Attributes to aim at for each sequence: the forced ones everywhere, every other one with
    `probability`; with probability > 0, each attribute not yet drawn anywhere is then given to the
    sequence with the fewest, so a run of several sequences covers all of them."""
    forced = frozenset(forced)
    unknown = forced - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown attributes {sorted(unknown)}: expected some of {ATTRIBUTES}")
    mix = [set(forced) | {a for a in ATTRIBUTES if a not in forced and rng.random() < probability}
           for _ in range(num_sequences)]
    if probability > 0 and num_sequences:
        for a in ATTRIBUTES:
            if not any(a in m for m in mix):
                counts = np.array([len(m) for m in mix])
                choices = np.flatnonzero(counts == counts.min())
                mix[int(choices[int(rng.integers(len(choices)))])].add(a)
    return [frozenset(m) for m in mix]
