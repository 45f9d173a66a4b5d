"""Square crops around a target box: the one piece of geometry shared by training pairs and the
tracking runtime, so both see identical crops.

Conventions
- Boxes are ``x, y, w, h`` in continuous pixel coordinates: pixel (i, j) covers [i, i+1) x [j, j+1),
  so a box spans x .. x+w. Crop coordinates use the same convention inside the output crop.
- A crop is the square of ``side = ceil(sqrt(w * h) * factor)`` source pixels (OSTrack's search-area
  rule: template factor 2, search factor 4) centred on the box centre, its corner rounded to whole
  pixels, padded where it leaves the image, then resized to ``out_size`` x ``out_size``.
  The map image -> crop is therefore ``u_crop = (u_image - x0) * scale`` with integer ``x0, y0`` and
  ``scale = out_size / side``; :class:`CropTransform` holds it and maps boxes both ways.
- Resampling: ``cv2.INTER_AREA`` when shrinking (an average, so sparse event grids keep their
  density instead of losing events between samples), ``cv2.INTER_LINEAR`` when enlarging. RGB and
  events go through the same :func:`apply_crop`.
- Events: :func:`crop_events_voxel` builds the voxel grid of only the events inside the crop's source
  square, on that square's pixel grid, and resizes it with the same transform. That equals computing
  the full-sensor voxel grid and cropping it like the RGB frame, without building the full grid.
  A square that reaches off the sensor is area-resized from its on-sensor part alone (compiled
  kernel; equal to cv2's INTER_AREA of the zero-padded square up to float32 rounding).

Typical use::

    crop, tf = crop_and_resize(frame, box, factor=4.0, out_size=256)
    vox = crop_events_voxel(events, tf, bins=5, t0=t_prev, t1=t_frame)
    box_in_crop = tf.box_to_crop(box)          # pixels of the crop
    box_back = tf.box_from_crop(predicted)     # pixels of the frame
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from had_ros.errors import TrackingError


@dataclass(frozen=True)
class CropTransform:
    """The map from image pixels to crop pixels: ``u_crop = (u_image - x0) * scale``.

    ``x0, y0``: image coordinates of the crop square's top-left corner (integers, may be negative
    or beyond the image: the outside is padding); ``side``: the square's side in image pixels;
    ``out_size``: the crop's side in crop pixels.
    """

    x0: int
    y0: int
    side: int
    out_size: int

    @property
    def scale(self) -> float:
        """Crop pixels per image pixel."""
        return self.out_size / self.side

    def box_to_crop(self, box) -> np.ndarray:
        """Box(es) x,y,w,h (shape (4,) or (N, 4)) from image pixels to crop pixels."""
        b = np.asarray(box, dtype=np.float64)
        s = self.scale
        out = b * s
        out[..., 0] = (b[..., 0] - self.x0) * s
        out[..., 1] = (b[..., 1] - self.y0) * s
        return out

    def box_from_crop(self, box) -> np.ndarray:
        """Box(es) x,y,w,h from crop pixels back to image pixels (inverse of box_to_crop)."""
        b = np.asarray(box, dtype=np.float64)
        s = self.scale
        out = b / s
        out[..., 0] = b[..., 0] / s + self.x0
        out[..., 1] = b[..., 1] / s + self.y0
        return out

    def points_to_crop(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Continuous image coordinates to continuous crop coordinates."""
        s = self.scale
        return (np.asarray(x, np.float64) - self.x0) * s, (np.asarray(y, np.float64) - self.y0) * s

    def matrix(self) -> np.ndarray:
        """The 2x3 affine (image -> crop, continuous coordinates) as float64."""
        s = self.scale
        return np.array([[s, 0.0, -self.x0 * s], [0.0, s, -self.y0 * s]])


def _check_box(box) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
        raise TrackingError(f"box must be 4 finite numbers x,y,w,h with w,h > 0, got {list(np.asarray(box).reshape(-1))}")
    return b


def crop_side(box, factor: float) -> int:
    """Side in image pixels of the square crop around ``box``: ceil(sqrt(w*h) * factor), at least 1."""
    b = _check_box(box)
    if not factor > 0:
        raise TrackingError(f"crop factor must be > 0, got {factor}")
    return max(1, int(math.ceil(math.sqrt(b[2] * b[3]) * factor)))


def crop_transform(box, factor: float, out_size: int, center: tuple[float, float] | None = None) -> CropTransform:
    """The CropTransform of the square ``factor`` times the box (centred on ``center`` if given,
    else on the box centre), resized to ``out_size``."""
    b = _check_box(box)
    if out_size <= 0:
        raise TrackingError(f"out_size must be > 0, got {out_size}")
    side = crop_side(b, factor)
    cx, cy = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0) if center is None else center
    # Rounding the corner to whole pixels keeps source pixels unsplit; the transform records the
    # rounded corner, so boxes map exactly.
    x0 = int(math.floor(cx - side / 2.0 + 0.5))
    y0 = int(math.floor(cy - side / 2.0 + 0.5))
    return CropTransform(x0, y0, side, int(out_size))


