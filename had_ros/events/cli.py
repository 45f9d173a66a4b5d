"""`had events info PATH`: what an event file holds."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from had_ros.errors import EventFileError


def add_events_parser(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="events_command", metavar="SUBCOMMAND")
    info = sub.add_parser(
        "info", help="resolution, event count, duration, rate and ON fraction of an event file",
        description="Summarise an event file (.raw EVT 3.0/2.0/2.1, .aedat4 or had_ros .npz). Older "
                    ".raw headers without a geometry line get the resolution from the sensor generation "
                    "in plugin_name (gen41 -> 1280x720, gen3 -> 640x480, ...).",
    )
    info.add_argument("path", type=Path, help="event file")
    info.set_defaults(func=run_info)
    from had_ros.events.stats import add_stats_arguments  # issue 9: `had events stats`

    add_stats_arguments(sub.add_parser(
        "stats", help="noise rate, isolation, events per edge crossing, intervals, active pixels, spectrum",
        description="Sensor statistics of an event file or a had_sim sequence folder (see had_ros/events/stats.py "
                    "for the definitions), to compare generated data with a real camera."))


# Decoder counters of input that did not become events (see the decoders' docstrings), and of
# events kept with a changed time.
SKIP_COUNTERS = ("truncated_bytes", "unknown_words", "before_time_high", "no_address_y", "no_base_x",
                 "out_of_sensor")
ADJUST_COUNTERS = ("time_clamped",)


def file_summary(path: Path) -> dict:
    """The numbers `had events info` prints, as a dict."""
    from had_ros.events import io

    path = Path(path)
    if not path.exists():
        raise EventFileError(f"{path}: no such event file")
    kind = io._kind(path) if path.is_file() else None
    triggers = None
    stats: dict = {}
    if kind == "raw":
        with open(path, "rb") as f:
            encoding, _, _ = io.raw_format(io.parse_raw_header(f)[0], str(path))
        events, trig = io.read_raw(path, with_triggers=True, stats=stats)
        triggers = len(trig)
        fmt = f"Prophesee .raw ({encoding})"
    elif kind == "aedat4":
        events = io.read_events(path)
        fmt = "AEDAT4"
    else:
        events = io.read_events(path)
        fmt = f"had_ros event file ({io.OWN_FORMAT})"
    n = len(events)
    duration_ns = int(events.t[-1] - events.t[0]) if n > 1 else 0
    return {
        "path": str(path), "format": fmt, "width": events.width, "height": events.height, "events": n,
        "t_start_ns": events.t_start, "t_end_ns": events.t_end, "duration_s": duration_ns / 1e9,
        "rate_mev_s": (n / (duration_ns / 1e9) / 1e6) if duration_ns > 0 else None,
        "on_fraction": float(np.count_nonzero(events.p) / n) if n else None,
        "triggers": triggers,
        # what the decoder skipped or dropped, so nothing is lost silently
        "skipped": {k: int(stats[k]) for k in SKIP_COUNTERS if stats.get(k)},
        "adjusted": {k: int(stats[k]) for k in ADJUST_COUNTERS if stats.get(k)},
    }


def run_info(args: argparse.Namespace) -> int:
    s = file_summary(args.path)
    print(f"file:        {s['path']}")
    print(f"format:      {s['format']}")
    print(f"resolution:  {s['width']}x{s['height']}")
    print(f"events:      {s['events']}")
    if s["events"]:
        print(f"time:        {s['t_start_ns'] / 1e9:.6f} .. {s['t_end_ns'] / 1e9:.6f} s")
    print(f"duration:    {s['duration_s']:.6f} s")
    rate = s["rate_mev_s"]
    print(f"rate:        {rate:.4f} Mev/s" if rate is not None else "rate:        n/a")
    on = s["on_fraction"]
    print(f"ON fraction: {on:.4f}" if on is not None else "ON fraction: n/a")
    if s["triggers"]:
        print(f"triggers:    {s['triggers']}")
    for name, count in s["skipped"].items():
        print(f"skipped:     {count} {name.replace('_', ' ')}")
    if s["adjusted"].get("time_clamped"):
        print(f"kept:        {s['adjusted']['time_clamped']} events stamped earlier than one before them, "
              "given that newer time (the sensor's clock stepped back)")
    return 0
