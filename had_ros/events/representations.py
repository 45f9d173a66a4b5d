"""Dense event representations, the same numbers on numpy (CPU) and torch (CPU or GPU).

- voxel grid (bins, H, W): each event adds its polarity (ON +1, OFF -1) to the two time bins
  around its normalised time tn = (bins - 1) * (t - t0) / (t1 - t0), weighted linearly
  (1 - frac to floor(tn), frac to floor(tn) + 1). Only events with t0 <= t < t1 count. Each
  weight is rounded to float32 and added in float32, event by event in time order (lower
  weight, then upper). ``out=`` takes a reusable output: a float32 array, or a
  VoxelGridBuffer, which clears only the cells its previous grid wrote.
- count histogram (2, H, W): events per pixel, channel 0 = OFF, 1 = ON.
- time surface (2, H, W): exp(-(t_ref - t_last) / tau) of each pixel's latest event per
  polarity, 0 where a pixel has none.

Events with x >= width or y >= height are dropped (callers crop by shifting coordinates
first). Polarity: Events hold p = 1 (ON) or 0 (OFF) (Events.from_arrays refuses other values);
the voxel grid weights each event by 2p - 1 (+1 ON, -1 OFF; so it needs p in {0, 1}), the count
histogram and the time surface put p != 0 in their ON channel (1) and p == 0 in OFF (0), on
numpy and torch alike. torch sums the voxel grid with index_add_ in float64 (in no fixed
order) and rounds once, so it agrees with the numpy/numba grid to float32 accumulation error
(about 1e-7 of the sum a weight); histograms and time surfaces agree to float32 rounding.

On the CPU, ``voxel_grid``, ``count_histogram`` and ``time_surface`` run compiled numba kernels
(had_ros.events._kernels, one core) when numba imports and HAD_ROS_NO_NUMBA is unset (see
accel.py), else the numpy references ``*_numpy`` below. The kernels add the same terms in the
same order and precision as the references, so the results are identical, not just close.
"""
from __future__ import annotations

import threading

import numpy as np

from had_ros.errors import DecodeError
from had_ros.events import accel
from had_ros.events.container import Events


def _check_size(height: int, width: int, bins: int = 1) -> tuple[int, int, int]:
    height, width, bins = int(height), int(width), int(bins)
    if height <= 0 or width <= 0 or bins <= 0:
        raise DecodeError(f"representation size must be positive, got bins={bins}, {height}x{width}")
    return height, width, bins


