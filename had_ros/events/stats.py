"""`had events stats PATH`: the statistics that tell a real event camera from a naive simulator, for a
real recording or a generated sequence alike (so a sensor profile can be calibrated to a camera).

Definitions (all computed from x, y, t, p alone):

- cells: the image is cut into `cell_px` x `cell_px` blocks and time into `window_ms` windows; a cell
  (block x window) is *quiet* when its rate is below `quiet_factor` x the median cell rate (kept
  within `quiet_floor`..`quiet_cap` events per pixel per second, or it has under
  `quiet_min_events` events): in a scene where little moves the
  median cell holds only background activity, and a moving edge fires far above it.
- background (noise) rate: events in quiet cells per pixel per second of quiet cells; its ON share.
- isolation: share of quiet-cell events with no other event on the 8 neighbouring pixels within
  +-`isolation_ms` (noise is isolated; events of real structure are not).
- events per edge crossing: events of one pixel of one polarity with gaps under `burst_gap_ms`
  form one crossing (outside quiet cells); mean and 99th percentile of their sizes.
- same-pixel intervals: times between consecutive events of a pixel; percentiles, minimum, and the
  share under 1 ms.
- active pixels: per 33 ms window, the share of pixels with at least one event (median over windows).
- spectrum: event-rate spectrum (counts in `spectrum_bin_us` bins); a peak's strength is its power
  over the median power of the bins around it (`line_strength` gives it at a chosen frequency).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from had_ros.errors import EventFileError
from had_ros.events.container import Events


@dataclass(frozen=True)
class StatsSettings:
    cell_px: int = 16
    window_ms: float = 100.0
    # A cell is quiet below quiet_factor x the median cell rate, within [quiet_floor, quiet_cap]
    # events per pixel per second (a sparse scene's median cell holds only background activity).
    quiet_factor: float = 4.0
    quiet_floor: float = 0.02
    quiet_cap: float = 1.0
    quiet_min_events: int = 8        # ... and any cell with fewer events than this (an edge fires more)
    isolation_ms: float = 10.0
    burst_gap_ms: float = 5.0
    active_window_ms: float = 33.0
    spectrum_bin_us: int = 50        # Nyquist 10 kHz
    spectrum_min_hz: float = 20.0
    spectrum_halfwidth_hz: float = 50.0  # local median over +- this


def load_events(path: Path) -> tuple[Events, list[str]]:
    """Events of an event file or a had_sim sequence folder (its events.raw), through
    had_ros.events.io, with notes on what the decoder skipped or re-stamped."""
    from had_ros.events import io

    path = Path(path)
    notes: list[str] = []
    if path.is_dir():
        if not (path / "events.raw").is_file():
            raise EventFileError(f"{path}: a folder must be a had_sim sequence (with events.raw)")
        path = path / "events.raw"
    if not path.exists():
        raise EventFileError(f"{path}: no such event file")
    if io._kind(path) != "raw":
        return io.read_events(path), notes
    stats: dict = {}
    events = io.read_raw(path, stats=stats)
    skipped = {k: v for k, v in stats.items() if k not in ("packets", "bytes", "events", "triggers") and v}
    if skipped:
        notes.append(f"decoder skipped or re-stamped: {skipped}")
    return events, notes


def _pixel_order(ev: Events) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel index, t, order) with events sorted by pixel then time."""
    idx = ev.y.astype(np.int64) * ev.width + ev.x.astype(np.int64)
    order = np.lexsort((ev.t, idx))
    return idx[order], ev.t[order].astype(np.int64), order


