"""Event files: Prophesee .raw (EVT 3.0, 2.0, 2.1), AEDAT4 (.aedat4) and had_ros's own .npz format.

Own format ("had_events/1"): an uncompressed or deflated numpy .npz (zip of .npy, no pickle)
holding x uint16, y uint16, t int64 ns, p uint8 (1 = ON), width and height (0-d int64) and
format (0-d str "had_events/1"). Any numpy or zip tool can read it.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np

from had_ros.errors import DecodeError, EventFileError
from had_ros.events.codec import Triggers
from had_ros.events.container import Events
from had_ros.events.evt3 import MAX_COORD, encode_evt3

OWN_FORMAT = "had_events/1"
AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"
_CHUNK_BYTES = 1 << 25  # decode .raw files 32 MiB at a time to bound peak memory
_HEADER_LIMIT = 1 << 20
_T_END = (1 << 63) - 1  # after every event time (ns)


# -- Prophesee .raw ------------------------------------------------------------------------------
def parse_raw_header(f: BinaryIO) -> tuple[dict[str, str], int]:
    """Read the '%' text header at the start of ``f``; returns (fields, data offset).

    Fields map the first word of each line to the rest ('geometry' -> '346x260'). The header
    ends at '% end' (newer files) or at the first line that is not header text (older files):
    a header line is printable ASCII starting with '% ', so binary data that happens to
    start with the byte '%' is not taken for text."""
    head = f.read(_HEADER_LIMIT)
    fields: dict[str, str] = {}
    pos = 0
    while head[pos:pos + 1] == b"%":
        end = head.find(b"\n", pos)
        if end < 0:
            break
        line = head[pos:end].rstrip(b"\r")
        if line.strip() == b"% end":
            pos = end + 1
            break
        if not (line == b"%" or line.startswith(b"% ")) or any(c < 0x20 or c > 0x7E for c in line):
            break
        key, _, value = line[2:].decode("ascii").strip().partition(" ")
        if key:
            fields[key] = value.strip()
        pos = end + 1
    return fields, pos


# Sensor generation -> resolution (width, height), for older .raw headers that have no geometry
# line and name the sensor only in `plugin_name` (hal_plugin_gen41_evk3) or `sensor_generation`
# (4.1), as Prophesee's tools resolve it. Keys are the generation as written in plugin names.
SENSOR_GEOMETRY = {
    "atis": (304, 240),     # ATIS (gen 2)
    "gen3": (640, 480),     # Gen3 / Gen3.1 VGA (PPS3MVCD)
    "gen31": (640, 480),
    "gen4": (1280, 720),    # Gen4 HD
    "gen41": (1280, 720),   # Gen4.1 / IMX636 HD
    "imx636": (1280, 720),
    "imx646": (1280, 720),
    "genx320": (320, 320),
}


def sensor_geometry(fields: dict[str, str]) -> tuple[int, int] | None:
    """(width, height) from the sensor generation a .raw header names in `plugin_name` or
    `sensor_generation`, or None when it names none that SENSOR_GEOMETRY knows."""
    lower = {k.lower(): v.strip().lower() for k, v in fields.items()}
    if "plugin_name" in lower:
        for part in re.split(r"[_\s]+", lower["plugin_name"]):
            if part in SENSOR_GEOMETRY:
                return SENSOR_GEOMETRY[part]
    generation = lower.get("sensor_generation", "")
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?", generation)
    if match:  # 4.1 -> gen41, 4.0 and 4 -> gen4
        major, minor = match.groups()
        return SENSOR_GEOMETRY.get(f"gen{major}{minor if minor not in (None, '0') else ''}")
    return None


def raw_format(fields: dict[str, str], name: str) -> tuple[str, int, int]:
    """(encoding, width, height) from the header fields of a .raw file.

    Raises EventFileError when the header names no encoding or no resolution."""
    encoding = None
    params: dict[str, str] = {}
    if "format" in fields:
        encoding, *rest = fields["format"].split(";")
        params = dict(part.split("=", 1) for part in rest if "=" in part)
        encoding = encoding.strip().upper()
    elif "evt" in fields:
        encoding = {"3.0": "EVT3", "2.0": "EVT2", "2.1": "EVT21"}.get(fields["evt"], f"evt {fields['evt']}")
    elif "plugin_name" in fields:
        match = re.search(r"evt(\d+)", fields["plugin_name"].lower())
        encoding = f"EVT{match.group(1)}" if match else None
    if encoding is None:
        raise EventFileError(
            f"{name}: the .raw header names no event encoding (expected '% evt 3.0' or "
            f"'% format EVT3;height=H;width=W'); header keys found: {sorted(fields) or 'none'}"
        )
    width = height = None
    if "width" in params and "height" in params:
        width, height = params["width"], params["height"]
    elif "geometry" in fields:
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", fields["geometry"])
        if match:
            width, height = match.groups()
    else:
        lower = {k.lower(): v for k, v in fields.items()}
        width, height = lower.get("width"), lower.get("height")
        if width is None or height is None:
            width, height = sensor_geometry(fields) or (None, None)
    try:
        width, height = int(width), int(height)
    except (TypeError, ValueError):
        raise EventFileError(
            f"{name}: the .raw header gives no sensor resolution (expected '% geometry WxH', "
            f"'% format EVT3;height=H;width=W', or a sensor generation in '% plugin_name' such as "
            f"hal_plugin_gen41_evk3; known generations: {', '.join(sorted(SENSOR_GEOMETRY))})"
        ) from None
    return encoding, width, height


# .raw header encodings -> make_decoder keys
RAW_ENCODINGS = {"EVT3": "evt3", "EVT2": "evt2", "EVT21": "evt21"}


def _raw_decoder(fields: dict[str, str], name: str):
    """The stateful decoder for a .raw file's header (EventFileError for unsupported ones)."""
    from had_ros.events.decoders import make_decoder

    encoding, width, height = raw_format(fields, name)
    if encoding not in RAW_ENCODINGS:
        raise EventFileError(f"{name}: event encoding {encoding} is not supported "
                             f"(supported: {', '.join(RAW_ENCODINGS)})")
    options = {}
    if encoding == "EVT21":
        params = dict(part.split("=", 1) for part in fields.get("format", "").split(";")[1:] if "=" in part)
        options["endianness"] = "legacy" if params.get("endianness", "").strip().lower() == "legacy" else "little"
    return make_decoder(RAW_ENCODINGS[encoding], width, height, **options)


