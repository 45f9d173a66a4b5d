"""Scene model and renderer of the synthetic generator.

A scene is a large background canvas seen through a moving camera, world lighting on that canvas
(uniform, or a bright lit region for HDR scenes, with veiling glare; optionally flickering at mains
frequency), distractors behind and in front of the target, the target and an optional occluder, each a premultiplied sprite moving along a trajectory. Rendering gives *radiance* in linear
units (1.0 = a white surface in normal daylight), grayscale for the event pixel or RGB for the frame
camera, composited with small cv2.warpAffine calls restricted to each sprite's region.

Image coordinates follow OpenCV: pixel (x, y) has its center at (x, y).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from had_ros.data.sim_textures import Sprite, luminance

# Spatial quantities (speeds, thresholds) are stated at the DAVIS346 resolution and scaled to the
# generated size by the ratio of image diagonals, so a 96x72 test scene behaves like a small 346x260 one.
REFERENCE_SIZE = (346, 260)


def size_scale(width: int, height: int) -> float:
    """Ratio of this image's diagonal to the DAVIS346 diagonal."""
    return float(np.hypot(width, height) / np.hypot(*REFERENCE_SIZE))


@dataclass(frozen=True)
class Timing:
    """Clocks of one sequence (sensor time, ns, starting at 0).

    Frame i is exposed around ``frame_time(i) = (i + 1) * frame_period_ns`` (mid-exposure), so one
    frame period of events precedes the first frame. The renderer runs on the grid
    ``k * render_step_ns`` up to ``end_ns`` (half a period after the last frame)."""

    fps: float
    num_frames: int
    render_rate: float

    @property
    def frame_period_ns(self) -> int:
        return int(round(1e9 / self.fps))

    @property
    def render_step_ns(self) -> int:
        return int(round(1e9 / self.render_rate))

    @property
    def frame_times(self) -> np.ndarray:
        return (np.arange(self.num_frames, dtype=np.int64) + 1) * self.frame_period_ns

    @property
    def end_ns(self) -> int:
        return int(self.num_frames * self.frame_period_ns + self.frame_period_ns // 2)

    @property
    def grid_size(self) -> int:
        """Number of render-grid samples (covers end_ns, plus one for interpolation)."""
        return int(np.ceil(self.end_ns / self.render_step_ns)) + 2


@dataclass(frozen=True)
class Trajectory:
    """A pose (center x, center y, scale, angle in radians) sampled every ``step_ns`` from t = 0;
    linear interpolation in between, held constant past the ends."""

    step_ns: int
    cx: np.ndarray
    cy: np.ndarray
    scale: np.ndarray
    angle: np.ndarray

    @classmethod
    def constant(cls, step_ns: int, n: int, cx: float, cy: float, scale: float = 1.0,
                 angle: float = 0.0) -> "Trajectory":
        return cls(step_ns, np.full(n, cx), np.full(n, cy), np.full(n, scale), np.full(n, angle))

    def _index(self, t_ns: float) -> tuple[int, float]:
        f = min(max(t_ns / self.step_ns, 0.0), len(self.cx) - 1.0)
        i = min(int(f), len(self.cx) - 2) if len(self.cx) > 1 else 0
        return i, f - i

    def pose(self, t_ns: float) -> tuple[float, float, float, float]:
        if len(self.cx) == 1:
            return float(self.cx[0]), float(self.cy[0]), float(self.scale[0]), float(self.angle[0])
        i, w = self._index(t_ns)
        out = []
        for arr in (self.cx, self.cy, self.scale, self.angle):
            out.append(float(arr[i]) if w == 0.0 else float(arr[i] * (1.0 - w) + arr[i + 1] * w))
        return out[0], out[1], out[2], out[3]

    def center(self, t_ns: float) -> np.ndarray:
        cx, cy, _, _ = self.pose(t_ns)
        return np.array([cx, cy])

    @cached_property
    def is_static(self) -> bool:
        return all(bool(np.all(a == a[0])) for a in (self.cx, self.cy, self.scale, self.angle))


@dataclass(frozen=True)
class Actor:
    """A sprite moving along a trajectory (pose = where the sprite's center goes in the view)."""

    sprite: Sprite
    path: Trajectory

    def matrix(self, t_ns: float) -> np.ndarray:
        """2x3 affine from sprite pixels to view pixels at time t."""
        cx, cy, s, a = self.path.pose(t_ns)
        return sprite_matrix(self.sprite, cx, cy, s, a)


def sprite_matrix(sprite: Sprite, cx: float, cy: float, scale: float, angle: float) -> np.ndarray:
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    qx, qy = (sprite.width - 1) / 2.0, (sprite.height - 1) / 2.0
    return np.array([[c, -s, cx - c * qx + s * qy], [s, c, cy - s * qx - c * qy]], np.float64)


@dataclass(frozen=True)
class Scene:
    """Everything the renderer needs for one sequence.

    background_rgb: (Ch, Cw, 3) linear reflectance of the world canvas. camera: pose of the view in
    the canvas (cx, cy = canvas point at the view center, scale = zoom, angle = roll); None means a
    fixed camera and a canvas exactly the view's size. illumination: a scalar (uniform light) or a
    (Ch, Cw) map of world lighting. distractors are drawn behind the target, front and the occluder
    in front of it.
    """

    width: int
    height: int
    background_rgb: np.ndarray
    illumination: float | np.ndarray
    target: Actor
    camera: Trajectory | None = None
    distractors: tuple[Actor, ...] = ()
    occluder: Actor | None = None
    background_gray: np.ndarray = field(default=None, repr=False)  # derived when not given
    flicker: Flicker | None = None  # mains flicker of the light (None: steady light)
    front: tuple[Actor, ...] = ()   # distractors that pass in front of the target
    bloom: float = 0.0              # veiling glare: share of the light spread by a wide PSF (HDR optics)

    def __post_init__(self) -> None:
        if self.background_gray is None:
            object.__setattr__(self, "background_gray", luminance(self.background_rgb))
        if not np.isscalar(self.illumination):
            object.__setattr__(self, "illumination", np.ascontiguousarray(self.illumination, np.float32))
        if self.camera is None and self.background_rgb.shape[:2] != (self.height, self.width):
            raise ValueError(
                f"a fixed-camera scene needs a {self.width}x{self.height} background, got "
                f"{self.background_rgb.shape[1]}x{self.background_rgb.shape[0]}"
            )

    @property
    def layers(self) -> tuple[Actor, ...]:
        """Everything drawn over the background, back to front."""
        return (*self.distractors, self.target, *self.front, *((self.occluder,) if self.occluder else ()))

    @property
    def all_distractors(self) -> tuple[Actor, ...]:
        return (*self.distractors, *self.front)

    @property
    def base_illumination(self) -> float:
        """The light level of the scene's shade (the whole scene when lighting is uniform)."""
        illum = self.illumination
        return float(illum) if np.isscalar(illum) else float(np.min(illum))

    def camera_matrix(self, t_ns: float) -> np.ndarray:
        """2x3 affine from canvas pixels to view pixels."""
        if self.camera is None:
            return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        cx, cy, z, a = self.camera.pose(t_ns)
        c, s = np.cos(a) * z, np.sin(a) * z
        vx, vy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        return np.array([[c, -s, vx - c * cx + s * cy], [s, c, vy - s * cx - c * cy]], np.float64)


@dataclass(frozen=True)
class Flicker:
    """Mains-powered light: the scene's light is multiplied by g(t), a rectified sine at `hz` (twice
    the mains frequency: 100 or 120 Hz) raised to `shape` (1: near-sine; larger: sharper pulses, more
    harmonics), swinging by +-depth around 1 on average."""

    hz: float
    depth: float
    shape: float = 2.0
    phase: float = 0.0

    def _wave(self, t_ns: np.ndarray | float) -> np.ndarray:
        return np.abs(np.sin(np.pi * self.hz * np.asarray(t_ns, np.float64) * 1e-9 + self.phase)) ** self.shape

    @cached_property
    def _norm(self) -> tuple[float, float]:
        w = self._wave(np.linspace(0.0, 1e9 / self.hz, 2001)[:-1])
        return float(w.mean()), float(w.max() - w.min())

    def factor(self, t_ns: np.ndarray | float) -> np.ndarray:
        mean, span = self._norm
        return 1.0 + 2.0 * self.depth * (self._wave(t_ns) - mean) / span

    def mean_factor(self, t_a: float, t_b: float) -> float:
        """Mean of g over [t_a, t_b] (what an exposure integrates)."""
        n = max(16, int(np.ceil((t_b - t_a) * 1e-9 * self.hz * 64)))
        return float(np.mean(self.factor(t_a + (np.arange(n) + 0.5) * (t_b - t_a) / n)))


@dataclass(frozen=True)
class Footprint:
    """Where the target is at one instant: its box (x, y, w, h, integer pixels, from alpha >= 0.5 of
    the unoccluded target), alpha area (px, all of it, in view or not), the share of it inside the
    view, and the share of that not hidden by the occluder or distractors in front."""

    box: tuple[int, int, int, int]
    area: float
    in_view_fraction: float
    unoccluded_fraction: float = 1.0

    @property
    def visible_fraction(self) -> float:
        return self.in_view_fraction * self.unoccluded_fraction


class Renderer:
    """Renders a Scene at any time; caches what a fixed camera makes constant.

    Lighting is baked into the background canvas once (radiance = reflectance x light), and sprites
    are lit by the light under their region, so a moving camera costs one background warp per render.
    Color renders use 4-channel buffers (RGB + a pad) because OpenCV warps 4-channel float images as
    fast as 1-channel ones and 3-channel ones much slower."""

    def __init__(self, scene: Scene):
        self.scene = scene
        self._static_camera = scene.camera is None or scene.camera.is_static
        illum = scene.illumination
        self._light_scalar = float(illum) if np.isscalar(illum) else None
        light = illum if self._light_scalar is None else np.float32(illum)
        pad = np.zeros(scene.background_gray.shape + (1,), np.float32)
        rgb4 = np.concatenate([scene.background_rgb.astype(np.float32), pad], axis=2)
        lit_rgb4 = rgb4 * (light[..., None] if self._light_scalar is None else light)
        lit_rgb4[..., 3] = 0.0
        # (color, lit) -> canvas
        lit_gray = np.ascontiguousarray(scene.background_gray * light, np.float32)
        if scene.bloom > 0:
            # Veiling glare around bright regions: a share of the light spread by a wide PSF tail.
            sigma = 0.06 * float(np.hypot(scene.width, scene.height))
            lit_gray = lit_gray + np.float32(scene.bloom) * cv2.GaussianBlur(lit_gray, (0, 0), sigma)
            lit_rgb4 = lit_rgb4 + np.float32(scene.bloom) * cv2.GaussianBlur(lit_rgb4, (0, 0), sigma)
        self._canvas = {(False, True): lit_gray,
                        (True, True): np.ascontiguousarray(lit_rgb4),
                        (False, False): scene.background_gray, (True, False): rgb4}
        self._bg_cache: dict = {}
        self._light_view: np.ndarray | None = None  # the light map in the view, fixed camera only
        self._layer_cache: dict = {}
        self._placement_memo: dict = {}

    # -- layers ----------------------------------------------------------------------------------
    def _warp_canvas(self, canvas: np.ndarray, M: np.ndarray) -> np.ndarray:
        sc = self.scene
        if sc.camera is None:
            return canvas.copy()
        return cv2.warpAffine(canvas, M, (sc.width, sc.height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)

    def _background(self, M: np.ndarray, color: bool, lit: bool) -> np.ndarray:
        canvas = self._canvas[(color, lit)]
        if not self._static_camera:
            return self._warp_canvas(canvas, M)
        if (color, lit) not in self._bg_cache:
            self._bg_cache[(color, lit)] = self._warp_canvas(canvas, M)
        return self._bg_cache[(color, lit)].copy()

    def _light(self, M: np.ndarray, roi: tuple[int, int, int, int]) -> float | np.ndarray:
        """The light falling on a view region: a scalar, or the light map warped into the region."""
        if self._light_scalar is not None:
            return self._light_scalar
        x0, y0, x1, y1 = roi
        if self._static_camera:
            if self._light_view is None:
                self._light_view = self._warp_canvas(self.scene.illumination, M)
            return self._light_view[y0:y1, x0:x1]
        M2 = M.copy()
        M2[0, 2] -= x0
        M2[1, 2] -= y0
        return cv2.warpAffine(self.scene.illumination, M2, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)

    @staticmethod
    def _roi(A: np.ndarray, sprite: Sprite, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Integer view region covering the warped sprite, or None when it is off the view.
        (Plain floats: this runs for every sprite at every render, where numpy's overhead shows.)"""
        (a, b, c), (d, e, f) = A.tolist()
        w, h = sprite.width, sprite.height
        xs = [a * u + b * v + c for u, v in ((-1, -1), (w, -1), (-1, h), (w, h))]
        ys = [d * u + e * v + f for u, v in ((-1, -1), (w, -1), (-1, h), (w, h))]
        x0, y0 = max(0, math.floor(min(xs))), max(0, math.floor(min(ys)))
        x1, y1 = min(width, math.ceil(max(xs)) + 1), min(height, math.ceil(max(ys)) + 1)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def _warp_sprite(self, src: np.ndarray, A: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = roi
        A2 = A.copy()
        A2[0, 2] -= x0
        A2[1, 2] -= y0
        # BORDER_TRANSPARENT into zeros: pixels that map outside the sprite stay 0, as with a constant
        # border, but skip OpenCV's slow border path (several times faster for thin, tilted sprites).
        # Sprites have a zero rim, so the one-pixel band it leaves untouched was 0 anyway.
        dst = np.zeros((y1 - y0, x1 - x0) + src.shape[2:], np.float32)
        return cv2.warpAffine(src, A2, (x1 - x0, y1 - y0), dst=dst, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_TRANSPARENT)

    def _placement(self, actor: Actor, t_ns: float) -> tuple[np.ndarray, tuple[int, int, int, int] | None]:
        """Sprite matrix and view region at t, memoised: each render time is asked about twice
        (changed_region, then drawing) and consecutive steps share one time."""
        key = (id(actor), t_ns)
        hit = self._placement_memo.get(key)
        if hit is None:
            if len(self._placement_memo) > 64:
                self._placement_memo.clear()
            A = actor.matrix(t_ns)
            hit = (A, self._roi(A, actor.sprite, self.scene.width, self.scene.height))
            self._placement_memo[key] = hit
        return hit

    def _sprite_layer(self, actor: Actor, t_ns: float, color: bool
                      ) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """The warped premultiplied sprite and its view region (cached for actors that never move)."""
        key = (id(actor), color)
        if key in self._layer_cache:
            return self._layer_cache[key]
        A, roi = self._placement(actor, t_ns)
        layer = None
        if roi is not None:
            layer = (self._warp_sprite(actor.sprite.rgba if color else actor.sprite.ga, A, roi), roi)
        if actor.path.is_static:
            self._layer_cache[key] = layer
        return layer

    def _draw(self, img: np.ndarray, actor: Actor, t_ns: float, color: bool, M: np.ndarray, lit: bool,
              area: tuple[int, int, int, int]) -> None:
        """Composite one sprite over img, which holds the view rectangle `area` (x0, y0, x1, y1)."""
        layer = self._sprite_layer(actor, t_ns, color)
        if layer is None:
            return
        out, (ax0, ay0, ax1, ay1) = layer
        x0, y0 = max(ax0, area[0]), max(ay0, area[1])
        x1, y1 = min(ax1, area[2]), min(ay1, area[3])
        if x1 <= x0 or y1 <= y0:
            return
        view = img[y0 - area[1]:y1 - area[1], x0 - area[0]:x1 - area[0]]
        out = out[y0 - ay0:y1 - ay0, x0 - ax0:x1 - ax0]
        light = self._light(M, (x0, y0, x1, y1)) if lit else 1.0
        if color:
            view *= (1.0 - out[..., 3])[..., None]
            view[..., :3] += out[..., :3] * (light if np.isscalar(light) else light[..., None])
        else:
            view *= 1.0 - out[..., 1]
            view += out[..., 0] * light

    # -- public ----------------------------------------------------------------------------------
    def changed_region(self, t0_ns: float, t1_ns: float) -> tuple[int, int, int, int] | None:
        """A view rectangle (x0, y0, x1, y1) outside which renders at t0 and t1 are identical, or
        None when anything may have changed (a moving camera). The rectangle may be empty."""
        sc = self.scene
        if not self._static_camera:
            return None
        x0, y0, x1, y1 = sc.width, sc.height, 0, 0
        for actor in sc.layers:
            if actor.path.is_static:
                continue
            for t in (t0_ns, t1_ns):
                roi = self._placement(actor, t)[1]
                if roi is not None:
                    x0, y0 = min(x0, roi[0]), min(y0, roi[1])
                    x1, y1 = max(x1, roi[2]), max(y1, roi[3])
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else (0, 0, 0, 0)

    def moving_region(self, times: list[float]) -> tuple[int, int, int, int] | None:
        """A view rectangle outside which renders at all these times are identical (possibly empty),
        or None with a moving camera."""
        region = None
        for t0, t1 in zip(times[:-1], times[1:]):
            r = self.changed_region(t0, t1)
            if r is None:
                return None
            if r[2] > r[0] and r[3] > r[1]:
                region = r if region is None else (min(region[0], r[0]), min(region[1], r[1]),
                                                   max(region[2], r[2]), max(region[3], r[3]))
        return region if region is not None else (0, 0, 0, 0)

    def render(self, t_ns: float, color: bool, lit: bool = True,
               region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """The view at time t, float32: radiance (lit, linear units) or reflectance (lit=False);
        (H, W) gray or (H, W, 3) RGB (a view into a 4-channel buffer). With a fixed camera, `region`
        (x0, y0, x1, y1) renders just that rectangle (what changed_region says can change)."""
        sc = self.scene
        M = sc.camera_matrix(t_ns)
        if region is None or not self._static_camera:
            area = (0, 0, sc.width, sc.height)
            img = self._background(M, color, lit)
        else:
            area = region
            if (color, lit) not in self._bg_cache:
                self._background(M, color, lit)
            img = self._bg_cache[(color, lit)][region[1]:region[3], region[0]:region[2]].copy()
        for actor in sc.layers:
            if actor is not None:
                self._draw(img, actor, t_ns, color, M, lit, area)
        return img[..., :3] if color else img

    def radiance(self, t_ns: float, color: bool) -> np.ndarray:
        """Scene radiance at time t (reflectance x world lighting), float32 linear units."""
        return self.render(t_ns, color, lit=True)

    def reflectance(self, t_ns: float, color: bool) -> np.ndarray:
        """Composited reflectance at time t (before lighting)."""
        return self.render(t_ns, color, lit=False)

    def footprint(self, t_ns: float) -> Footprint:
        """The target's box, area and visibility at time t (from its rendered alpha)."""
        sc = self.scene
        A = sc.target.matrix(t_ns)
        full = float(sc.target.sprite.alpha_sum) * abs(float(np.linalg.det(A[:, :2])))
        roi = self._roi(A, sc.target.sprite, sc.width, sc.height)
        if roi is None:
            return Footprint((0, 0, 0, 0), full, 0.0)
        alpha = self._warp_sprite(sc.target.sprite.alpha, A, roi)
        in_view = float(alpha.sum())
        ys, xs = np.nonzero(alpha >= 0.5)
        if len(xs) == 0 or in_view <= 0:
            return Footprint((0, 0, 0, 0), full, 0.0)
        box = (roi[0] + int(xs.min()), roi[1] + int(ys.min()), int(xs.max() - xs.min() + 1),
               int(ys.max() - ys.min() + 1))
        visible = alpha
        for cover in (*sc.front, *((sc.occluder,) if sc.occluder else ())):
            visible = visible * (1.0 - self._warp_sprite(cover.sprite.alpha, cover.matrix(t_ns), roi))
        return Footprint(box, full, min(1.0, in_view / max(full, 1e-9)), float(visible.sum() / in_view))
