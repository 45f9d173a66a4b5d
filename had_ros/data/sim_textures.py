"""Textures and sprites for the synthetic generator: photographs bundled with scikit-image (no
download), procedural textures, and alpha-masked object patches.

Everything here works in *linear reflectance* (float32, 0..1): photos are sRGB-decoded, and values are
kept within [REFLECTANCE_MIN, REFLECTANCE_MAX] because real surfaces rarely reflect less than 2 % or
more than 95 % of light. That bound keeps the radiance range of a uniformly lit scene under 50:1, so a
scene is only high-dynamic-range when its *lighting* makes it so (see sim_scene.py).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import cv2
import numpy as np

REFLECTANCE_MIN = 0.02
REFLECTANCE_MAX = 0.95
# Linear-light luminance weights (Rec. 709): what a monochrome event pixel integrates.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)

# scikit-image's sample photographs, as the files its wheel ships in skimage/data (the other samples
# need an optional download and are left out). They are read with OpenCV straight from that folder:
# importing skimage.data would pull in scipy and cost a second per process.
# Grayscale ones become gray textures. (page.png is left out: its ICC profile makes libpng warn.)
PHOTO_FILES: dict[str, str] = {
    "astronaut": "astronaut.png", "coffee": "coffee.png", "chelsea": "chelsea.png", "rocket": "rocket.jpg",
    "camera": "camera.png", "brick": "brick.png", "grass": "grass.png", "gravel": "gravel.png",
    "moon": "moon.png", "coins": "coins.png", "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png", "clock": "clock_motion.png", "motorcycle": "motorcycle_left.png",
    "text": "text.png",
}
PHOTO_NAMES: tuple[str, ...] = tuple(PHOTO_FILES)
PROCEDURAL_NAMES: tuple[str, ...] = ("dead_leaves", "fractal_noise", "gratings")


def srgb_to_linear(img_u8: np.ndarray) -> np.ndarray:
    """uint8 sRGB (gamma 2.2 approximation) -> float32 linear, clipped to the reflectance range."""
    lin = (img_u8.astype(np.float32) / 255.0) ** 2.2
    return np.clip(lin, REFLECTANCE_MIN, REFLECTANCE_MAX).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Linear RGB (..., 3) -> linear luminance (...)."""
    return (rgb @ LUMA).astype(np.float32)


@lru_cache(maxsize=1)
def _photo_folder() -> Path | None:
    spec = importlib.util.find_spec("skimage")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@lru_cache(maxsize=None)
def _load_photo(name: str) -> np.ndarray | None:
    """One bundled photo as uint8 RGB, or None when scikit-image or the file is not installed."""
    folder = _photo_folder()
    if folder is None or name not in PHOTO_FILES:
        return None
    bgr = cv2.imread(str(folder / PHOTO_FILES[name]), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])


@lru_cache(maxsize=1)
def available_photos() -> tuple[str, ...]:
    """Names of the bundled photos that load on this machine (checked once per process)."""
    return tuple(n for n in PHOTO_NAMES if _load_photo(n) is not None)


def photo(name: str) -> np.ndarray:
    """A bundled photo as linear float32 RGB (H, W, 3)."""
    img = _load_photo(name)
    if img is None:
        raise ValueError(f"photo {name!r} is not available offline (have: {available_photos()})")
    return srgb_to_linear(img)


# -- procedural textures ---------------------------------------------------------------------------
def _random_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """n linear RGB reflectances around a random palette (natural scenes are not uniformly colored)."""
    palette = rng.uniform(0.05, 0.9, size=(3, 3))
    pick = palette[rng.integers(0, 3, n)]
    jitter = rng.uniform(0.6, 1.4, size=(n, 1)) * rng.uniform(0.85, 1.15, size=(n, 3))
    return np.clip(pick * jitter, REFLECTANCE_MIN, REFLECTANCE_MAX)