def iter_raw(path: str | os.PathLike, chunk_bytes: int = _CHUNK_BYTES, stats: dict | None = None):
    """Decode a Prophesee .raw file (EVT 3.0, 2.0 or 2.1) ``chunk_bytes`` at a time: yields
    (Events, Triggers) per chunk, sorted by time within and across chunks, so memory stays bounded
    by the chunk whatever the file's size. ``stats`` (a dict) receives the decoder's counters when
    the iteration ends. Raises EventFileError for a missing file, an unsupported encoding or a
    header without resolution."""
    path = Path(path)
    _require_file(path)
    with open(path, "rb") as f:
        fields, offset = parse_raw_header(f)
        decoder = _raw_decoder(fields, str(path))
        f.seek(offset)
        size = path.stat().st_size - offset
        from tqdm import tqdm

        try:
            with tqdm(total=size, unit="B", unit_scale=True, desc=path.name,
                      disable=size < 4 * _CHUNK_BYTES, leave=False) as bar:
                while chunk := f.read(max(int(chunk_bytes), 8)):
                    events = decoder.decode(chunk)
                    bar.update(len(chunk))
                    yield events, decoder.triggers
            decoder.finish()
        finally:
            if stats is not None:
                stats.update(decoder.stats)


def read_raw(path: str | os.PathLike, with_triggers: bool = False, stats: dict | None = None,
             t0: int | None = None, t1: int | None = None):
    """Events of a Prophesee .raw file, EVT 3.0, 2.0 or 2.1 (and its Triggers when ``with_triggers``).

    With ``t0``/``t1`` (ns), only the events with t0 <= t < t1: the file is decoded in chunks
    (see iter_raw) and reading stops at the first event at or after t1, so a window of a large
    file needs memory for the window only. Raises EventFileError for a missing file, an
    unsupported encoding or a header without resolution. A truncated last word is dropped (the
    decoder counts it); pass a dict as ``stats`` to receive the decoder's counters (skipped
    words, dropped or re-stamped events, truncated bytes)."""
    parts, triggers = [], []
    width = height = None
    lo = -(1 << 63) if t0 is None else int(t0)
    hi = _T_END if t1 is None else int(t1)
    for events, trig in iter_raw(path, stats=stats):
        width, height = events.width, events.height
        if len(events) and events.t[0] >= hi:
            break
        parts.append(events.time_window(lo, hi) if (t0 is not None or t1 is not None) else events)
        triggers.append(trig)
        if len(events) and events.t[-1] >= hi:
            break
    if width is None:  # no data after the header
        with open(path, "rb") as f:
            _, width, height = raw_format(parse_raw_header(f)[0], str(path))
    events = Events.concatenate(parts, width, height)
    if not (with_triggers):
        return events
    trig = Triggers.concatenate(triggers)
    if t0 is not None or t1 is not None:
        keep = (trig.t >= lo) & (trig.t < hi)
        trig = Triggers(trig.t[keep], trig.p[keep], trig.id[keep])
    return events, trig