def apply_crop(image: np.ndarray, transform: CropTransform, pad_value=0.0) -> np.ndarray:
    """Cut ``transform``'s square out of ``image`` (H, W) or (H, W, C), pad the outside with
    ``pad_value`` (a scalar or one value per channel) and resize to out_size. Keeps the dtype."""
    img = np.asarray(image)
    if img.ndim not in (2, 3):
        raise TrackingError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")
    h, w = img.shape[:2]
    tf = transform
    shape = (tf.side, tf.side) + img.shape[2:]
    square = np.empty(shape, dtype=img.dtype)
    pad = np.asarray(pad_value, dtype=np.float64)
    if np.issubdtype(img.dtype, np.integer):
        pad = np.round(pad)  # a mean of 127.6 pads with 128, not 127
    square[...] = pad
    # Intersection of the crop square with the image, in image and in square coordinates.
    ix0, iy0 = max(tf.x0, 0), max(tf.y0, 0)
    ix1, iy1 = min(tf.x0 + tf.side, w), min(tf.y0 + tf.side, h)
    if ix1 > ix0 and iy1 > iy0:
        square[iy0 - tf.y0:iy1 - tf.y0, ix0 - tf.x0:ix1 - tf.x0] = img[iy0:iy1, ix0:ix1]
    if tf.side == tf.out_size:
        return square
    return _resize_square(square, tf.out_size)


def _resize_square(square: np.ndarray, out_size: int) -> np.ndarray:
    interp = cv2.INTER_AREA if square.shape[0] > out_size else cv2.INTER_LINEAR
    size = (out_size, out_size)
    if square.ndim == 2:
        return cv2.resize(square, size, interpolation=interp)
    # cv2's INTER_AREA takes at most 4 channels (event voxels have more): resize in groups of 4.
    parts = []
    for c in range(0, square.shape[2], 4):
        part = cv2.resize(np.ascontiguousarray(square[:, :, c:c + 4]), size, interpolation=interp)
        parts.append(part if part.ndim == 3 else part[:, :, None])  # cv2 drops a size-1 channel axis
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=2)


def crop_and_resize(image: np.ndarray, box, factor: float, out_size: int,
                    pad_value=None, center: tuple[float, float] | None = None
                    ) -> tuple[np.ndarray, CropTransform]:
    """Crop the square ``factor`` x the box (side from sqrt(w*h)) around the box centre (or
    ``center``) out of ``image`` and resize it to ``out_size``. Outside the image the crop is
    ``pad_value``, by default the image's per-channel mean. Returns (crop, transform)."""
    img = np.asarray(image)
    tf = crop_transform(box, factor, out_size, center)
    if pad_value is None:
        pad_value = img.reshape(-1, img.shape[2]).mean(axis=0) if img.ndim == 3 else float(img.mean())
    return apply_crop(img, tf, pad_value), tf


