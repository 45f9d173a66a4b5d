"""AEDAT4 files (iniVation DV; the recordings of FE108, COESOT, VisEvent): read with the
`aedat` package, and a small uncompressed writer for fixtures and conversions.

AEDAT4 layout: the magic '#!AER-DAT4.0\\r\\n', a uint32 length and an IOHeader flatbuffer
(compression, data table position, an XML description of the streams with their sizes),
then packets: uint32 stream id, uint32 length, a size-prefixed flatbuffer whose identifier
is the stream type (EVTS: events with t µs, x, y, on; FRME: frames).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from had_ros.errors import EventFileError
from had_ros.events.container import Events

_MAGIC = b"#!AER-DAT4.0\r\n"
# The Event struct of events.fbs: int64 t, int16 x, int16 y, bool on, padded to 16 bytes.
_EVENT_STRUCT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                          "offsets": [0, 8, 10, 12], "itemsize": 16})
_FRAME_FORMATS = {"L": (0, 1), "RGB": (16, 3), "RGBA": (24, 4)}  # PIL mode -> (OpenCV code, channels)


def _decoder(path: Path):
    if not path.is_file():
        raise EventFileError(f"{path}: no such AEDAT4 file")
    try:
        import aedat
    except ImportError:
        raise EventFileError(f"{path}: reading AEDAT4 needs the 'aedat' package (pip install aedat)") from None
    try:
        return aedat.Decoder(str(path))
    except Exception as exc:  # the Rust reader raises plain RuntimeError/OSError
        raise EventFileError(f"{path}: not a readable AEDAT4 file ({exc})") from None


def _streams(decoder, path: Path, kind: str) -> dict[int, dict]:
    streams = {sid: s for sid, s in decoder.id_to_stream().items() if s.get("type") == kind}
    if not streams:
        raise EventFileError(f"{path}: the AEDAT4 file has no {kind} stream")
    return streams


def _packets(decoder, path: Path):
    try:
        yield from decoder
    except Exception as exc:
        raise EventFileError(f"{path}: corrupt AEDAT4 packet ({exc})") from None


def iter_aedat4(path: str | os.PathLike):
    """The polarity events of the first event stream of an AEDAT4 file, one Events per packet
    as the file stores them (times µs -> ns), read piece by piece (the file is never whole in
    memory). Raises EventFileError for a missing or corrupt file or one without event stream."""
    path = Path(path)
    decoder = _decoder(path)
    streams = _streams(decoder, path, "events")
    sid = min(streams)
    width, height = int(streams[sid]["width"]), int(streams[sid]["height"])
    for packet in _packets(decoder, path):
        if packet["stream_id"] == sid and "events" in packet:
            ev = packet["events"]
            yield Events.from_arrays(ev["x"], ev["y"], ev["t"].astype(np.int64) * 1000, ev["on"], width, height)


def read_aedat4(path: str | os.PathLike, t0: int | None = None, t1: int | None = None) -> Events:
    """Polarity events of the first event stream of an AEDAT4 file (times µs -> ns); with
    ``t0``/``t1`` (ns) only those with t0 <= t < t1, reading packets until the first one that
    starts at or after t1 (so a window of a long recording needs memory for the window only).

    Raises EventFileError for a missing or corrupt file or one without event stream."""
    path = Path(path)
    decoder = _decoder(path)
    streams = _streams(decoder, path, "events")
    sid = min(streams)
    width, height = int(streams[sid]["width"]), int(streams[sid]["height"])
    lo = -(1 << 63) if t0 is None else int(t0)
    hi = (1 << 63) - 1 if t1 is None else int(t1)
    parts = []
    for ev in iter_aedat4(path):
        if len(ev) and ev.t[0] >= hi:
            break
        parts.append(ev if t0 is None and t1 is None else ev[(ev.t >= lo) & (ev.t < hi)])
    return Events.concatenate(parts, width, height)


def read_aedat4_frames(path: str | os.PathLike) -> tuple[list[np.ndarray], np.ndarray]:
    """(frames, times): the frames of the first frame stream (H x W gray or H x W x 3/4, as
    stored: uint8 or uint16) and their timestamps in ns (int64).

    Raises EventFileError for a missing or corrupt file or one without frame stream."""
    path = Path(path)
    decoder = _decoder(path)
    sid = min(_streams(decoder, path, "frame"))
    frames, times = [], []
    for packet in _packets(decoder, path):
        if packet["stream_id"] == sid and "frame" in packet:
            frames.append(np.asarray(packet["frame"]["pixels"]))
            times.append(int(packet["frame"]["t"]) * 1000)
    return frames, np.asarray(times, np.int64)


# -- writer ----------------------------------------------------------------------------------------
def _description(streams: list[tuple[int, str, int, int]]) -> str:
    nodes = []
    for sid, ident, width, height in streams:
        info = ""
        if ident in ("EVTS", "FRME"):
            info = (f'<node name="info" path="/mainloop/Recorder/outInfo/{sid}/info/">'
                    f'<attr key="sizeX" type="int">{width}</attr>'
                    f'<attr key="sizeY" type="int">{height}</attr></node>')
        nodes.append(
            f'<node name="{sid}" path="/mainloop/Recorder/outInfo/{sid}/">'
            f'<attr key="compression" type="string">NONE</attr>'
            f'<attr key="typeIdentifier" type="string">{ident}</attr>{info}</node>'
        )
    return ('<dv version="2.0"><node name="outInfo" path="/mainloop/Recorder/outInfo/">'
            + "".join(nodes) + "</node></dv>")


def _table_bytes(build, identifier: bytes, size_prefixed: bool) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    root = build(builder)
    if size_prefixed:
        builder.FinishSizePrefixed(root, file_identifier=identifier)
    else:
        builder.Finish(root, file_identifier=identifier)
    return bytes(builder.Output())


def _struct_vector(builder, payload: bytes, itemsize: int, count: int, alignment: int) -> int:
    # Like flatbuffers' CreateNumpyVector, for a vector of structs given as raw bytes.
    builder.StartVector(itemsize, count, alignment)
    builder.head = builder.head - len(payload)
    builder.Bytes[builder.head:builder.head + len(payload)] = payload
    builder.vectorNumElems = count
    return builder.EndVector()


def write_aedat4(path: str | os.PathLike, events: Events, frames: list[np.ndarray] | None = None,
                 frame_times_ns: np.ndarray | None = None, packet_events: int = 4096) -> None:
    """Write an uncompressed AEDAT4 file with one event stream (id 0) and, when given, one
    frame stream (id 1) of uint8 gray (H x W) or RGB (H x W x 3) frames. Times are floored to µs.

    Frames and event packets are interleaved in time order, as a camera records them."""
    frames = list(frames or [])
    if frame_times_ns is None:
        frame_times_ns = np.zeros(len(frames), np.int64)
    frame_times_ns = np.asarray(frame_times_ns, np.int64)
    if len(frame_times_ns) != len(frames):
        raise EventFileError(f"{path}: {len(frames)} frames but {len(frame_times_ns)} frame times")
    streams = [(0, "EVTS", events.width, events.height)]
    if frames:
        streams.append((1, "FRME", frames[0].shape[1], frames[0].shape[0]))

    def ioheader(b):
        desc = b.CreateString(_description(streams))
        b.StartObject(3)
        b.PrependInt32Slot(0, 0, 0)            # compression: none
        b.PrependInt64Slot(1, -1, 0)           # file_data_position: -1 (no data table)
        b.PrependUOffsetTRelativeSlot(2, desc, 0)
        return b.EndObject()

    header = _table_bytes(ioheader, b"IOHE", size_prefixed=False)
    packets: list[tuple[int, int, bytes]] = []  # (time µs, stream id, flatbuffer)
    t_us = events.t // 1000
    for start in range(0, len(events), packet_events):
        sl = slice(start, start + packet_events)
        rec = np.zeros(len(t_us[sl]), _EVENT_STRUCT)
        rec["t"], rec["x"], rec["y"], rec["on"] = t_us[sl], events.x[sl], events.y[sl], events.p[sl]

        def event_packet(b, rec=rec):
            vec = _struct_vector(b, rec.tobytes(), 16, len(rec), 8)
            b.StartObject(1)
            b.PrependUOffsetTRelativeSlot(0, vec, 0)
            return b.EndObject()

        packets.append((int(rec["t"][0]), 0, _table_bytes(event_packet, b"EVTS", size_prefixed=True)))
    for frame, t_ns in zip(frames, frame_times_ns):
        frame = np.ascontiguousarray(frame)
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (frame.ndim == 3 and frame.shape[2] != 3):
            raise EventFileError(f"{path}: frames must be uint8 H x W or H x W x 3, got {frame.dtype} {frame.shape}")
        code = 0 if frame.ndim == 2 else 16
        pixels = frame if frame.ndim == 2 else frame[..., ::-1]  # AEDAT4 stores BGR
        t = int(t_ns) // 1000

        def frame_packet(b, pixels=np.ascontiguousarray(pixels).reshape(-1), t=t, code=code, shape=frame.shape):
            vec = b.CreateNumpyVector(pixels)
            b.StartObject(11)
            for slot in range(5):                # t, begin_t, end_t, exposure begin/end
                b.PrependInt64Slot(slot, t, -1)
            b.PrependInt8Slot(5, code, -1)
            b.PrependInt16Slot(6, shape[1], -1)
            b.PrependInt16Slot(7, shape[0], -1)
            b.PrependInt16Slot(8, 0, -1)
            b.PrependInt16Slot(9, 0, -1)
            b.PrependUOffsetTRelativeSlot(10, vec, 0)
            return b.EndObject()

        packets.append((t, 1, _table_bytes(frame_packet, b"FRME", size_prefixed=True)))
    packets.sort(key=lambda item: (item[0], item[1]))
    with open(path, "wb") as f:
        f.write(_MAGIC)
        f.write(np.uint32(len(header)).tobytes())
        f.write(header)
        for _, sid, buf in packets:
            f.write(np.uint32(sid).tobytes())
            f.write(np.uint32(len(buf)).tobytes())
            f.write(buf)