def iter_windows(path: str | os.PathLike, window_ns: int, t_start: int | None = None,
                 chunk_bytes: int = _CHUNK_BYTES):
    """Consecutive time windows [a, a + window_ns) of an event file, from ``t_start`` (default:
    the first event): yields (a, Events). .raw and .aedat4 files are read piece by piece, so
    memory holds about one window and one read chunk (``chunk_bytes`` of a .raw file, one packet
    of an .aedat4 file); .npz files are loaded whole. Windows
    without events are yielded too (empty), so the k-th window always starts at
    t_start + k * window_ns. Raises EventFileError as read_events, and for window_ns <= 0."""
    window_ns = int(window_ns)
    if window_ns <= 0:
        raise EventFileError(f"{path}: window must be > 0 ns, got {window_ns}")
    start = None if t_start is None else int(t_start)
    pending: list[Events] = []
    for chunk in _event_chunks(Path(path), chunk_bytes):
        if not len(chunk):
            continue
        if start is None:
            start = int(chunk.t[0])
        pending.append(chunk)
        buf = Events.concatenate(pending).time_window(start, _T_END)  # nothing before the window kept
        while len(buf) and buf.t[-1] >= start + window_ns:  # the window [start, start + w) is complete
            yield start, buf.time_window(start, start + window_ns)
            start += window_ns
            buf = buf.time_window(start, _T_END)
        pending = [buf]
    if start is not None and pending and len(pending[0]):
        buf = pending[0]
        while len(buf):
            yield start, buf.time_window(start, start + window_ns)
            start += window_ns
            buf = buf.time_window(start, _T_END)


def _event_chunks(path: Path, chunk_bytes: int):
    """Events of a file piece by piece, in time order (the streaming source of iter_windows)."""
    _require_file(path)
    kind = _kind(path)
    if kind == "raw":
        for events, _ in iter_raw(path, chunk_bytes):
            yield events
    elif kind == "aedat4":
        from had_ros.events.aedat4 import iter_aedat4

        yield from iter_aedat4(path)
    else:
        yield read_own(path)


def raw_header_text(width: int, height: int, extra: dict[str, str] | None = None) -> bytes:
    lines = ["% evt 3.0", f"% format EVT3;height={height};width={width}", f"% geometry {width}x{height}",
             "% generator had_ros"]
    lines += [f"% {k} {v}" for k, v in (extra or {}).items()]
    lines.append("% end")
    return ("\n".join(lines) + "\n").encode("ascii")


