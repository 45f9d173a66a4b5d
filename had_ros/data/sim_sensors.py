"""Sensor models of the synthetic generator: an event pixel array and an RGB frame camera.

Event pixel (the v2e / DVS-Voltmeter family of models; profiles with their sources in
sensor_profiles.json, `had simulate --sensor davis346|imx636|ideal`): each pixel low-pass filters its
log intensity (a photoreceptor whose bandwidth grows with light, so events lag and smear in the dark),
compares it with a reference set at its last event and fires when the difference crosses its ON or
OFF contrast threshold, several times when the change spans several thresholds. Thresholds and
refractory periods vary from pixel to pixel (mismatch); a pixel stays blind for its refractory
period after each event (crossings inside it are delayed; the blind time carries across render
steps). Each event is reported after a small random latency (timestamp jitter), and the refractory
period runs from the reported time, so no pixel ever reports two events closer than its period.

Background activity goes through the same pixel state: leak events are a slow upward drift of each
pixel's signal relative to its reference (ON events at a per-pixel rate spread over decades, a few
hot pixels much faster), and shot noise events, at a rate that rises as light falls, fire only
when the pixel is not refractory and reset its reference like any event.

Crossing times are interpolated linearly between render samples; the simulator places those samples
at jittered, motion-bounded times (simulator.render_times), so nothing in the output is periodic at
the render rate. The log has a dark offset (photocurrent floor), so very dark scenes lose contrast.

Frame camera (profiles under "frame_cameras" in sensor_profiles.json): radiance integrated over the
exposure window (motion blur comes from averaging renders inside it), optionally through an RGGB
Bayer mosaic or mono, converted to electrons (per-pixel gain, dark current), shot noise (Poisson),
read noise, clipped at full well, analog gain, black level and fixed-pattern offsets (columns,
pixels), clipping to the ADC range, gamma and 8-bit quantisation. Exposure follows the scene's
median within bounds: the rgb profile lengthens the exposure and raises the gain in the dark; the
DAVIS346 APS has no gain and a bounded exposure, so dark scenes come out dark and noisy. Brightly
lit regions of HDR scenes clip while the log-intensity event pixels still see them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

PROFILE_FILE = Path(__file__).with_name("sensor_profiles.json")
DEFAULT_SENSOR = "davis346"
DEFAULT_CAMERA = "davis346"


@dataclass(frozen=True)
class EventSensorParams:
    """Parameters of the event pixel array. The defaults are the `ideal` profile (the generator
    before sensor profiles); sensor_profile(name) gives a documented real-sensor profile."""

    name: str = "ideal"
    threshold_on: float = 0.25       # log-intensity step of an ON event
    threshold_off: float = 0.25      # ... of an OFF event
    threshold_sigma: float = 0.03    # pixel-to-pixel mismatch (std of each threshold)
    min_threshold: float = 0.05      # floor so no mismatched pixel becomes a noise source
    refractory_ns: int = 100_000     # mean blind time after each event of a pixel
    refractory_spread: float = 0.0   # relative std of the per-pixel refractory period (log-normal)
    # Photoreceptor: first-order low-pass on log intensity, cutoff = 1 / (1 / (k I) + 1 / f_max)
    # for radiance I; k = 0 means an infinitely fast photoreceptor.
    bandwidth_hz_per_radiance: float = 0.0
    max_bandwidth_hz: float = 0.0
    leak_rate_hz: float = 0.0        # mean ON leak-event rate per pixel
    leak_spread_decades: float = 0.0  # std of log10 of the per-pixel leak rate
    hot_pixel_fraction: float = 0.0  # share of pixels with a fast leak ...
    hot_pixel_rate_hz: float = 0.0   # ... at about this rate
    noise_rate_hz: float = 0.1       # shot-noise events per pixel per second at noise_ref_radiance
    noise_ref_radiance: float = 1.0
    noise_exponent: float = 0.0      # rate ~ (noise_ref_radiance / I) ** exponent (0: flat)
    noise_max_hz: float = 10.0       # ... at most this
    noise_on_fraction: float = 0.5   # share of shot-noise events that are ON
    jitter_ns: float = 0.0           # std of the (half-normal) latency added to each event
    max_event_rate_hz: float = 0.0   # readout limit (arbiter / bus); 0 = unlimited
    dark_level: float = 1e-4         # log(radiance + dark_level): photocurrent floor, in radiance units

    @property
    def has_lag(self) -> bool:
        return self.bandwidth_hz_per_radiance > 0

    def noise_rate(self, radiance: np.ndarray) -> np.ndarray:
        """Shot-noise rate per pixel (Hz) at these radiances."""
        if self.noise_exponent == 0:
            return np.full(radiance.shape, self.noise_rate_hz, np.float64)
        ratio = self.noise_ref_radiance / np.maximum(radiance.astype(np.float64), 1e-9)
        return np.minimum(self.noise_rate_hz * ratio ** self.noise_exponent, self.noise_max_hz)


def sensor_names() -> tuple[str, ...]:
    return tuple(k for k in _profiles() if not k.startswith("_") and k != "frame_cameras")


@lru_cache(maxsize=1)
def _profiles() -> dict:
    return json.loads(PROFILE_FILE.read_text())


def _from_profile(cls, entries: dict, what: str, name: str):
    """A params dataclass from one profile of sensor_profiles.json: {field: {"value", "source"}};
    fields it does not name keep their defaults, *_ns values are whole nanoseconds."""
    known = {f.name for f in fields(cls)}
    values = {}
    for key, entry in entries.items():
        if key.startswith("_"):
            continue
        if key not in known:
            raise ValueError(f"{PROFILE_FILE.name}: {what} {name!r} has unknown parameter {key!r}")
        v = entry["value"]
        values[key] = v if isinstance(v, str) else (int(v) if key.endswith("_ns") else float(v))
    return replace(cls(), name=name, **values)


def sensor_profile(name: str = DEFAULT_SENSOR) -> EventSensorParams:
    """The named profile of sensor_profiles.json as EventSensorParams (unnamed fields: defaults)."""
    if name not in sensor_names():
        raise ValueError(f"unknown sensor {name!r}: expected one of {', '.join(sensor_names())}")
    return _from_profile(EventSensorParams, _profiles()[name], "profile", name)


def profile_sources(name: str) -> dict:
    """Parameter -> the source the profile file names for it."""
    return {k: v["source"] for k, v in _profiles()[name].items() if not k.startswith("_")}


_LAG_TOL = np.float32(0.005)  # a lagging pixel is settled when within this of its input (log units)


def _lowpass(y0: np.ndarray, u0: np.ndarray, u1: np.ndarray, omega: np.ndarray, dt: float) -> np.ndarray:
    """First-order low-pass y' = omega (u - y) over dt, exact for an input going linearly from u0
    to u1 (so the output does not depend on where the render samples fall, only on the input).
    omega > 0 (the photocurrent floor keeps it so)."""
    x = omega * np.float32(dt)
    e = np.exp(-x)
    lag = u1 - u0
    lag /= x  # input slope x time constant
    out = y0 - u0
    out += lag
    out *= e
    out += u1
    out -= lag
    return out


class EventSensor:
    """Vectorised event pixel array. Call reset() with the first radiance image, then step() with
    each following one (at increasing times), and background() once per time chunk; each returns
    the events fired since the previous call of its kind."""

    def __init__(self, params: EventSensorParams, width: int, height: int, rng: np.random.Generator):
        shape = (height, width)
        n = width * height
        self.params = params
        self.width, self.height = width, height
        self.rng = rng
        self.c_on = np.maximum(rng.normal(params.threshold_on, params.threshold_sigma, shape),
                               params.min_threshold).astype(np.float32)
        self.c_off = np.maximum(rng.normal(params.threshold_off, params.threshold_sigma, shape),
                                params.min_threshold).astype(np.float32)
        # Per-pixel smaller threshold: the cheap whole-image test for "may fire" (exact check later).
        self._c_low = np.minimum(self.c_on, self.c_off)
        self._phase = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
        s = params.refractory_spread
        spread = np.exp(np.clip(rng.standard_normal(n), -3, 3) * s - s * s / 2) if s > 0 else np.ones(n)
        self.refractory = params.refractory_ns * spread  # float64 ns, flat
        # Leak: the signal drifts up relative to the reference by c_on * rate per second.
        rate = np.zeros(n)
        if params.leak_rate_hz > 0:
            sd = params.leak_spread_decades * np.log(10.0)
            rate = params.leak_rate_hz * np.exp(rng.standard_normal(n) * sd - sd * sd / 2)
        if params.hot_pixel_fraction > 0:
            hot = rng.random(n) < params.hot_pixel_fraction
            rate[hot] = params.hot_pixel_rate_hz * np.exp(0.5 * rng.standard_normal(int(hot.sum())))
        # log units per ns, flat; float32 as the reference (17 log units after 3 s of a hot pixel: ample)
        self.leak_slope = (rate * self.c_on.reshape(-1) * 1e-9).astype(np.float32)
        self._leaky = bool(np.any(rate > 0))
        self.L_in = np.zeros(shape, np.float32)   # log of the last rendered radiance
        self.L = np.zeros(shape, np.float32)      # photoreceptor output (filtered log intensity)
        self.omega = np.zeros(shape, np.float32)  # photoreceptor angular cutoff, rad/ns
        self.ref = np.zeros(shape, np.float32)
        self.last_t = np.full(n, -np.inf)
        self.pending = np.empty(0, np.int64)  # pixels still over threshold (delayed by refractoriness)
        self.lagging = np.empty(0, np.int64)  # pixels whose photoreceptor has not caught up
        self._flag = np.zeros(n, bool)
        self._all = np.arange(n, dtype=np.int64)
        self.t_prev = 0

    def log_intensity(self, radiance: np.ndarray) -> np.ndarray:
        return np.log(radiance + np.float32(self.params.dark_level))

    def _cutoff(self, radiance: np.ndarray) -> np.ndarray:
        """Angular cutoff (rad/ns): 2 pi / (1 / (k I) + 1 / f_max) = 2 pi f_max I / (I + f_max / k)."""
        p = self.params
        r = radiance + np.float32(p.dark_level)
        om = r * np.float32(2e-9 * np.pi * p.max_bandwidth_hz)
        om /= r + np.float32(p.max_bandwidth_hz / p.bandwidth_hz_per_radiance)
        return om

    def reset(self, radiance: np.ndarray, t_ns: int) -> None:
        """Start from a scene, as after an unknown history: references sit inside the no-fire band
        (within half a threshold of the signal; with leak, anywhere up to the ON threshold, as a
        drifting pixel is in steady state), so a static scene fires only background events."""
        L = self.log_intensity(radiance)
        self.L_in[:] = L
        self.L[:] = L
        if self.params.has_lag:
            self.omega[:] = self._cutoff(radiance)
        if self._leaky:
            offset = (self._phase + np.float32(0.5)) * self.c_on
        else:
            offset = -self._phase * self._c_low
        self.ref = (L - offset - self.leak_slope.reshape(L.shape) * np.float32(t_ns)).astype(np.float32)
        self.last_t[:] = -np.inf
        self.pending = np.empty(0, np.int64)
        self.lagging = np.empty(0, np.int64)
        self.t_prev = int(t_ns)

    # -- crossings -------------------------------------------------------------------------------
    def _jitter(self, n: int) -> np.ndarray:
        if self.params.jitter_ns <= 0 or n == 0:
            return np.zeros(n)
        return np.abs(self.rng.standard_normal(n)) * self.params.jitter_ns

    def _fire(self, cand: np.ndarray, L0: np.ndarray, L1: np.ndarray, t0: float, dt: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events of pixels `cand` whose signal (relative to leak-free reference) goes linearly from
        L0 at t0 to L1 at t0 + dt; updates their reference and last event time."""
        ref = self.ref.reshape(-1)
        d1 = L1 - ref[cand]
        pos = d1 > 0
        c = np.where(pos, self.c_on.reshape(-1)[cand], self.c_off.reshape(-1)[cand]).astype(np.float64)
        n = (np.abs(d1) / c).astype(np.int64)
        keep = n > 0
        cand, pos, c, n, L0, L1 = cand[keep], pos[keep], c[keep], n[keep], L0[keep], L1[keep]
        if not cand.size:
            return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, bool)
        R = self.refractory[cand]
        sgn = np.where(pos, 1.0, -1.0)
        r0 = ref[cand]
        slope = L1 - L0
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(slope != 0, 1.0 / slope, 0.0)  # crossing at t0 if flat
        last = np.maximum(self.last_t[cand] - t0, -R)  # earlier than t0 - R no longer matters

        # First crossing of every pixel (most pixels cross once per step): level ref + sgn*c, reached
        # at a linearly interpolated time plus the latency jitter, no earlier than R after the last event.
        t_first = np.clip((r0 + sgn * c - L0) * inv, 0.0, 1.0) * dt + self._jitter(len(cand))
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
            k = (np.arange(len(grp)) - start[grp] + 2).astype(np.float64)
            g = multi[grp]
            t_k = np.clip((r0[g] + sgn[g] * k * c[g] - L0[g]) * inv[g], 0.0, 1.0) * dt + self._jitter(len(g))
            Rg = R[g]
            v = t_k - (k - 1) * Rg
            span = 2.0 * dt + float(R.max()) * (float(extra.max()) + 3.0) + 10.0 * self.params.jitter_ns
            runmax = np.maximum.accumulate(v + grp * span) - grp * span
            fire = (k - 1) * Rg + np.maximum(fire_first[g], runmax)
            emit = fire <= dt
            n_more = np.bincount(grp[emit], minlength=len(multi))
            n_emit[multi] += n_more
            more = n_more > 0
            fire_last = fire_first.copy()
            fire_last[multi[more]] = fire[(start + n_more - 1)[more]]
            idx_out.append(cand[g[emit]])
            t_out.append(fire[emit])
            p_out.append(pos[g[emit]])

        ref[cand] = r0 + sgn * n_emit * c
        self.last_t[cand[emit_first]] = t0 + fire_last[emit_first]
        return np.concatenate(idx_out), t0 + np.concatenate(t_out), np.concatenate(p_out)

    def _signal(self, idx: np.ndarray, L: np.ndarray, t: float) -> np.ndarray:
        """Signal relative to a leak-free reference: photoreceptor output plus the accumulated leak."""
        if not self._leaky:
            return L.astype(np.float64)
        return L.astype(np.float64) + self.leak_slope[idx] * t

    def _over(self, idx: np.ndarray) -> np.ndarray:
        """Pixels among idx whose signal is at least a threshold from their reference now."""
        L = self._signal(idx, self.L.reshape(-1)[idx], float(self.t_prev))
        return idx[np.abs(L - self.ref.reshape(-1)[idx]) >= self._c_low.reshape(-1)[idx]]

    # -- public ----------------------------------------------------------------------------------
    def step(self, radiance: np.ndarray | None, t_ns: int,
             region: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events between the previous sample and this one: (flat pixel index int64, time ns
        float64, polarity bool), grouped by pixel (not time-sorted).

        radiance is the whole image, or with region (x0, y0, x1, y1) just that rectangle of it: a
        promise that the image changed nowhere else since the previous step (the renderer knows
        what moved). With an empty region (radiance None) only pixels still settling or with
        delayed events are looked at."""
        W, H = self.width, self.height
        x0, y0, x1, y1 = (0, 0, W, H) if region is None else region
        t0, dt = float(self.t_prev), float(t_ns - self.t_prev)
        self.t_prev = int(t_ns)
        lag = self.params.has_lag
        Lf, Lin = self.L.reshape(-1), self.L_in.reshape(-1)
        parts_idx, parts_L0, parts_L1 = [], [], []
        settling = []
        box = x1 > x0 and y1 > y0
        full = (x1 - x0, y1 - y0) == (W, H)
        if box:
            rad = radiance if region is not None else radiance[y0:y1, x0:x1]
            Lin_box = self.log_intensity(rad)
            L0_box = self.L[y0:y1, x0:x1].copy()
            if lag:
                om = self._cutoff(rad)
                self.omega[y0:y1, x0:x1] = om
                L1_box = _lowpass(L0_box, self.L_in[y0:y1, x0:x1], Lin_box, om, dt)
            else:
                L1_box = Lin_box
            self.L_in[y0:y1, x0:x1] = Lin_box
            self.L[y0:y1, x0:x1] = L1_box
            bw = x1 - x0
            d = L1_box.copy()
            if self._leaky:
                d += self.leak_slope.reshape(H, W)[y0:y1, x0:x1] * np.float32(t0 + dt)
            d -= self.ref[y0:y1, x0:x1]
            np.abs(d, out=d)
            hit = np.flatnonzero(d >= self._c_low[y0:y1, x0:x1])
            if lag and full:
                settling.append(self._all)  # a whole-image step: every pixel may still settle
            elif lag:
                still = np.flatnonzero(np.abs(Lin_box - L1_box) > _LAG_TOL)
                settling.append((still // bw + y0) * W + (still % bw + x0))
            cand = (hit // bw + y0) * W + (hit % bw + x0)
            parts_idx.append(cand)
            parts_L0.append(L0_box.reshape(-1)[hit])
            parts_L1.append(L1_box.reshape(-1)[hit])
        # Pixels outside the box that are still settling or have delayed events.
        if full:
            extra = np.empty(0, np.int64)  # the box is the whole image: everything was looked at
        else:
            extra = np.concatenate([self.lagging, self.pending]) if self.pending.size else self.lagging
        if extra.size:
            # Deduplicate (a pixel may be lagging and pending) with a flag array: cheaper than a sort.
            self._flag[extra] = True
            extra = np.flatnonzero(self._flag)
            self._flag[extra] = False
            if box:
                px, py = extra % W, extra // W
                extra = extra[(px < x0) | (px >= x1) | (py < y0) | (py >= y1)]
        if extra.size:
            L0 = Lf[extra].copy()
            if lag:
                Lx = Lin[extra]
                L1 = _lowpass(L0, Lx, Lx, self.omega.reshape(-1)[extra], dt)
                Lf[extra] = L1
                settling.append(extra[np.abs(Lin[extra] - L1) > _LAG_TOL])
            else:
                L1 = L0
            parts_idx.append(extra)
            parts_L0.append(L0)
            parts_L1.append(L1)
        self.lagging = np.concatenate(settling) if settling else np.empty(0, np.int64)
        if not parts_idx:
            self.pending = np.empty(0, np.int64)
            return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, bool)
        cand = np.concatenate(parts_idx)
        L0 = self._signal(cand, np.concatenate(parts_L0), t0)
        L1 = self._signal(cand, np.concatenate(parts_L1), t0 + dt)
        out = self._fire(cand, L0, L1, t0, dt)
        self.pending = self._over(cand)
        return out

    def background(self, t0_ns: int, t1_ns: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Background activity in [t0, t1) (call at t1 = the time of the last step()): shot-noise
        events, Poisson per pixel at a rate set by the pixel's light, each fired only when the pixel
        is not refractory and resetting its reference; then leak crossings of every pixel."""
        p = self.params
        n_pix = self.width * self.height
        t0, t1 = float(t0_ns), float(t1_ns)
        idx_l, t_l, p_l = [], [], []
        if p.noise_rate_hz > 0 and t1 > t0:
            if p.noise_exponent == 0:
                lam = p.noise_rate_hz * n_pix * (t1 - t0) * 1e-9
                idx = rng.integers(0, n_pix, int(rng.poisson(lam))).astype(np.int64)
            else:
                rad = np.exp(self.L_in.reshape(-1).astype(np.float64)) - p.dark_level
                counts = rng.poisson(p.noise_rate(rad) * ((t1 - t0) * 1e-9))
                idx = np.repeat(np.arange(n_pix, dtype=np.int64), counts)
            t = rng.uniform(t0, t1, len(idx))
            on = rng.random(len(idx)) < p.noise_on_fraction
            # In time order per pixel, a candidate fires when the pixel is past its refractory
            # period (one round per event a pixel fires; a candidate inside the period is lost).
            order = np.lexsort((t, idx))
            idx, t, on = idx[order], t[order], on[order]
            while len(idx):
                ok = t >= self.last_t[idx] + self.refractory[idx]
                idx, t, on = idx[ok], t[ok], on[ok]
                if not len(idx):
                    break
                first = np.ones(len(idx), bool)
                first[1:] = idx[1:] != idx[:-1]
                fi, ft, fo = idx[first], t[first], on[first]
                # The reset puts the reference at the pixel's present signal.
                sig = self.L.reshape(-1)[fi].astype(np.float64)
                self.ref.reshape(-1)[fi] = sig + self.leak_slope[fi] * ft if self._leaky else sig
                self.last_t[fi] = ft
                idx_l.append(fi), t_l.append(ft), p_l.append(fo)
                idx, t, on = idx[~first], t[~first], on[~first]
        if self._leaky:
            # Leak: each pixel's signal rose by slope * (t1 - t0); pixels that crossed fire at the
            # interpolated time (static since t0 is assumed; times never go before t0 or the
            # refractory end).
            all_idx = np.arange(n_pix, dtype=np.int64)
            L1 = self._signal(all_idx, self.L.reshape(-1), t1)
            d = L1 - self.ref.reshape(-1)
            hit = np.flatnonzero(d >= self.c_on.reshape(-1))
            if hit.size:
                L0 = L1[hit] - self.leak_slope[hit] * (t1 - t0)
                a, b, c = self._fire(hit, L0, L1[hit], t0, t1 - t0)
                idx_l.append(a), t_l.append(b), p_l.append(c)
                self.pending = np.union1d(self.pending, self._over(hit))
        if not idx_l:
            return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, bool)
        return np.concatenate(idx_l), np.concatenate(t_l), np.concatenate(p_l)

    def noise(self, t0_ns: int, t1_ns: int, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Former name of background()."""
        return self.background(t0_ns, t1_ns, rng)


def arbitrate(t_ns: np.ndarray, idx: np.ndarray, refractory: np.ndarray, max_rate_hz: float) -> np.ndarray:
    """Readout limit: events (time-sorted) leave one per 1 / max_rate_hz at most, in order (a FIFO);
    an event the queue delays to within its pixel's refractory period of that pixel's previous
    reported event is lost (as a pixel cannot fire while its last event waits). Returns the kept
    mask and writes the delayed times into t_ns."""
    keep = np.ones(len(t_ns), bool)
    if max_rate_hz <= 0 or len(t_ns) < 2:
        return keep
    gap = 1e9 / max_rate_hz
    j = np.arange(len(t_ns), dtype=np.float64) * gap
    out = np.maximum.accumulate(t_ns - j) + j
    delayed = out > t_ns + 1e-6
    if not delayed.any():
        return keep
    t_ns[:] = out
    # Same-pixel pairs closer than the refractory period after the delays: drop the later one.
    order = np.lexsort((t_ns, idx))
    si, st = idx[order], t_ns[order]
    close = np.zeros(len(order), bool)
    close[1:] = (si[1:] == si[:-1]) & (st[1:] - st[:-1] < refractory[si[1:]] - 1000.0)  # µs floors
    keep[order[close]] = False
    return keep


@dataclass(frozen=True)
class RgbCameraParams:
    """Frame camera. The defaults are the `rgb` profile (a small global-shutter machine-vision RGB
    sensor with auto exposure and gain, the generator before issue 9); frame_camera_profile(name)
    gives the documented ones (davis346: the DAVIS346 APS, linear, bounded exposure, no gain)."""

    full_well_e: float = 8000.0
    read_noise_e: float = 3.0
    electrons_per_radiance_s: float = 3.0e6  # sensitivity x optics: e- per second per unit radiance
    max_gain: float = 16.0
    target_level: float = 0.18       # auto exposure puts the scene median here (fraction of full scale)
    min_exposure_ns: int = 50_000
    max_exposure_fraction: float = 0.95  # of the frame period
    gamma: float = 2.2
    name: str = "rgb"
    mosaic: str = "rgb"              # rgb (three values per pixel), rggb (Bayer, demosaicked) or mono
    black_level_dn: float = 0.0      # pedestal of the 8-bit output (DN)
    column_fpn_dn: float = 0.0       # std of the per-column offset (DN)
    pixel_fpn_dn: float = 0.0        # std of the per-pixel offset, DSNU (DN)
    prnu: float = 0.0                # std of the per-pixel gain (fraction)
    dark_current_e_per_s: float = 0.0
    max_exposure_ns: int = 0         # absolute bound on the exposure (0 = only the frame period)


@dataclass(frozen=True)
class Exposure:
    """One sequence's exposure settings. transmission < 1 is an ND filter / closed aperture."""

    exposure_ns: int
    gain: float
    transmission: float = 1.0


def frame_camera_names() -> tuple[str, ...]:
    return tuple(_profiles().get("frame_cameras", {}))


def frame_camera_profile(name: str) -> RgbCameraParams:
    """The named frame camera of sensor_profiles.json ("frame_cameras") as RgbCameraParams."""
    cams = _profiles().get("frame_cameras", {})
    if name not in cams:
        raise ValueError(f"unknown frame camera {name!r}: expected one of {', '.join(cams)}")
    return _from_profile(RgbCameraParams, cams[name], "frame camera", name)


class FrameCamera:
    """A frame sensor with its fixed patterns (column and pixel offsets, pixel gains), drawn once
    per sequence; expose() turns mean radiance over an exposure into an 8-bit RGB frame."""

    def __init__(self, params: RgbCameraParams, width: int, height: int, rng: np.random.Generator):
        self.params = params
        self.width, self.height = width, height
        p = params
        self.offset = np.zeros((height, width), np.float32)
        if p.column_fpn_dn > 0:
            self.offset += (rng.standard_normal(width) * p.column_fpn_dn).astype(np.float32)[None, :]
        if p.pixel_fpn_dn > 0:
            self.offset += (rng.standard_normal((height, width)) * p.pixel_fpn_dn).astype(np.float32)
        self.gain = (1.0 + rng.standard_normal((height, width)) * p.prnu).astype(np.float32) if p.prnu > 0 else None

    def expose(self, mean_radiance: np.ndarray, exposure: Exposure, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        if p.mosaic == "rgb":
            return expose(mean_radiance, exposure, p, rng, self.offset if p.column_fpn_dn or p.pixel_fpn_dn else None,
                          self.gain)
        if p.mosaic == "mono":
            from had_ros.data.sim_textures import LUMA

            plane = mean_radiance @ LUMA
        elif p.mosaic == "rggb":
            plane = np.empty(mean_radiance.shape[:2], np.float32)
            plane[0::2, 0::2] = mean_radiance[0::2, 0::2, 0]
            plane[0::2, 1::2] = mean_radiance[0::2, 1::2, 1]
            plane[1::2, 0::2] = mean_radiance[1::2, 0::2, 1]
            plane[1::2, 1::2] = mean_radiance[1::2, 1::2, 2]
        else:
            raise ValueError(f"unknown mosaic {p.mosaic!r}: expected rgb, rggb or mono")
        raw = expose(plane[..., None], exposure, p, rng, self.offset[..., None], None if self.gain is None
                     else self.gain[..., None])[..., 0]
        if p.mosaic == "mono":
            return np.repeat(raw[..., None], 3, axis=2)
        import cv2

        # OpenCV names Bayer patterns from the second row: an RGGB sensor is its "BG" code.
        return cv2.cvtColor(raw, cv2.COLOR_BayerBG2RGB)


def auto_exposure(median_radiance: float, frame_period_ns: int, params: RgbCameraParams,
                  long_fraction: float | None = None) -> Exposure:
    """Exposure that brings the median radiance to params.target_level of full scale.

    Without long_fraction: the shortest exposure that gets there at gain 1, up to the frame period,
    then gain (up to max_gain; beyond it the image stays dark). With long_fraction the exposure is
    that fraction of the frame period (a slow shutter: motion blur) and light is cut with an ND filter."""
    need_e = params.target_level * params.full_well_e
    rate = max(median_radiance, 1e-12) * params.electrons_per_radiance_s  # e- per second at the median
    max_ns = params.max_exposure_fraction * frame_period_ns
    if params.max_exposure_ns > 0:
        max_ns = min(max_ns, float(params.max_exposure_ns))
    if long_fraction is not None:
        exp_ns = float(np.clip(long_fraction * frame_period_ns, params.min_exposure_ns, max_ns))
    else:
        exp_ns = float(np.clip(need_e / rate * 1e9, params.min_exposure_ns, max_ns))
    total_gain = need_e / (rate * exp_ns * 1e-9)
    if total_gain >= 1.0:
        return Exposure(int(round(exp_ns)), float(min(total_gain, params.max_gain)), 1.0)
    return Exposure(int(round(exp_ns)), 1.0, float(total_gain))


def expose(mean_radiance: np.ndarray, exposure: Exposure, params: RgbCameraParams,
           rng: np.random.Generator, offset_dn: np.ndarray | None = None,
           pixel_gain: np.ndarray | None = None) -> np.ndarray:
    """Mean linear radiance over the exposure window (H, W, C) -> uint8 frame (H, W, C): electrons
    (times the pixel gains, plus dark current), shot and read noise, full well, gain, then in DN the
    black level and fixed offsets, clipping, gamma and 8-bit quantisation."""
    scale = np.float32(params.electrons_per_radiance_s * exposure.transmission * exposure.exposure_ns * 1e-9)
    e = mean_radiance * scale
    if pixel_gain is not None:
        e = e * pixel_gain
    if params.dark_current_e_per_s > 0:
        e = e + np.float32(params.dark_current_e_per_s * exposure.exposure_ns * 1e-9)
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
    dn = np.minimum(noisy, np.float32(params.full_well_e)) * np.float32(exposure.gain / params.full_well_e)
    if params.black_level_dn or offset_dn is not None:
        pedestal = np.float32(params.black_level_dn / 255.0)
        dn = dn + (pedestal if offset_dn is None else pedestal + offset_dn * np.float32(1.0 / 255.0))
    dn = np.clip(dn, 0.0, 1.0)
    # Gamma and 8-bit quantisation through a 16-bit lookup table (a power over the image is slow).
    return _gamma_lut(params.gamma)[(dn * np.float32(65535.0) + np.float32(0.5)).astype(np.uint16)]


@lru_cache(maxsize=4)
def _gamma_lut(gamma: float) -> np.ndarray:
    return np.round(255.0 * np.linspace(0.0, 1.0, 65536) ** (1.0 / gamma)).astype(np.uint8)