def spectrum(ev: Events, bin_us: int = 50, segment_s: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies Hz, power) of the event-rate signal binned at bin_us: the mean periodogram of
    segment_s long pieces (Welch, Hann window), so random peaks stay near the median."""
    if len(ev) < 2:
        return np.zeros(0), np.zeros(0)
    t = ev.t.astype(np.int64) - int(ev.t.min())
    counts = np.bincount(t // (bin_us * 1000)).astype(np.float64)
    seg = int(min(len(counts), max(16, round(segment_s / (bin_us * 1e-6)))))
    n_seg = len(counts) // seg
    pieces = counts[:n_seg * seg].reshape(n_seg, seg)
    pieces = (pieces - pieces.mean(axis=1, keepdims=True)) * np.hanning(seg)
    power = (np.abs(np.fft.rfft(pieces, axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(seg, bin_us * 1e-6)
    return freqs, power


def _local_median(freqs: np.ndarray, power: np.ndarray, halfwidth_hz: float) -> np.ndarray:
    df = freqs[1] - freqs[0] if len(freqs) > 1 else 1.0
    half = max(3, int(round(halfwidth_hz / df)))
    if len(power) <= 2 * half + 1:
        return np.full_like(power, np.median(power) + 1e-30)
    # Median of a sliding window: on a coarse grid of centres (every `half // 2` bins), then
    # interpolated; enough for a smooth background estimate.
    centres = np.arange(0, len(power), max(1, half // 2))
    med = np.array([np.median(power[max(0, c - half):c + half + 1]) for c in centres])
    return np.interp(np.arange(len(power)), centres, med) + 1e-30


def line_strength(ev: Events, freq_hz: float, settings: StatsSettings = StatsSettings()) -> float:
    """Power at freq_hz (the largest within +-2 bins) over the local median of the spectrum."""
    freqs, power = spectrum(ev, settings.spectrum_bin_us)
    if len(freqs) < 8 or freq_hz >= freqs[-1]:
        return float("nan")
    med = _local_median(freqs, power, settings.spectrum_halfwidth_hz)
    k = int(round(freq_hz / (freqs[1] - freqs[0])))
    sl = slice(max(1, k - 2), k + 3)
    return float(np.max(power[sl] / med[sl]))


def spectrum_peaks(ev: Events, settings: StatsSettings = StatsSettings(), top: int = 5) -> list[dict]:
    """The strongest lines of the event-rate spectrum (frequency, strength x local median)."""
    freqs, power = spectrum(ev, settings.spectrum_bin_us)
    if len(freqs) < 8:
        return []
    med = _local_median(freqs, power, settings.spectrum_halfwidth_hz)
    ratio = power / med
    ratio[freqs < settings.spectrum_min_hz] = 0.0
    ratio[freqs > 0.95 * freqs[-1]] = 0.0  # the local median is one-sided at the Nyquist edge
    out = []
    for k in np.argsort(ratio)[::-1]:
        if len(out) >= top or ratio[k] <= 0:
            break
        if any(abs(freqs[k] - o["hz"]) < 3 * (freqs[1] - freqs[0]) for o in out):
            continue
        out.append({"hz": round(float(freqs[k]), 2), "x_median": round(float(ratio[k]), 1)})
    return out


def event_stats(ev: Events, settings: StatsSettings = StatsSettings()) -> dict:
    """All the statistics of the module docstring, as a JSON-able dict."""
    s = settings
    n = len(ev)
    W, H = ev.width, ev.height
    out: dict = {"events": n, "width": W, "height": H}
    if n < 2:
        out["duration_s"] = 0.0
        return out
    t = ev.t.astype(np.int64)
    t0, t1 = int(t.min()), int(t.max())
    dur = max((t1 - t0) * 1e-9, 1e-9)
    out["duration_s"] = round(dur, 6)
    out["rate_ev_per_s"] = n / dur
    out["on_share"] = float(np.mean(ev.p))

    # Quiet cells.
    win_ns = int(s.window_ms * 1e6)
    n_win = max(1, int(np.ceil((t1 - t0 + 1) / win_ns)))
    bx, by = (W + s.cell_px - 1) // s.cell_px, (H + s.cell_px - 1) // s.cell_px
    w_idx = (t - t0) // win_ns
    cell = (w_idx * by + ev.y.astype(np.int64) // s.cell_px) * bx + ev.x.astype(np.int64) // s.cell_px
    counts = np.bincount(cell, minlength=n_win * bx * by).astype(np.float64)
    # Pixels and duration of each cell (edge blocks are smaller, the last window shorter).
    pw = np.minimum(s.cell_px, W - np.arange(bx) * s.cell_px)
    ph = np.minimum(s.cell_px, H - np.arange(by) * s.cell_px)
    area = (ph[:, None] * pw[None, :]).reshape(-1)
    wdur = np.full(n_win, win_ns * 1e-9)
    wdur[-1] = max((t1 - t0 + 1 - (n_win - 1) * win_ns) * 1e-9, 1e-6)
    expo = (wdur[:, None] * area[None, :]).reshape(-1)  # pixel-seconds of each cell
    cell_rate = counts / expo
    quiet_rate = float(np.clip(s.quiet_factor * np.median(cell_rate), s.quiet_floor, s.quiet_cap))
    out["quiet_threshold_ev_per_pixel_s"] = quiet_rate
    quiet_cell = counts < np.maximum(quiet_rate * expo, s.quiet_min_events)
    quiet_ev = quiet_cell[cell]
    q_expo = float(expo[quiet_cell].sum())
    out["quiet_share_of_pixel_time"] = q_expo / float(expo.sum())
    out["noise_ev_per_pixel_s"] = float(quiet_ev.sum()) / q_expo if q_expo > 0 else float("nan")
    out["noise_on_share"] = float(np.mean(ev.p[quiet_ev])) if quiet_ev.any() else float("nan")

    # Isolation of quiet-cell events: any event on the 8 neighbours within +-isolation_ms.
    iso_ns = int(s.isolation_ms * 1e6)
    idx_sorted, t_sorted, _ = _pixel_order(ev)
    q_idx = np.flatnonzero(quiet_ev)
    if len(q_idx):
        order_key = idx_sorted * (1 << 42) + (t_sorted - t0)
        if len(q_idx) > 200_000:
            q_idx = np.random.default_rng(0).choice(q_idx, 200_000, replace=False)
        qx, qy, qt = ev.x[q_idx].astype(np.int64), ev.y[q_idx].astype(np.int64), t[q_idx]
        has_neighbour = np.zeros(len(q_idx), bool)
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                if dx == 0 and dy == 0:
                    continue
                nx, ny = qx + dx, qy + dy
                inside = (nx >= 0) & (nx < W) & (ny >= 0) & (ny < H)
                key = np.where(inside, ny * W + nx, -1)
                # Events of pixel `key` in [qt - iso, qt + iso]: two searches in the (pixel, t) order.
                lo = np.searchsorted(order_key, key * (1 << 42) + (qt - t0) - iso_ns, "left")
                hi = np.searchsorted(order_key, key * (1 << 42) + (qt - t0) + iso_ns, "right")
                has_neighbour |= inside & (hi > lo)
        out["noise_isolated_share"] = float(np.mean(~has_neighbour))
    else:
        out["noise_isolated_share"] = float("nan")

    # Same-pixel intervals.
    same = idx_sorted[1:] == idx_sorted[:-1]
    iv = (t_sorted[1:] - t_sorted[:-1])[same]
    if len(iv):
        out["interval_us"] = {f"p{q:g}": float(np.percentile(iv, q) / 1e3) for q in (0.1, 1, 5, 50)}
        out["interval_us"]["min"] = float(iv.min() / 1e3)
        out["interval_under_1ms_share"] = float(np.mean(iv < 1_000_000))
    else:
        out["interval_us"] = {}
        out["interval_under_1ms_share"] = float("nan")

    # Events per edge crossing: same-pixel same-polarity runs with gaps under burst_gap_ms, outside quiet cells.
    order = np.lexsort((t, ev.p, ev.y.astype(np.int64) * W + ev.x))
    act = ~quiet_ev[order]
    oi = (ev.y.astype(np.int64) * W + ev.x)[order][act]
    op, ot = ev.p[order][act], t[order][act]
    if len(oi):
        new = np.ones(len(oi), bool)
        new[1:] = (oi[1:] != oi[:-1]) | (op[1:] != op[:-1]) | (ot[1:] - ot[:-1] > s.burst_gap_ms * 1e6)
        sizes = np.diff(np.append(np.flatnonzero(new), len(oi)))
        out["events_per_crossing"] = {"mean": float(sizes.mean()), "p99": float(np.percentile(sizes, 99)),
                                      "crossings": int(len(sizes))}
    else:
        out["events_per_crossing"] = {"mean": float("nan"), "p99": float("nan"), "crossings": 0}

    # Active pixels per window.
    aw = int(s.active_window_ms * 1e6)
    n_aw = max(1, int((t1 - t0) // aw))
    if (t1 - t0) >= aw:
        wi = (t - t0) // aw
        keep = wi < n_aw
        flat = wi[keep] * (W * H) + ev.y[keep].astype(np.int64) * W + ev.x[keep]
        uniq = np.unique(flat)
        per = np.bincount(uniq // (W * H), minlength=n_aw) / float(W * H)
        out["active_pixel_share"] = {"median": float(np.median(per)), "max": float(per.max()), "windows": int(n_aw)}
    else:
        frac = len(np.unique(ev.y.astype(np.int64) * W + ev.x)) / float(W * H) * aw / max(t1 - t0, 1)
        out["active_pixel_share"] = {"median": float(frac), "max": float(frac), "windows": 0,
                                     "note": f"recording shorter than {s.active_window_ms:g} ms: scaled"}
    out["spectrum_peaks"] = spectrum_peaks(ev, s)
    return out


def frame_stats(folder: Path) -> dict:
    """Brightness statistics of a folder of frames (PNG/JPG): percentiles (DN), clipped shares and
    the temporal noise (std of the difference of consecutive frames over sqrt 2, where the scene
    did not change: pixels whose difference is within 3 robust sigmas)."""
    import cv2

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".pgm"))
    if not files:
        raise EventFileError(f"{folder}: no frames (.png/.jpg) found")
    step = max(1, len(files) // 50)
    frames = []
    for p in files[::step]:
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise EventFileError(f"{p}: not a readable image")
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        frames.append(img.astype(np.float64))
    stack = np.stack(frames)
    full = 65535.0 if stack.max() > 255 else 255.0
    out = {"frames": len(files), "sampled": len(frames),
           "dn_percentiles": {f"p{q:g}": float(np.percentile(stack, q)) for q in (1, 50, 99)},
           "black_share": float(np.mean(stack <= 0)), "clipped_share": float(np.mean(stack >= full))}
    if len(files) > 1:
        a = cv2.imread(str(files[0]), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        b = cv2.imread(str(files[1]), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        d = (b - a).reshape(-1)
        mad = np.median(np.abs(d - np.median(d))) * 1.4826
        ok = np.abs(d) <= 3 * max(mad, 0.5)
        out["temporal_noise_dn"] = float(np.std(d[ok]) / np.sqrt(2.0))
    return out


def format_stats(path: str, st: dict, notes: list[str], frames: dict | None = None) -> str:
    """Human-readable report of event_stats (and frame_stats)."""
    lines = [f"{path}: {st['events']:,} events, {st['width']}x{st['height']}, {st.get('duration_s', 0):.3f} s"]
    lines += [f"  note: {n}" for n in notes]
    if st["events"] < 2:
        return "\n".join(lines)
    iv = st["interval_us"]
    epc = st["events_per_crossing"]
    ap = st["active_pixel_share"]
    peaks = ", ".join(f"{p['hz']:g} Hz x{p['x_median']:g}" for p in st["spectrum_peaks"]) or "-"
    lines += [
        f"  event rate             {st['rate_ev_per_s'] / 1e6:.4f} Mev/s, ON share {st['on_share']:.1%}",
        f"  background (quiet)     {st['noise_ev_per_pixel_s']:.4g} ev/pixel/s, ON share {st['noise_on_share']:.1%}, "
        f"isolated {st['noise_isolated_share']:.1%} (quiet cells: {st['quiet_share_of_pixel_time']:.1%} of pixel-time)",
        f"  events per crossing    mean {epc['mean']:.3f}, 99th pct {epc['p99']:g} ({epc['crossings']:,} crossings)",
        "  same-pixel intervals   " + (", ".join(f"{k} {v:,.1f} us" for k, v in iv.items()) or "-")
        + f"; under 1 ms {st['interval_under_1ms_share']:.3%}",
        f"  active pixels / 33 ms  median {ap['median']:.3%}, max {ap['max']:.3%}" + (f" ({ap['note']})" if 'note' in ap else ""),
        f"  spectrum peaks         {peaks}",
    ]
    if frames:
        pc = frames["dn_percentiles"]
        lines.append(f"  frames                 {frames['frames']} ({frames['sampled']} sampled): DN p1 {pc['p1']:g}, "
                     f"median {pc['p50']:g}, p99 {pc['p99']:g}; black {frames['black_share']:.2%}, "
                     f"clipped {frames['clipped_share']:.2%}"
                     + (f"; temporal noise {frames['temporal_noise_dn']:.2f} DN" if "temporal_noise_dn" in frames else ""))
    return "\n".join(lines)


# Rows of the side-by-side table (several paths): label, how to read the value from a report.
TABLE_ROWS = (
    ("background ev/pixel/s", lambda e, f: f"{e['noise_ev_per_pixel_s']:.4f}"),
    ("background ON share", lambda e, f: f"{e['noise_on_share']:.0%}"),
    ("background isolated", lambda e, f: f"{e['noise_isolated_share']:.0%}"),
    ("events per crossing, mean / p99",
     lambda e, f: f"{e['events_per_crossing']['mean']:.2f} / {e['events_per_crossing']['p99']:g}"),
    ("same-pixel intervals < 1 ms", lambda e, f: f"{e['interval_under_1ms_share']:.3%}"),
    ("minimum same-pixel interval (us)", lambda e, f: f"{e['interval_us'].get('min', float('nan')):,.0f}"),
    ("active pixels per 33 ms (median)", lambda e, f: f"{e['active_pixel_share']['median']:.2%}"),
    ("strongest spectrum line", lambda e, f: (f"{e['spectrum_peaks'][0]['hz']:g} Hz x{e['spectrum_peaks'][0]['x_median']:g}"
                                               if e["spectrum_peaks"] else "-")),
    ("frames: DN 1st pct / median", lambda e, f: f"{f['dn_percentiles']['p1']:g} / {f['dn_percentiles']['p50']:g}" if f else "-"),
    ("frames: temporal noise (DN)", lambda e, f: f"{f['temporal_noise_dn']:.2f}" if f and "temporal_noise_dn" in f else "-"),
)


def format_table(reports: list[dict]) -> str:
    """A markdown table with one column per report (path), the rows of TABLE_ROWS."""
    head = "| statistic | " + " | ".join(Path(r["path"]).name or r["path"] for r in reports) + " |"
    lines = [head, "|---|" + "---|" * len(reports)]
    for label, get in TABLE_ROWS:
        cells = []
        for r in reports:
            try:
                cells.append(get(r["events"], r["frames"]))
            except (KeyError, IndexError, TypeError, ValueError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_stats(args) -> int:
    """`had events stats` (parser in had_ros/events/cli.py)."""
    settings = StatsSettings(cell_px=args.cell_px, window_ms=args.window_ms, burst_gap_ms=args.burst_gap_ms)
    reports = []
    for path in map(Path, args.path):
        events, notes = load_events(path)
        st = event_stats(events, settings)
        frames = None
        folder = args.frames if args.frames is not None else (path / "frames" if (path / "frames").is_dir() else None)
        if folder is not None:
            frames = frame_stats(Path(folder))
        reports.append({"path": str(path), "notes": notes, "events": st, "frames": frames})
    if args.json:
        print(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))
    elif len(reports) == 1:
        r = reports[0]
        print(format_stats(r["path"], r["events"], r["notes"], r["frames"]))
    else:
        for r in reports:
            for n in r["notes"]:
                print(f"{r['path']}: note: {n}")
        print(format_table(reports))
    return 0


def add_stats_arguments(p) -> None:
    p.add_argument("path", type=Path, nargs="+",
                   help="event file (.raw EVT3, .aedat4, .npz) or a had_sim sequence folder; several give a "
                        "side-by-side table (e.g. your camera's recording beside generated sequences)")
    p.add_argument("--frames", type=Path, default=None, metavar="DIR",
                   help="also summarise the frames in DIR (default: PATH/frames for a sequence folder)")
    p.add_argument("--cell-px", type=int, default=StatsSettings.cell_px, metavar="N",
                   help=f"block size of the quiet-region test (default {StatsSettings.cell_px})")
    p.add_argument("--window-ms", type=float, default=StatsSettings.window_ms, metavar="MS",
                   help=f"time window of the quiet-region test (default {StatsSettings.window_ms:g})")
    p.add_argument("--burst-gap-ms", type=float, default=StatsSettings.burst_gap_ms, metavar="MS",
                   help=f"largest gap inside one edge crossing (default {StatsSettings.burst_gap_ms:g})")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_stats)