def write_raw(path: str | os.PathLike, events: Events, header: dict[str, str] | None = None,
              chunk_events: int = 1 << 20) -> None:
    """Write a Prophesee-style EVT3 .raw file: '% evt 3.0', '% format EVT3;height=H;width=W',
    '% geometry WxH', '% end', then the EVT3 words (times floored to µs), encoded
    ``chunk_events`` at a time so memory stays bounded for long recordings.

    Raises EventFileError when the sensor is larger than EVT3's 2048x2048."""
    if events.width > MAX_COORD or events.height > MAX_COORD:
        raise EventFileError(
            f"{path}: EVT3 holds sensors up to {MAX_COORD}x{MAX_COORD}, got {events.width}x{events.height}"
        )
    for key, value in (header or {}).items():
        if not re.fullmatch(r"[A-Za-z_][\w.]*", key) or "\n" in str(value):
            raise EventFileError(f"{path}: bad .raw header field {key!r}: {value!r}")
    with open(path, "wb") as f:
        f.write(raw_header_text(events.width, events.height, header))
        prev_us = None
        for start in range(0, len(events), max(int(chunk_events), 1)):
            chunk = events[start:start + chunk_events]
            f.write(encode_evt3(chunk, prev_time_us=prev_us))
            prev_us = int(chunk.t[-1]) // 1000


# -- own format ------------------------------------------------------------------------------------
def write_events(path: str | os.PathLike, events: Events, compress: bool = False) -> None:
    """Write events in had_ros's own format (.npz, see the module docstring) at exactly ``path``."""
    arrays = dict(x=events.x, y=events.y, t=events.t, p=events.p,
                  width=np.int64(events.width), height=np.int64(events.height),
                  format=np.array(OWN_FORMAT))
    with open(path, "wb") as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)


def read_own(path: str | os.PathLike) -> Events:
    """Events of a had_ros .npz event file. Raises EventFileError naming a missing or bad field."""
    path = Path(path)
    _require_file(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"x", "y", "t", "p", "width", "height"} - set(z.files)
            if missing:
                raise EventFileError(f"{path}: not a had_ros event file, missing fields {sorted(missing)}")
            fmt = str(z["format"]) if "format" in z.files else OWN_FORMAT
            if fmt != OWN_FORMAT:
                raise EventFileError(f"{path}: event file format {fmt!r} is not {OWN_FORMAT!r}")
            ev = Events.from_arrays(z["x"], z["y"], z["t"], z["p"], int(z["width"]), int(z["height"]))
    except (ValueError, OSError, KeyError) as exc:
        if isinstance(exc, EventFileError):
            raise
        raise EventFileError(f"{path}: cannot read as a had_ros .npz event file ({exc})") from None
    except DecodeError as exc:
        raise EventFileError(f"{path}: {exc}") from None
    return ev


# -- dispatch --------------------------------------------------------------------------------------
def read_events(path: str | os.PathLike, t0: int | None = None, t1: int | None = None) -> Events:
    """Events of a file: Prophesee .raw (EVT 3.0/2.0/2.1), .aedat4, or had_ros .npz (chosen by
    suffix, else by the file's first bytes). With ``t0``/``t1`` (ns) only the events with
    t0 <= t < t1; .raw and .aedat4 files are then read piece by piece up to t1, not whole.
    Raises EventFileError for a missing or unknown file."""
    path = Path(path)
    _require_file(path)
    kind = _kind(path)
    if kind == "raw":
        return read_raw(path, t0=t0, t1=t1)
    if kind == "aedat4":
        from had_ros.events.aedat4 import read_aedat4

        return read_aedat4(path, t0=t0, t1=t1)
    events = read_own(path)
    if t0 is None and t1 is None:
        return events
    return events.time_window(-(1 << 63) if t0 is None else int(t0), _T_END if t1 is None else int(t1))


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".raw", ".aedat4", ".npz"):
        return {".raw": "raw", ".aedat4": "aedat4", ".npz": "own"}[suffix]
    with open(path, "rb") as f:
        head = f.read(len(AEDAT4_MAGIC))
    if head.startswith(AEDAT4_MAGIC):
        return "aedat4"
    if head.startswith(b"PK"):
        return "own"
    if head.startswith(b"% "):
        return "raw"
    raise EventFileError(
        f"{path}: unknown event file format (expected a Prophesee .raw with '%' header, an "
        f".aedat4 file or a had_ros .npz event file)"
    )


def _require_file(path: Path) -> None:
    if not path.exists():
        raise EventFileError(f"{path}: no such event file")
    if not path.is_file():
        raise EventFileError(f"{path}: is not a file")