def _pixel_index(x: np.ndarray, y: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Flat pixel index y * W + x (intp), and a keep mask when some events fall outside."""
    pix = y.astype(np.intp)
    pix *= width
    pix += x
    inside = None
    if len(x) and (int(x.max()) >= width or int(y.max()) >= height):
        inside = (x < width) & (y < height)
    return pix, inside


# -- the public CPU functions: compiled kernels, or the numpy references -------------------------
def voxel_grid(events: Events, bins: int, height: int, width: int, t0: int, t1: int,
               out: "np.ndarray | VoxelGridBuffer | None" = None) -> np.ndarray:
    """(bins, height, width) float32 voxel grid of the events with t0 <= t < t1 (ns): each adds
    2p - 1 (+1 ON, -1 OFF), split linearly between the two bins around its normalised time.

    ``out``: None (a new array), a C-contiguous writeable float32 array of that shape (zeroed,
    filled and returned), or a VoxelGridBuffer of that size (its grid is returned; it zeroes
    only the cells its previous grid wrote, the fast way to grid window after window).
    Raises DecodeError for a non-positive size, an empty window or an ``out`` that does not fit."""
    k = accel.kernels()
    # the kernel takes integer ns; a float t0 keeps numpy's float arithmetic (and results)
    if k is None or not isinstance(t0, (int, np.integer)):
        return voxel_grid_numpy(events, bins, height, width, t0, t1, out=out)
    return _voxel_grid_compiled(k, events, bins, height, width, t0, t1, out)


class VoxelGridBuffer:
    """A reusable output of ``voxel_grid(..., out=buffer)`` for grids of one (bins, height, width).

    It holds one grid and the cells its last grid wrote, so the next call zeroes those cells
    instead of the whole grid: on a full sensor (1280x720, 5 bins: 18 MB) clearing and
    allocating a grid each 33 ms window costs more than gridding its events. ``grid`` is the
    latest grid, a read-only view that the next call rewrites (copy it to keep it). One buffer
    serves one thread at a time."""

    def __init__(self, bins: int, height: int, width: int) -> None:
        height, width, bins = _check_size(height, width, bins)
        self.shape = (bins, height, width)
        plane = height * width
        # the grid and a spare plane (clear_cells zeroes a recorded cell and the next plane's)
        self._flat = np.zeros((bins + 1) * plane, np.float32)
        self._cells = np.empty(0, np.uint32)  # the lower cell of each event of the last grid
        self._n_cells = 0
        self._cells_known = True  # False: the cells written are unknown (zero the whole grid)
        # cells are recorded as uint32: a grid of 2**32 cells or more is zeroed whole each call
        self._trackable = (bins + 1) * plane < 1 << 32
        self._view = self._flat[:bins * plane].reshape(self.shape).view()
        self._view.flags.writeable = False

    @property
    def grid(self) -> np.ndarray:
        return self._view

    def _clear(self, k) -> np.ndarray:
        """The flat grid (with its spare plane), all zero: only the cells last written are
        zeroed when they are known."""
        if self._cells_known and k is not None:
            k.clear_cells(self._flat, self._cells, self._n_cells, self.shape[1] * self.shape[2])
        else:
            self._flat.fill(0.0)
        self._n_cells = 0
        self._cells_known = False  # until a kernel has recorded what it writes
        return self._flat

    def _cells_for(self, n: int) -> np.ndarray:
        if len(self._cells) < n:
            self._cells = np.empty(max(n, 2 * len(self._cells)), np.uint32)
        return self._cells


def _zeroed_output(out, bins: int, height: int, width: int, k=None) -> np.ndarray:
    """The flat float32 grid to fill, all zero: new, the caller's array, or a VoxelGridBuffer's."""
    shape = (bins, height, width)
    if out is None:
        return np.zeros(bins * height * width, np.float32)
    if isinstance(out, VoxelGridBuffer):
        if out.shape != shape:
            raise DecodeError(f"voxel_grid: out is a VoxelGridBuffer of {out.shape} (bins, height, width), "
                              f"this grid is {shape}")
        return out._clear(k)
    if not isinstance(out, np.ndarray):
        raise DecodeError(f"voxel_grid: out must be None, a float32 array or a VoxelGridBuffer, "
                          f"got {type(out).__name__}")
    if out.dtype != np.float32 or out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise DecodeError(
            f"voxel_grid: out must be a writeable C-contiguous float32 array of shape {shape}, got "
            f"{out.dtype} {out.shape}{'' if out.flags.c_contiguous else ', not C-contiguous'}"
            f"{'' if out.flags.writeable else ', read-only'}")
    flat = out.reshape(-1)
    flat.fill(0.0)
    return flat


def _grid_result(out, flat: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    if isinstance(out, VoxelGridBuffer):
        return out.grid
    return out if out is not None else flat.reshape(shape)


def count_histogram(events: Events, height: int, width: int) -> np.ndarray:
    """(2, height, width) float32 event counts; channel 0 = OFF (p == 0), 1 = ON (p != 0)."""
    k = accel.kernels()
    # float32 counts are exact below 2**24 per pixel: more events than that go to numpy
    if k is None or len(events) >= 1 << 24:
        return count_histogram_numpy(events, height, width)
    height, width, _ = _check_size(height, width)
    out = np.zeros((2, height * width), np.float32)
    x, y, p = (_kernel_input(a, dt) for a, dt in ((events.x, np.uint16), (events.y, np.uint16),
                                                   (events.p, np.uint8)))
    k.count_histogram(x, y, p, height, width, out)
    return out.reshape(2, height, width)


def time_surface(events: Events, height: int, width: int, tau_ns: float, t_ref: int | None = None) -> np.ndarray:
    """(2, height, width) float32 exponentially decaying time surface at time ``t_ref`` (ns;
    default: the latest event), channel 0 for OFF (p == 0), 1 for ON (p != 0). Events after
    t_ref are ignored. ``tau_ns`` is the decay."""
    k = accel.kernels()
    if k is None or not len(events):
        return time_surface_numpy(events, height, width, tau_ns, t_ref)
    height, width, _ = _check_size(height, width)
    if not tau_ns > 0:
        raise DecodeError(f"time_surface: tau must be > 0 ns, got {tau_ns}")
    hw = height * width
    t_ref = int(events.t.max()) if t_ref is None else int(t_ref)
    x, y, t, p = _kernel_events(events)
    pix = np.empty(min(len(t), 2 * hw), np.int64)  # room for every (polarity, pixel) seen
    latest = np.empty(len(pix), np.int64)
    with _scratch(2 * hw, np.int64, np.iinfo(np.int64).min) as newest:
        n = k.latest_times(x, y, t, p, t_ref, height, width, newest, pix, latest)
    out = np.zeros(2 * hw, np.float32)
    out[pix[:n]] = _decay(t_ref, latest[:n], tau_ns)
    return out.reshape(2, height, width)


# Per-thread scratch buffers of the time-surface kernel, kept between calls so that a short window
# on a large sensor does not pay for clearing a full-size buffer: the kernel leaves them as it
# found them. Each thread that calls keeps the largest it needed: 16 bytes a pixel.
_local = threading.local()


class _scratch:
    """Context giving this thread's scratch buffer of ``size`` elements of ``dtype``, all ``fill``.

    If a kernel did not return (an exception), the buffer is refilled before its next use."""

    def __init__(self, size: int, dtype, fill) -> None:
        self.key = (np.dtype(dtype).str, fill)
        self.size, self.dtype, self.fill = size, dtype, fill

    def __enter__(self) -> np.ndarray:
        buffers = _local.__dict__.setdefault("buffers", {})
        buf, clean = buffers.get(self.key, (None, False))
        if buf is None or len(buf) < self.size:
            buf = np.full(self.size, self.fill, self.dtype)
        elif not clean:
            buf.fill(self.fill)
        buffers[self.key] = (buf, False)
        self.buf = buf
        return buf[:self.size]

    def __exit__(self, exc_type, exc, tb) -> None:
        _local.buffers[self.key] = (self.buf, exc_type is None)


def _kernel_input(a: np.ndarray, dtype) -> np.ndarray:
    """a as a read-only C-contiguous array of dtype: the one signature the kernels compile."""
    a = np.ascontiguousarray(a, dtype=dtype).view()
    a.flags.writeable = False
    return a


def _kernel_events(events: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (_kernel_input(events.x, np.uint16), _kernel_input(events.y, np.uint16),
            _kernel_input(events.t, np.int64), _kernel_input(events.p, np.uint8))


def _voxel_grid_compiled(k, events: Events, bins: int, height: int, width: int, t0: int, t1: int,
                         out=None) -> np.ndarray:
    height, width, bins = _check_size(height, width, bins)
    if t1 <= t0:
        raise DecodeError(f"voxel_grid: empty time window [{t0}, {t1}) ns")
    flat = _zeroed_output(out, bins, height, width, k)
    x, y, t, p = _kernel_events(events)
    if not k.is_sorted(t):
        order = np.argsort(t, kind="stable")
        x, y, t, p = (_kernel_input(a[order], a.dtype) for a in (x, y, t, p))
    i0, i1 = np.searchsorted(t, [t0, t1], side="left")
    track = isinstance(out, VoxelGridBuffer) and out._trackable
    cells = out._cells_for(i1 - i0) if track else _NO_CELLS
    n_cells = k.voxel_grid(x[i0:i1], y[i0:i1], t[i0:i1], p[i0:i1], int(t0), (bins - 1) / (t1 - t0), bins,
                           height, width, flat, cells, track)
    if track:
        out._n_cells, out._cells_known = n_cells, True
    return _grid_result(out, flat, (bins, height, width))


_NO_CELLS = np.empty(0, np.uint32)  # voxel_grid's cell record when nothing is tracked


# -- numpy (the references) -----------------------------------------------------------------------
def voxel_grid_numpy(events: Events, bins: int, height: int, width: int, t0: int, t1: int,
                     out: "np.ndarray | VoxelGridBuffer | None" = None) -> np.ndarray:
    """voxel_grid on numpy (the reference)."""
    height, width, bins = _check_size(height, width, bins)
    if t1 <= t0:
        raise DecodeError(f"voxel_grid: empty time window [{t0}, {t1}) ns")
    flat = _zeroed_output(out, bins, height, width)
    if not events.is_sorted():
        events = events[np.argsort(events.t, kind="stable")]
    events = events.time_window(t0, t1)
    hw = height * width
    if len(events):
        pix, inside = _pixel_index(events.x, events.y, height, width)
        tn = np.multiply(events.t - t0, (bins - 1) / (t1 - t0))
        pol = events.p.astype(np.float64)
        pol *= 2.0
        pol -= 1.0
        if inside is not None:
            pix, tn, pol = pix[inside], tn[inside], pol[inside]
        b = tn.astype(np.intp)  # tn >= 0: the floor
        upper = tn - b
        upper *= pol
        # Event by event, its lower weight to bin b and then its upper weight to bin b + 1 (a
        # spare plane past the last bin takes the last bin's upper weights), in float32:
        # np.add.at adds in the order of its index array.
        cell = b * hw
        cell += pix
        idx = np.empty(2 * len(cell), np.intp)
        idx[0::2] = cell
        idx[1::2] = cell + hw
        weights = np.empty(2 * len(cell), np.float32)
        weights[0::2] = pol - upper
        weights[1::2] = upper
        grid = np.zeros((bins + 1) * hw, np.float32)
        np.add.at(grid, idx, weights)
        flat[:bins * hw] = grid[:bins * hw]
    return _grid_result(out, flat, (bins, height, width))


def count_histogram_numpy(events: Events, height: int, width: int) -> np.ndarray:
    """count_histogram on numpy (the reference)."""
    height, width, _ = _check_size(height, width)
    hw = height * width
    pix, inside = _pixel_index(events.x, events.y, height, width)
    pix += (events.p != 0) * hw
    if inside is not None:
        pix = pix[inside]
    return np.bincount(pix, minlength=2 * hw).astype(np.float32).reshape(2, height, width)


def time_surface_numpy(events: Events, height: int, width: int, tau_ns: float,
                       t_ref: int | None = None) -> np.ndarray:
    """time_surface on numpy (the reference)."""
    height, width, _ = _check_size(height, width)
    if not tau_ns > 0:
        raise DecodeError(f"time_surface: tau must be > 0 ns, got {tau_ns}")
    hw = height * width
    out = np.zeros(2 * hw, np.float64)
    if not len(events):
        return out.astype(np.float32).reshape(2, height, width)
    t_ref = int(events.t.max()) if t_ref is None else int(t_ref)
    pix, inside = _pixel_index(events.x, events.y, height, width)
    pix += (events.p != 0) * hw
    keep = events.t <= t_ref
    if inside is not None:
        keep &= inside
    pix, t = pix[keep], events.t[keep]
    if not len(t):
        return out.astype(np.float32).reshape(2, height, width)
    # Latest time per pixel: sort by pixel (stable), then the max of each pixel's group.
    order = np.argsort(pix, kind="stable")
    pix, t = pix[order], t[order]
    starts = np.flatnonzero(np.concatenate(([True], pix[1:] != pix[:-1])))
    latest = np.maximum.reduceat(t, starts)
    out[pix[starts]] = _decay(t_ref, latest, tau_ns)
    return out.astype(np.float32).reshape(2, height, width)


def _decay(t_ref: int, latest: np.ndarray, tau_ns: float) -> np.ndarray:
    """exp(-(t_ref - latest) / tau), float64: one expression for both paths (same rounding)."""
    return np.exp(-(t_ref - latest).astype(np.float64) / float(tau_ns))


# -- torch --------------------------------------------------------------------------------------
def _torch_inputs(x, y, t, p, device):
    import torch

    def as_tensor(a, dtype):
        if isinstance(a, torch.Tensor):
            return a.to(device=device, dtype=dtype)
        return torch.as_tensor(np.asarray(a), device=device).to(dtype)

    return (as_tensor(x, torch.int64), as_tensor(y, torch.int64), as_tensor(t, torch.int64),
            as_tensor(p, torch.int64))


def voxel_grid_torch(x, y, t, p, bins: int, height: int, width: int, t0: int, t1: int, device="cpu"):
    """voxel_grid on torch: x, y, t (ns), p (0/1: each event adds 2p - 1) as tensors or arrays;
    returns a float32 tensor (bins, height, width) on ``device``."""
    import torch

    height, width, bins = _check_size(height, width, bins)
    if t1 <= t0:
        raise DecodeError(f"voxel_grid_torch: empty time window [{t0}, {t1}) ns")
    x, y, t, p = _torch_inputs(x, y, t, p, device)
    keep = (t >= t0) & (t < t1) & (x < width) & (y < height)
    x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    hw = height * width
    tn = (t - t0).to(torch.float64) * ((bins - 1) / (t1 - t0))
    lower = tn.to(torch.int64)
    frac = tn - lower
    pol = p.to(torch.float64) * 2.0 - 1.0
    idx = lower * hw + y * width + x
    grid = torch.zeros((bins + 1) * hw, dtype=torch.float64, device=device)
    grid.index_add_(0, idx, pol * (1.0 - frac))
    grid.index_add_(0, idx + hw, pol * frac)
    return grid[:bins * hw].to(torch.float32).reshape(bins, height, width)


def count_histogram_torch(x, y, p, height: int, width: int, device="cpu"):
    """count_histogram on torch; returns a float32 tensor (2, height, width)."""
    import torch

    height, width, _ = _check_size(height, width)
    x, y, _, p = _torch_inputs(x, y, p, p, device)
    keep = (x < width) & (y < height)
    idx = ((p != 0).to(torch.int64) * (height * width) + y * width + x)[keep]
    counts = torch.bincount(idx, minlength=2 * height * width)
    return counts.to(torch.float32).reshape(2, height, width)


def time_surface_torch(x, y, t, p, height: int, width: int, tau_ns: float, t_ref: int | None = None,
                       device="cpu"):
    """time_surface on torch; returns a float32 tensor (2, height, width)."""
    import torch

    height, width, _ = _check_size(height, width)
    if not tau_ns > 0:
        raise DecodeError(f"time_surface_torch: tau must be > 0 ns, got {tau_ns}")
    x, y, t, p = _torch_inputs(x, y, t, p, device)
    hw = height * width
    out = torch.zeros(2 * hw, dtype=torch.float64, device=device)
    if not len(t):
        return out.to(torch.float32).reshape(2, height, width)
    t_ref = int(t.max()) if t_ref is None else int(t_ref)
    keep = (x < width) & (y < height) & (t <= t_ref)
    idx = ((p != 0).to(torch.int64) * hw + y * width + x)[keep]
    t = t[keep]
    if not len(t):
        return out.to(torch.float32).reshape(2, height, width)
    latest = torch.full((2 * hw,), torch.iinfo(torch.int64).min, dtype=torch.int64, device=device)
    latest.scatter_reduce_(0, idx, t, reduce="amax")
    seen = latest > torch.iinfo(torch.int64).min
    out[seen] = torch.exp(-(t_ref - latest[seen]).to(torch.float64) / float(tau_ns))
    return out.to(torch.float32).reshape(2, height, width)