def crop_events_voxel(events, transform: CropTransform, bins: int, t0: int, t1: int) -> np.ndarray:
    """Voxel grid (bins, out_size, out_size) float32 of the ``events`` with t0 <= t < t1 seen
    through ``transform`` (bins as had_ros.events.voxel_grid makes them). Events outside the crop
    square are ignored; the outside of the sensor is zero."""
    from had_ros.events import accel  # lazy: keeps this module numpy + cv2 only
    from had_ros.events.container import Events
    from had_ros.events.representations import voxel_grid

    tf = transform
    x, y, t, p = events.x, events.y, events.t, events.p
    # Only the part of the square on the sensor can hold events (sensor pixels are >= 0 and
    # < width, height): grid that rectangle alone and paste it into the zero square, which equals
    # gridding the whole square at the cost of the rectangle (a lost target's search square can be
    # several times the sensor).
    ix0, iy0 = max(tf.x0, 0), max(tf.y0, 0)
    ix1, iy1 = min(tf.x0 + tf.side, events.width), min(tf.y0 + tf.side, events.height)
    if ix1 <= ix0 or iy1 <= iy0 or not len(t):
        return np.zeros((bins, tf.out_size, tf.out_size), np.float32)
    # a caller that cropped already (the node's core) passes only events inside: four reductions
    # tell, and nothing is masked or copied
    if not (x.min() >= ix0 and x.max() < ix1 and y.min() >= iy0 and y.max() < iy1):
        keep = np.flatnonzero((x >= ix0) & (x < ix1) & (y >= iy0) & (y < iy1))
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    if isinstance(events, Events):  # valid already: shifting keeps the coordinates >= 0
        local = Events._trusted(_shift(x, ix0), _shift(y, iy0), t, p, ix1 - ix0, iy1 - iy0)
    else:
        local = Events.from_arrays(_shift(x, ix0), _shift(y, iy0), t, p, ix1 - ix0, iy1 - iy0)
    part = voxel_grid(local, bins, iy1 - iy0, ix1 - ix0, t0, t1)
    if (ix0, iy0, ix1, iy1) == (tf.x0, tf.y0, tf.x0 + tf.side, tf.y0 + tf.side):
        grid = part
    elif tf.side > tf.out_size and (k := accel.kernels()) is not None:
        # a square reaching off the sensor (a lost target's can be 4x the sensor): area-resize
        # the on-sensor part straight into the output, as cv2's INTER_AREA would the zero-padded
        # square (equal to float32 rounding; no square-sized zeros, no resize of zeros)
        j, w = area_tables(tf.side, tf.out_size)
        out64 = np.zeros((bins, tf.out_size, tf.out_size))
        k.area_resize_part(np.ascontiguousarray(part, np.float32), iy0 - tf.y0, ix0 - tf.x0, j, w,
                           np.empty((iy1 - iy0, tf.out_size)), out64)
        return out64.astype(np.float32)
    else:
        grid = np.zeros((part.shape[0], tf.side, tf.side), np.float32)
        grid[:, iy0 - tf.y0:iy1 - tf.y0, ix0 - tf.x0:ix1 - tf.x0] = part
    if tf.side == tf.out_size:
        return np.ascontiguousarray(grid, dtype=np.float32)
    # Each bin is its own image: resizing them one by one equals resizing the stacked channels
    # (cv2 treats channels independently) without the transposes there and back.
    out = np.empty((grid.shape[0], tf.out_size, tf.out_size), np.float32)
    for b in range(grid.shape[0]):
        out[b] = _resize_square(np.ascontiguousarray(grid[b], dtype=np.float32), tf.out_size)
    return out


@functools.lru_cache(maxsize=64)
def area_tables(side: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Area-resize weights from ``side`` to ``size`` pixels (side > size), per input index i:
    the two output indices its unit interval [i, i + 1) overlaps (j[i, 0] = floor(i * size /
    side), j[i, 1] the next one, or the same one with weight 0) and the overlaps divided by
    side / size (w[i, :]), so each output pixel is the mean of the input area it covers."""
    scale = side / size
    i = np.arange(side, dtype=np.float64)
    j0 = np.minimum(np.floor(i / scale).astype(np.int64), size - 1)
    edge = (j0 + 1) * scale  # right end of output pixel j0, in input units
    w0 = np.minimum(i + 1, edge) - i
    w1 = np.maximum(i + 1 - edge, 0.0)
    j1 = np.where((w1 > 0) & (j0 + 1 < size), j0 + 1, j0)
    w1 = np.where(j1 > j0, w1, 0.0)
    j = np.stack([j0, j1], axis=1)
    w = np.stack([w0, w1], axis=1) / scale
    j.flags.writeable = w.flags.writeable = False  # shared by the cache
    return j, w


def _shift(a: np.ndarray, origin: int) -> np.ndarray:
    """a - origin (origin >= 0, every a >= origin), in a's unsigned dtype when it is one."""
    if origin == 0:
        return a
    if a.dtype.kind == "u":
        return np.subtract(a, a.dtype.type(origin), dtype=a.dtype)
    return np.asarray(a, np.int64) - origin


def normalized_cxcywh(box_in_crop, out_size: int) -> np.ndarray:
    """Crop-pixel box x,y,w,h -> cx,cy,w,h divided by the crop side (the model's target format)."""
    b = np.asarray(box_in_crop, dtype=np.float64)
    out = np.empty_like(b)
    out[..., 0] = (b[..., 0] + b[..., 2] / 2.0) / out_size
    out[..., 1] = (b[..., 1] + b[..., 3] / 2.0) / out_size
    out[..., 2] = b[..., 2] / out_size
    out[..., 3] = b[..., 3] / out_size
    return out


def xywh_from_normalized(cxcywh, out_size: int) -> np.ndarray:
    """Inverse of normalized_cxcywh: normalised cx,cy,w,h -> crop-pixel x,y,w,h."""
    c = np.asarray(cxcywh, dtype=np.float64) * out_size
    out = np.empty_like(c)
    out[..., 0] = c[..., 0] - c[..., 2] / 2.0
    out[..., 1] = c[..., 1] - c[..., 3] / 2.0
    out[..., 2] = c[..., 2]
    out[..., 3] = c[..., 3]
    return out
