"""`had simulate` and `had dataset` command lines."""
from __future__ import annotations

import argparse

# == had simulate (worker SIM) ======================================================================


def add_simulate_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of `had simulate`."""
    from had_ros.data.sim_plan import ATTRIBUTES

    parser.description = (
        "Generate synthetic RGB + event tracking sequences (had_sim/1 layout: frames/, events.raw, "
        "frame_times.txt, groundtruth.txt, absent.txt, meta.json, preview.png). Scenes are rendered "
        "at --render-rate; events come from a log-intensity pixel model, frames from an exposure model "
        "(motion blur, low-light noise, HDR clipping). Same seed, same files."
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (one subfolder per sequence)")
    parser.add_argument("--sequences", type=int, default=4, metavar="N", help="number of sequences (default 4)")
    parser.add_argument("--frames", type=int, default=100, metavar="F", help="frames per sequence (default 100)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of the run (default 0)")
    parser.add_argument("--width", type=int, default=346, help="image width (default 346, DAVIS346)")
    parser.add_argument("--height", type=int, default=260, help="image height (default 260)")
    parser.add_argument("--fps", type=float, default=30.0, help="RGB frame rate in Hz (default 30)")
    parser.add_argument("--render-rate", type=float, default=1000.0, metavar="HZ",
                        help="internal render rate for events in Hz (default 1000)")
    parser.add_argument("--attributes", default="", metavar="LIST",
                        help="comma-separated attributes forced on every sequence, from: " + ", ".join(ATTRIBUTES))
    parser.add_argument("--mix-probability", type=float, default=0.3, metavar="P",
                        help="chance of each other attribute per sequence; with P > 0 a run of several "
                             "sequences covers every attribute (default 0.3; 0 = only the forced ones)")
    from had_ros.data.sim_sensors import DEFAULT_SENSOR, PROFILE_FILE, sensor_names

    parser.add_argument("--sensor", choices=sensor_names(), default=DEFAULT_SENSOR,
                        help=f"event sensor profile (default {DEFAULT_SENSOR}; parameters and their published "
                             f"sources in had_ros/data/{PROFILE_FILE.name}; 'ideal' = no lag, leak or jitter)")
    from had_ros.data.sim_sensors import DEFAULT_CAMERA, frame_camera_names

    parser.add_argument("--camera", choices=frame_camera_names(), default=DEFAULT_CAMERA,
                        help=f"frame camera profile (default {DEFAULT_CAMERA}: the DAVIS346 color APS, linear, "
                             "no gain, bounded exposure, fixed-pattern noise; davis346-mono; rgb = auto-exposed "
                             "machine-vision RGB with gain and gamma)")
    parser.add_argument("--contrast-threshold", type=float, default=None, metavar="C",
                        help="event ON and OFF log-intensity threshold (default: the sensor profile's)")
    parser.add_argument("--noise-rate", type=float, default=None, metavar="HZ",
                        help="shot-noise events per pixel per second at the profile's reference light "
                             "(default: the sensor profile's; rises in the dark for real-sensor profiles)")
    parser.add_argument("--bag", action="store_true",
                        help="also write each sequence as a rosbag2 MCAP folder <seq>/<seq>.mcap")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="sequences generated in parallel processes (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing had_sim sequence folders")
    parser.set_defaults(func=run_simulate)


def _simulate_config(args: argparse.Namespace):
    from dataclasses import replace

    from had_ros.data.sim_plan import ATTRIBUTES
    from had_ros.data.sim_sensors import frame_camera_profile, sensor_profile
    from had_ros.data.simulator import SimConfig
    from had_ros.errors import HadError

    forced = frozenset(a.strip() for a in args.attributes.split(",") if a.strip())
    unknown = sorted(forced - set(ATTRIBUTES))
    if unknown:
        raise HadError(f"--attributes: unknown {unknown}; expected some of {', '.join(ATTRIBUTES)}")
    for flag, value, ok in (("--sequences", args.sequences, args.sequences >= 1),
                            ("--workers", args.workers, args.workers >= 1),
                            ("--mix-probability", args.mix_probability, 0.0 <= args.mix_probability <= 1.0),
                            ("--contrast-threshold", args.contrast_threshold,
                             args.contrast_threshold is None or args.contrast_threshold > 0),
                            ("--noise-rate", args.noise_rate, args.noise_rate is None or args.noise_rate >= 0)):
        if not ok:
            raise HadError(f"{flag}: bad value {value}")
    events = sensor_profile(args.sensor)
    if args.contrast_threshold is not None:
        events = replace(events, threshold_on=args.contrast_threshold, threshold_off=args.contrast_threshold)
    if args.noise_rate is not None:
        events = replace(events, noise_rate_hz=args.noise_rate)
    config = SimConfig(width=args.width, height=args.height, fps=args.fps, num_frames=args.frames,
                       render_rate=args.render_rate, events=events, camera=frame_camera_profile(args.camera))
    return config, forced


def run_simulate(args: argparse.Namespace) -> int:
    import time
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context
    from pathlib import Path

    from tqdm import tqdm

    from had_ros.data.simulator import generate_to_folder, plan_attributes

    config, forced = _simulate_config(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mix = plan_attributes(args.sequences, args.seed, forced, args.mix_probability)
    start = time.perf_counter()
    summaries = []
    with tqdm(total=args.sequences, desc="sequences", unit="seq") as bar:
        if args.workers == 1:
            for i, attrs in enumerate(mix):
                with tqdm(total=config.num_frames, desc=f"sim_{i:04d}", unit="frame", leave=False) as fbar:
                    summaries.append(generate_to_folder(out, i, args.seed, attrs, config, bag=args.bag,
                                                        overwrite=args.overwrite, progress=fbar.update))
                bar.update(1)
        else:
            # spawn, not fork: OpenCV's thread pool does not survive a fork reliably.
            with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(generate_to_folder, out, i, args.seed, attrs, config, args.bag,
                                       args.overwrite) for i, attrs in enumerate(mix)]
                for fut in as_completed(futures):
                    summaries.append(fut.result())
                    bar.update(1)
    elapsed = time.perf_counter() - start
    summaries.sort(key=lambda s: s["name"])
    for s in summaries:
        print(f"{s['name']}: {s['frames']} frames, {s['events']:,} events, "
              f"attributes: {', '.join(s['attributes']) or '-'}")
    n_frames = sum(s["frames"] for s in summaries)
    print(f"wrote {len(summaries)} sequences to {out}{' (with bags)' if args.bag else ''} in {elapsed:.1f} s: "
          f"{len(summaries) / elapsed * 60:.1f} sequences/min at {config.width}x{config.height}, "
          f"{config.num_frames} frames each, {config.render_rate:g} Hz rendering, {config.events.name} sensor; "
          f"{n_frames / elapsed:.1f} frames/s")
    return 0


# == end of had simulate ==========================================================================


def add_layout_options(parser: argparse.ArgumentParser) -> None:
    """--layout and --fps: how a dataset folder is opened (`had dataset info`, `had eval`)."""
    from had_ros.data.layouts import layouts

    choices = [lay.name for lay in layouts()]
    parser.add_argument("--layout", choices=choices,
                        help="dataset layout, skipping autodetection: "
                             + "; ".join(f"{lay.name} {lay.files}" for lay in layouts()))
    parser.add_argument("--fps", type=float,
                        help="force fixed-rate frame times: frame i at first event + (i + 1) / FPS "
                             "(default: the dataset's own timestamps)")


def open_dataset_args(args: argparse.Namespace, root) -> list:
    """The sequences of ``root`` opened with the --layout/--fps of ``args``."""
    from had_ros.data.loaders import open_dataset

    return open_dataset(root, layout=args.layout, fps=args.fps)


def add_dataset_parser(parser: argparse.ArgumentParser) -> None:
    """`had dataset info DIR [--json] [--layout L] [--fps F] [--no-events]`."""
    sub = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND")
    info = sub.add_parser(
        "info", help="sequences, frames, resolution, events and attributes of a dataset folder",
        description="Summarise a dataset folder (a root with list.txt or sequence subfolders, or one "
                    "sequence folder): one row per sequence, then totals and attribute counts.",
    )
    info.add_argument("dir", help="dataset root or one sequence folder")
    add_layout_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.add_argument("--no-events", action="store_true",
                      help="do not read event files (fast; no event counts, durations only where cheap)")
    info.set_defaults(func=_dataset_info)


def _dataset_info(args: argparse.Namespace) -> int:
    import json
    import sys

    from tqdm import tqdm

    from had_ros.errors import DatasetError

    seqs = open_dataset_args(args, args.dir)
    rows, errors = [], []
    for seq in tqdm(seqs, desc="reading events", unit="seq", disable=args.no_events or len(seqs) < 2 or args.json):
        row = {
            "name": seq.name, "layout": seq.layout, "frames": len(seq), "width": seq.width,
            "height": seq.height, "present": int((~seq.absent).sum()), "events": None,
            "duration_s": None, "attributes": sorted(seq.attributes),
            "frame_times": seq.frame_time_source, "error": None,
            "modalities": list(getattr(seq, "modalities", ())), "warnings": [],
        }
        try:
            if not args.no_events and seq.has_events:
                row["events"] = seq.num_events
            if not args.no_events or seq.frame_times_ready:
                row["duration_s"] = seq.duration_ns / 1e9
        except DatasetError as exc:
            row["error"] = str(exc)
            errors.append(str(exc))
        finally:
            release = getattr(seq, "release", None)
            if release:
                release()  # counting needs the stream once; don't keep every sequence's in memory
        row["frames"] = len(seq)  # reading the frame times may trim a sequence (see Sequence)
        row["present"] = int((~seq.absent).sum())
        row["warnings"] = list(getattr(seq, "warnings", []))
        rows.append(row)

    attributes: dict[str, int] = {}
    for r in rows:
        for a in r["attributes"]:
            attributes[a] = attributes.get(a, 0) + 1
    totals = {
        "sequences": len(rows),
        "frames": sum(r["frames"] for r in rows),
        "present": sum(r["present"] for r in rows),
        "events": sum(r["events"] or 0 for r in rows) if not args.no_events else None,
        "duration_s": sum(r["duration_s"] or 0.0 for r in rows),
        "duration_known": sum(r["duration_s"] is not None for r in rows),  # sequences in duration_s
    }
    if args.json:
        print(json.dumps({"root": str(args.dir), "sequences": rows, "totals": totals,
                          "attributes": dict(sorted(attributes.items())), "errors": errors}, indent=2))
        return 1 if errors else 0

    def fmt(v, digits=2):
        if v is None:
            return "-"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    header = ["sequence", "layout", "modalities", "frames", "size", "present", "events", "duration s",
              "attributes"]
    table = [header] + [
        [r["name"], r["layout"], ",".join(r["modalities"]) or "-", fmt(r["frames"]),
         f"{r['width']}x{r['height']}", fmt(r["present"]),
         fmt(r["events"]) if r["error"] is None else "ERROR", fmt(r["duration_s"]),
         ",".join(r["attributes"]) or "-"]
        for r in rows
    ]
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    for k, row in enumerate(table):
        print("  ".join(cell.ljust(w) if c in (0, 1, 2, 8) else cell.rjust(w)
                        for c, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\ntotal: {totals['sequences']} sequences, {totals['frames']} frames "
          f"({totals['present']} with the target present), "
          f"{fmt(totals['events'])} events, {totals['duration_s']:.2f} s"
          + ("" if totals["duration_known"] == len(rows)
             else f" (duration of the {totals['duration_known']} sequences with known frame times)"))
    notes = sorted({(s.layout, getattr(s, "modality_note", "")) for s in seqs if getattr(s, "modality_note", "")})
    for layout, note in notes:
        print(f"note ({layout}): {note}")
    warned = sum(bool(r["warnings"]) for r in rows)
    if warned:
        print(f"{warned} sequences were read with warnings (tolerated quirks, printed above; "
              "--json lists them)")
    if attributes:
        print("\nattribute          sequences")
        for name, count in sorted(attributes.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"{name:<18} {count:>9}")
    for e in errors:
        print(f"had dataset: error: {e}", file=sys.stderr)
    return 1 if errors else 0
