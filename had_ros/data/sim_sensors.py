"""Sensor models of the synthetic generator: an event pixel array and an RGB frame camera.

Event pixel (the ESIM/v2e family of models): each pixel compares its log intensity with a reference
set at its last event and fires when the difference crosses its ON or OFF contrast threshold, several
times when the change spans several thresholds. Thresholds vary from pixel to pixel (mismatch), a
pixel stays blind for a refractory period after each event (crossings that fall inside it are
delayed, and dropped if the change has gone by the end of the render step), and background-activity
noise events arrive as a Poisson process. Crossing times are interpolated linearly between render
samples. The log has a dark offset (photocurrent floor), so very dark scenes lose some contrast.

Frame camera: radiance integrated over the exposure window (motion blur comes from averaging renders
inside it), converted to electrons, shot noise (Poisson), read noise, clipped at full well, analog gain,
clipping to the ADC range, gamma and 8-bit quantisation. Auto exposure lengthens the exposure and
raises the gain in the dark (so low light gives noise and blur) and exposes for the scene's median,
so brightly lit regions of HDR scenes clip while the log-intensity event pixels still see them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class EventSensorParams:
    """Parameters of the event pixel array (defaults: a DAVIS-like sensor)."""

    threshold_on: float = 0.25       # log-intensity step of an ON event
    threshold_off: float = 0.25      # ... of an OFF event
    threshold_sigma: float = 0.03    # pixel-to-pixel mismatch (std of each threshold)
    min_threshold: float = 0.05      # floor so no mismatched pixel becomes a noise source
    refractory_ns: int = 100_000     # blind time after each event of a pixel
    noise_rate_hz: float = 0.1       # background-activity events per pixel per second
    dark_level: float = 1e-4         # log(radiance + dark_level): photocurrent floor, in radiance units


class EventSensor:
    """Vectorised event pixel array. Call reset() with the first radiance image, then step() with
    each following one; step returns the events fired in (t_prev, t]."""

    def __init__(self, params: EventSensorParams, width: int, height: int, rng: np.random.Generator):
        shape = (height, width)
        self.params = params
        self.width, self.height = width, height
        self.c_on = np.maximum(rng.normal(params.threshold_on, params.threshold_sigma, shape),
                               params.min_threshold).astype(np.float32)
        self.c_off = np.maximum(rng.normal(params.threshold_off, params.threshold_sigma, shape),
                                params.min_threshold).astype(np.float32)
        # Per-pixel smaller threshold: the cheap whole-image test for "may fire" (exact check later).
        self._c_low = np.minimum(self.c_on, self.c_off)
        self._phase = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
        self.ref = np.zeros(shape, np.float32)
        self.prev = np.zeros(shape, np.float32)
        self.last_t = np.full(width * height, -np.inf)
        self.pending = np.empty(0, np.int64)  # pixels still over threshold (delayed by refractoriness)
        self.t_prev = 0

    def log_intensity(self, radiance: np.ndarray) -> np.ndarray:
        return np.log(radiance + np.float32(self.params.dark_level))

    def reset(self, radiance: np.ndarray, t_ns: int) -> None:
        """Start from a scene: references sit within half a threshold of the current log intensity
        (a random phase, as after an unknown history), so a static scene fires nothing."""
        L = self.log_intensity(radiance)
        self.ref = L + self._phase * np.minimum(self.c_on, self.c_off)
        self.prev = L
        self.last_t[:] = -np.inf
        self.pending = np.empty(0, np.int64)
        self.t_prev = int(t_ns)

    def step(self, radiance: np.ndarray | None, t_ns: int,
             region: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events between the previous sample and this one: (flat pixel index int64, time ns
        float64, polarity bool), grouped by pixel (not time-sorted).

        radiance is the whole image, or with region (x0, y0, x1, y1) just that rectangle of it: a
        promise that the image changed nowhere else since the previous step (the renderer knows
        what moved). With an empty region (radiance None) only pixels with delayed events fire."""
        W = self.width
        x0, y0, x1, y1 = (0, 0, W, self.height) if region is None else region
        t0, dt = self.t_prev, float(t_ns - self.t_prev)
        self.t_prev = int(t_ns)
        prev, ref = self.prev.reshape(-1), self.ref.reshape(-1)
        if x1 > x0 and y1 > y0:
            L1_box = self.log_intensity(radiance if region is not None else radiance[y0:y1, x0:x1])
            d = L1_box - self.ref[y0:y1, x0:x1]
            hit = np.flatnonzero(np.abs(d) >= (self._c_low if region is None else self._c_low[y0:y1, x0:x1]))
            bw = x1 - x0
            cand = (hit // bw + y0) * W + (hit % bw + x0)
            if self.pending.size:
                # Pending pixels inside the box were re-examined above; add the ones outside it.
                px, py = self.pending % W, self.pending // W
                outside = (px < x0) | (px >= x1) | (py < y0) | (py >= y1)
                cand = np.concatenate([cand, self.pending[outside]])
            L0 = prev[cand]
            self.prev[y0:y1, x0:x1] = L1_box
        else:
            cand = self.pending
            L0 = prev[cand]
        L1 = prev[cand]
        if cand.size:
            dc = L1 - ref[cand]
            pos = dc > 0
            c = np.where(pos, self.c_on.reshape(-1)[cand], self.c_off.reshape(-1)[cand])
            n = (np.abs(dc) / c).astype(np.int64)
            keep = n > 0
            cand, pos, c, n, L0, L1 = cand[keep], pos[keep], c[keep], n[keep], L0[keep], L1[keep]
        if not cand.size:
            self.pending = np.empty(0, np.int64)
            return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, bool)

        R = float(self.params.refractory_ns)
        sgn = np.where(pos, np.float32(1.0), np.float32(-1.0))
        r0 = ref[cand]
        slope = L1 - L0
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(slope != 0, np.float32(1.0) / slope, np.float32(0.0))  # crossing at t_prev if flat
        last = np.maximum(self.last_t[cand] - t0, -R)  # earlier than t_prev - R no longer matters
        dt32 = np.float32(dt)

        # First crossing of every pixel (most pixels cross once per render step): level ref + sgn*c,
        # reached at a linearly interpolated time, no earlier than R after the pixel's last event.
        t_first = np.clip((r0 + sgn * c - L0) * inv, 0.0, 1.0) * dt32
        fire_first = np.maximum(t_first, last + R)
        emit_first = fire_first <= dt  # later ones wait: the pixel stays pending while the change persists
        n_emit = emit_first.astype(np.int64)
        fire_last = fire_first
        idx_out, t_out, p_out = [cand[emit_first]], [fire_first[emit_first]], [pos[emit_first]]

        # Further crossings k = 2..n of pixels whose first one fired. With refractoriness the j-th
        # fires at t'_j = max(t_j, t'_{j-1} + R), i.e. t'_j = (j-1)R + max(t'_1, max_{2<=i<=j} t_i - (i-1)R):
        # a cumulative max per pixel, done for all at once by lifting each pixel's run above the last.
        multi = np.flatnonzero((n > 1) & emit_first)
        if multi.size:
            extra = n[multi] - 1
            grp = np.repeat(np.arange(len(multi)), extra)
            start = np.cumsum(extra) - extra
            k = (np.arange(len(grp)) - start[grp] + 2).astype(np.float32)
            g = multi[grp]
            t_k = np.clip((r0[g] + sgn[g] * k * c[g] - L0[g]) * inv[g], 0.0, 1.0) * dt32
            v = t_k - (k - 1) * R
            span = dt + R * (float(extra.max()) + 3.0)
            runmax = np.maximum.accumulate(v + grp * span) - grp * span
            fire = (k - 1) * R + np.maximum(fire_first[g], runmax)
            emit = fire <= dt
            n_more = np.bincount(grp[emit], minlength=len(multi))
            n_emit[multi] += n_more
            more = n_more > 0
            fire_last = fire_first.copy()
            fire_last[multi[more]] = fire[(start + n_more - 1)[more]]
            idx_out.append(cand[g[emit]])
            t_out.append(fire[emit])
            p_out.append(pos[g[emit]])

        new_ref = (r0 + sgn * n_emit * c).astype(np.float32)
        ref[cand] = new_ref
        self.last_t[cand[emit_first]] = t0 + fire_last[emit_first]
        self.pending = cand[np.abs(L1 - new_ref) >= self._c_low.reshape(-1)[cand]]
        return np.concatenate(idx_out), t0 + np.concatenate(t_out), np.concatenate(p_out)

    def noise(self, t0_ns: int, t1_ns: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Background-activity events in [t0, t1): Poisson in count, uniform in pixel and time."""
        n_pix = self.width * self.height
        lam = self.params.noise_rate_hz * n_pix * (t1_ns - t0_ns) * 1e-9
        count = int(rng.poisson(lam)) if lam > 0 else 0
        idx = rng.integers(0, n_pix, count).astype(np.int64)
        t = rng.uniform(t0_ns, t1_ns, count)
        p = rng.random(count) < 0.5
        return idx, t, p


@dataclass(frozen=True)
class RgbCameraParams:
    """Frame camera (defaults: a small global-shutter machine-vision sensor)."""

    full_well_e: float = 8000.0
    read_noise_e: float = 3.0
    electrons_per_radiance_s: float = 3.0e6  # sensitivity x optics: e- per second per unit radiance
    max_gain: float = 16.0
    target_level: float = 0.18       # auto exposure puts the scene median here (fraction of full scale)
    min_exposure_ns: int = 50_000
    max_exposure_fraction: float = 0.95  # of the frame period
    gamma: float = 2.2


@dataclass(frozen=True)
class Exposure:
    """One sequence's exposure settings. transmission < 1 is an ND filter / closed aperture."""

    exposure_ns: int
    gain: float
    transmission: float = 1.0


def auto_exposure(median_radiance: float, frame_period_ns: int, params: RgbCameraParams,
                  long_fraction: float | None = None) -> Exposure:
    """Exposure that brings the median radiance to params.target_level of full scale.

    Without long_fraction: the shortest exposure that gets there at gain 1, up to the frame period,
    then gain (up to max_gain; beyond it the image stays dark). With long_fraction the exposure is
    that fraction of the frame period (a slow shutter: motion blur) and light is cut with an ND filter."""
    need_e = params.target_level * params.full_well_e
    rate = max(median_radiance, 1e-12) * params.electrons_per_radiance_s  # e- per second at the median
    max_ns = params.max_exposure_fraction * frame_period_ns
    if long_fraction is not None:
        exp_ns = float(np.clip(long_fraction * frame_period_ns, params.min_exposure_ns, max_ns))
    else:
        exp_ns = float(np.clip(need_e / rate * 1e9, params.min_exposure_ns, max_ns))
    total_gain = need_e / (rate * exp_ns * 1e-9)
    if total_gain >= 1.0:
        return Exposure(int(round(exp_ns)), float(min(total_gain, params.max_gain)), 1.0)
    return Exposure(int(round(exp_ns)), 1.0, float(total_gain))


def expose(mean_radiance: np.ndarray, exposure: Exposure, params: RgbCameraParams,
           rng: np.random.Generator) -> np.ndarray:
    """Mean linear RGB radiance over the exposure window (H, W, 3) -> uint8 RGB frame."""
    scale = np.float32(params.electrons_per_radiance_s * exposure.transmission * exposure.exposure_ns * 1e-9)
    e = mean_radiance * scale
    read_var = np.float32(params.read_noise_e ** 2)
    # Shot + read noise: above 30 e- the Gaussian limit of Poisson (same variance; one draw covers
    # both, several times cheaper at these sizes), below it exact Poisson plus Gaussian read noise.
    noisy = e + np.sqrt(e + read_var) * rng.standard_normal(e.shape, dtype=np.float32)
    low = e < 30.0
    if low.any():
        e_low = e[low]
        noisy[low] = rng.poisson(e_low).astype(np.float32) + np.float32(params.read_noise_e) * \
            rng.standard_normal(e_low.shape, dtype=np.float32)
    # Saturation after the noise: a full pixel reads full scale, whatever its shot noise.
    dn = np.clip(np.minimum(noisy, np.float32(params.full_well_e)) * np.float32(exposure.gain / params.full_well_e),
                 0.0, 1.0)
    # Gamma and 8-bit quantisation through a 16-bit lookup table (a power over the image is slow).
    return _gamma_lut(params.gamma)[(dn * np.float32(65535.0) + np.float32(0.5)).astype(np.uint16)]


@lru_cache(maxsize=4)
def _gamma_lut(gamma: float) -> np.ndarray:
    return np.round(255.0 * np.linspace(0.0, 1.0, 65536) ** (1.0 / gamma)).astype(np.uint8)