def dead_leaves(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Occluding discs and boxes with power-law sizes: the classic model of natural-image statistics."""
    ss = 2  # draw at 2x and downsample: anti-aliased edges without LINE_AA's per-shape cost
    h2, w2 = height * ss, width * ss
    canvas = np.empty((h2, w2, 3), np.float32)
    canvas[:] = _random_colors(rng, 1)[0]
    n = int(np.clip(height * width / 120, 60, 3000))
    rmin, rmax = 0.01 * max(h2, w2), 0.25 * max(h2, w2)
    u = rng.random(n)
    # Inverse CDF of a 1/r^3 size density: many small leaves, a few large ones.
    radii = 1.0 / np.sqrt(1.0 / rmin**2 - u * (1.0 / rmin**2 - 1.0 / rmax**2))
    cx = rng.uniform(0, w2, n)
    cy = rng.uniform(0, h2, n)
    colors = _random_colors(rng, n)
    kinds = rng.random(n)
    for i in range(n):
        c = tuple(float(v) for v in colors[i])
        r = float(radii[i])
        if kinds[i] < 0.6:
            cv2.circle(canvas, (int(cx[i]), int(cy[i])), max(1, int(r)), c, -1)
        else:
            a = rng.uniform(0.3, 1.0)
            box = ((float(cx[i]), float(cy[i])), (2 * r, 2 * r * a), float(rng.uniform(0, 180)))
            cv2.fillPoly(canvas, [cv2.boxPoints(box).astype(np.int32)], c)
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def fractal_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sum of octaves of smooth random fields, colored by a random 3x3 mix (clouds, foliage, walls)."""
    field = np.zeros((height, width, 3), np.float32)
    amp, total = 1.0, 0.0
    cells = 4
    while cells < max(height, width) / 2 or total == 0.0:  # at least one octave (tiny patches)
        grid = rng.standard_normal((cells * height // max(height, width) + 2,
                                    cells * width // max(height, width) + 2, 3)).astype(np.float32)
        field += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.6
        cells *= 2
    field /= total
    mix = rng.uniform(-0.3, 1.0, size=(3, 3)).astype(np.float32)
    base = rng.uniform(0.15, 0.5, 3).astype(np.float32)
    out = base + 0.25 * (field @ mix)
    return np.clip(out, REFLECTANCE_MIN, REFLECTANCE_MAX).astype(np.float32)


def gratings(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Soft oriented stripes and checks over a noise base (man-made surfaces: tiles, fences, fabric)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = fractal_noise(rng, height, width) * 0.6
    for _ in range(int(rng.integers(1, 3))):
        ang = rng.uniform(0, np.pi)
        period = rng.uniform(0.04, 0.2) * max(height, width)
        phase = (xx * np.cos(ang) + yy * np.sin(ang)) * (2 * np.pi / period)
        wave = np.tanh(3.0 * np.sin(phase))  # soft-edged square wave
        color = _random_colors(rng, 1)[0].astype(np.float32)
        out += 0.25 * (wave[..., None] * 0.5 + 0.5) * color
    return np.clip(out, REFLECTANCE_MIN, REFLECTANCE_MAX).astype(np.float32)


_PROCEDURAL = {"dead_leaves": dead_leaves, "fractal_noise": fractal_noise, "gratings": gratings}


def texture(source: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A (height, width, 3) linear texture from `source` ("photo:NAME" or a procedural name).

    Photos are scaled to cover the area (keeping aspect), then a random window is cut."""
    if source.startswith("photo:"):
        img = photo(source.split(":", 1)[1])
        ph, pw = img.shape[:2]
        zoom = max(height / ph, width / pw) * rng.uniform(1.0, 1.3)
        sh, sw = max(height, int(np.ceil(ph * zoom))), max(width, int(np.ceil(pw * zoom)))
        img = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
        y0 = int(rng.integers(0, sh - height + 1))
        x0 = int(rng.integers(0, sw - width + 1))
        return np.ascontiguousarray(img[y0:y0 + height, x0:x0 + width])
    if source in _PROCEDURAL:
        return _PROCEDURAL[source](rng, height, width)
    raise ValueError(f"unknown texture source {source!r}: expected 'photo:NAME' or one of {PROCEDURAL_NAMES}")


# -- sprites ---------------------------------------------------------------------------------------
MASK_SHAPES: tuple[str, ...] = ("ellipse", "rounded_box", "blob")


@dataclass(frozen=True)
class Sprite:
    """An object patch in linear light with its alpha mask, premultiplied so bilinear warping and
    "over" compositing stay correct at the edges.

    rgba: (h, w, 4) float32 = (rgb * alpha, alpha); ga: (h, w, 4) float32 = (gray * alpha, alpha, 0, 0)
    (four channels because OpenCV warps 1- and 4-channel float images several times faster than 2).
    Build with Sprite.from_rgb_alpha.
    The patch's own pixel grid is its object frame: the object center is at ((w-1)/2, (h-1)/2).
    """

    rgba: np.ndarray
    ga: np.ndarray
    alpha: np.ndarray  # (h, w) float32, contiguous (cv2 wants it so)

    @property
    def height(self) -> int:
        return self.rgba.shape[0]

    @property
    def width(self) -> int:
        return self.rgba.shape[1]

    @cached_property
    def alpha_sum(self) -> float:
        return float(self.alpha.sum())

    @property
    def half_diagonal(self) -> float:
        """Radius of the circle around the patch center that holds every patch pixel."""
        return 0.5 * float(np.hypot(self.width, self.height))

    @classmethod
    def from_rgb_alpha(cls, rgb: np.ndarray, alpha: np.ndarray) -> "Sprite":
        rgb = np.asarray(rgb, np.float32)
        alpha = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
        premult = rgb * alpha[..., None]
        rgba = np.ascontiguousarray(np.concatenate([premult, alpha[..., None]], axis=2))
        zero = np.zeros_like(alpha)
        ga = np.ascontiguousarray(np.stack([luminance(rgb) * alpha, alpha, zero, zero], axis=2))
        return cls(rgba, ga, np.ascontiguousarray(alpha))


    def blurred(self, sigma: float) -> "Sprite":
        """The sprite seen through a Gaussian optical PSF of std sigma (px): premultiplied layers
        blurred on a patch padded by 3 sigma, so its edges fade out instead of stepping."""
        if sigma <= 0:
            return self
        pad = int(np.ceil(3.0 * sigma)) + 1

        def blur(a: np.ndarray) -> np.ndarray:
            widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (a.ndim - 2)
            return np.ascontiguousarray(cv2.GaussianBlur(np.pad(a, widths), (0, 0), sigma), np.float32)

        return Sprite(blur(self.rgba), blur(self.ga), blur(self.alpha))


def optical_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """An image through a Gaussian PSF of std sigma px (reflected at the borders)."""
    if sigma <= 0:
        return img
    return np.ascontiguousarray(cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101), np.float32)


def compress_contrast(rgb: np.ndarray, kappa: float, mean: float | None = None) -> np.ndarray:
    """Scale the log-luminance contrast of a linear texture by kappa (< 1: flatter) around its
    geometric mean luminance (or around `mean`, which the result then has), keeping each pixel's color."""
    lum = np.maximum(luminance(rgb), 1e-4)
    g = float(np.exp(np.mean(np.log(lum))))
    target = g if mean is None else float(mean)
    factor = (target / g) * (lum / g) ** (kappa - 1.0)
    out = rgb * factor[..., None].astype(np.float32)
    return np.clip(out, REFLECTANCE_MIN, REFLECTANCE_MAX).astype(np.float32)


def mask(rng: np.random.Generator, shape: str, height: int, width: int,
         params: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An anti-aliased alpha mask (height, width) float32 filling most of the patch, and the shape
    parameters used (pass them back, perturbed, to get a look-alike)."""
    ss = 4
    h4, w4 = height * ss, width * ss
    canvas = np.zeros((h4, w4), np.uint8)
    cx, cy = (w4 - 1) / 2, (h4 - 1) / 2
    if shape == "ellipse":
        params = rng.uniform(0.85, 0.97, 2) if params is None else params
        cv2.ellipse(canvas, (int(cx), int(cy)), (int(params[0] * w4 / 2), int(params[1] * h4 / 2)),
                    0, 0, 360, 255, -1)
    elif shape == "rounded_box":
        params = rng.uniform(0.1, 0.35, 1) if params is None else params
        r = int(params[0] * min(h4, w4))
        x0, y0, x1, y1 = ss, ss, w4 - 1 - ss, h4 - 1 - ss
        cv2.rectangle(canvas, (x0 + r, y0), (x1 - r, y1), 255, -1)
        cv2.rectangle(canvas, (x0, y0 + r), (x1, y1 - r), 255, -1)
        for px, py in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
            cv2.circle(canvas, (px, py), r, 255, -1)
    elif shape == "blob":
        # Radius as a low-order Fourier series of the angle: irregular but star-convex outlines.
        params = np.concatenate([rng.uniform(0, 0.12, 4), rng.uniform(0, 2 * np.pi, 4)]) if params is None \
            else params
        ang = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        rad = np.ones_like(ang)
        for k in range(4):
            rad += params[k] * np.cos((k + 2) * ang + params[4 + k])
        rad *= 0.95 / rad.max()
        pts = np.stack([cx + rad * np.cos(ang) * (w4 / 2), cy + rad * np.sin(ang) * (h4 / 2)], axis=1)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 255)
    else:
        raise ValueError(f"unknown mask shape {shape!r}: expected one of {MASK_SHAPES}")
    alpha = cv2.resize(canvas.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_AREA)
    return alpha, np.asarray(params, np.float64)
