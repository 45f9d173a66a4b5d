"""Write a generated (had_sim) sequence as a rosbag2 MCAP bag, shaped like a recording of a real
robot's RGB camera and Prophesee event camera:

  /camera/image_raw      sensor_msgs/msg/Image (rgb8), one per frame
  /event_camera/events   event_camera_msgs/msg/EventPacket (evt3), about 1 ms of events each, as the
                         metavision driver publishes them: increasing seq, time_base 0, width/height set
  /ground_truth          vision_msgs/msg/Detection2DArray stamped like the images (absent frames: no
                         detections)

Header stamps are host time: sensor time plus a fixed clock offset (an epoch-like base) plus a
seeded transport latency of a few ms, so consumers must estimate the offset as they would with real
drivers. Event times inside the packets stay sensor time (EVT3 µs). The offset is also stored in the
bag's custom data ("had_sim.host_offset_ns") for evaluation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from had_ros.errors import DatasetError

IMAGE_TOPIC = "/camera/image_raw"
EVENTS_TOPIC = "/event_camera/events"
GROUND_TRUTH_TOPIC = "/ground_truth"
HOST_EPOCH_NS = 1_700_000_000 * 10**9  # a plausible wall-clock base (Nov 2023)


@dataclass(frozen=True)
class BagSummary:
    path: Path
    images: int
    packets: int
    host_offset_ns: int


def _read_lines(path: Path, name: str) -> list[str]:
    if not path.is_file():
        raise DatasetError(f"{path}: missing {name} file of sequence {path.parent.name}")
    return [ln for ln in path.read_text().splitlines() if ln.strip()]


def _stamp(types, t_ns: int):
    return types["builtin_interfaces/msg/Time"](sec=int(t_ns // 10**9), nanosec=int(t_ns % 10**9))


def _header(types, t_ns: int, frame_id: str):
    return types["std_msgs/msg/Header"](stamp=_stamp(types, t_ns), frame_id=frame_id)


def _monotonic(stamps: np.ndarray) -> np.ndarray:
    """Arrival stamps of one topic never go backwards (messages arrive in order), at least 1 µs apart."""
    out = stamps.astype(np.int64).copy()
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + 1000)
    return out


def _evt3_words(path: Path, width: int, height: int) -> np.ndarray:
    """The EVT3 word stream of a Prophesee .raw file (after its '%' header)."""
    from had_ros.events.io import parse_raw_header, raw_format

    if not path.is_file():
        raise DatasetError(f"{path}: missing events.raw of sequence {path.parent.name}")
    with open(path, "rb") as f:
        fields, offset = parse_raw_header(f)
        f.seek(offset)
        data = f.read()
    encoding, w, h = raw_format(fields, str(path))
    if encoding.upper() != "EVT3" or (w, h) != (width, height):
        raise DatasetError(f"{path}: holds {encoding} events of a {w}x{h} sensor; expected evt3 at {width}x{height}")
    if len(data) % 2:
        raise DatasetError(f"{path}: EVT3 data of {len(data)} bytes is not whole 16-bit words")
    return np.frombuffer(data, "<u2")


def _detection(T, header, box: np.ndarray):
    """The ground-truth box as a vision_msgs Detection2D (class "target", score 1)."""
    x, y, w, h = (float(v) for v in box)
    center = T["vision_msgs/msg/Pose2D"](position=T["vision_msgs/msg/Point2D"](x=x + w / 2, y=y + h / 2), theta=0.0)
    origin = T["geometry_msgs/msg/Pose"](position=T["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
                                         orientation=T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0))
    hypothesis = T["vision_msgs/msg/ObjectHypothesisWithPose"](
        hypothesis=T["vision_msgs/msg/ObjectHypothesis"](class_id="target", score=1.0),
        pose=T["geometry_msgs/msg/PoseWithCovariance"](pose=origin, covariance=np.zeros(36)))
    return T["vision_msgs/msg/Detection2D"](
        header=header, results=[hypothesis],
        bbox=T["vision_msgs/msg/BoundingBox2D"](center=center, size_x=w, size_y=h), id="target")


def _packet_cuts(words: np.ndarray, packet_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Word offsets where packets start in an EVT3 stream, and the sensor time (ns) at which each
    packet's window closes. A packet starts at the TIME_LOW word that first enters its window, or at
    the TIME_HIGH words right before it, so every packet but the first begins with its own time."""
    n = len(words)
    kind = words >> 12
    is_high = kind == 0x8
    idx = np.arange(n)
    last_high = np.maximum.accumulate(np.where(is_high, idx, -1))
    high_vals = (words[is_high] & 0xFFF).astype(np.int64)
    rollovers = np.concatenate([[0], np.cumsum(np.diff(high_vals) < 0)])  # the 24-bit µs counter wraps
    high_rank = np.cumsum(is_high) - 1
    low_at = np.flatnonzero((kind == 0x6) & (last_high >= 0))
    if not len(low_at):  # no event times at all: one packet
        return np.zeros(1, np.int64), np.full(1, packet_ns, np.int64)
    rank = high_rank[last_high[low_at]]
    t_us = (rollovers[rank] << 24) | (high_vals[rank] << 12) | (words[low_at] & 0xFFF).astype(np.int64)
    window = t_us * 1000 // packet_ns
    first = np.concatenate([[True], window[1:] > window[:-1]])
    cut = low_at[first]
    last_other = np.maximum.accumulate(np.where(~is_high, idx, -1))
    starts = np.where(cut > 0, last_other[np.maximum(cut - 1, 0)] + 1, 0)
    starts[0] = 0
    return starts, (window[first] + 1) * packet_ns


def write_sequence_bag(seq_dir: str | Path, bag_path: str | Path, seed: int = 0,
                       packet_ns: int = 1_000_000, overwrite: bool = False) -> BagSummary:
    """Write the had_sim sequence in `seq_dir` to a rosbag2 MCAP folder at `bag_path`."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    from rosbags.rosbag2 import StoragePlugin, Writer

    from had_ros.msgdefs import typestore

    seq_dir, bag_path = Path(seq_dir), Path(bag_path)
    meta_path = seq_dir / "meta.json"
    if not meta_path.is_file():
        raise DatasetError(f"{meta_path}: missing meta.json of a had_sim sequence")
    meta = json.loads(meta_path.read_text())
    width, height = int(meta["width"]), int(meta["height"])
    frame_times = np.array([int(v) for v in _read_lines(seq_dir / "frame_times.txt", "frame_times.txt")], np.int64)
    gt = np.array([[float(v) for v in ln.split(",")] for ln in _read_lines(seq_dir / "groundtruth.txt",
                                                                           "groundtruth.txt")])
    present = np.array([int(v) for v in _read_lines(seq_dir / "absent.txt", "absent.txt")]) == 1
    frames = sorted((seq_dir / "frames").glob("*.png"))
    if not (len(frames) == len(frame_times) == len(gt) == len(present)):
        raise DatasetError(
            f"{seq_dir}: frames/ has {len(frames)} images but frame_times.txt, groundtruth.txt and "
            f"absent.txt have {len(frame_times)}, {len(gt)} and {len(present)} lines; expected equal counts"
        )
    words = _evt3_words(seq_dir / "events.raw", width, height)
    if bag_path.exists():
        if not overwrite:
            raise DatasetError(f"{bag_path} exists; pass overwrite=True (--overwrite) to replace it")
        import shutil

        shutil.rmtree(bag_path)

    rng = np.random.default_rng([int(seed), int(meta.get("sequence_index", 0)), 0xBA6])
    host_offset = HOST_EPOCH_NS + int(rng.integers(0, 86_400 * 10**9))  # some time that day
    exposure_ns = int(meta.get("rgb_camera", {}).get("exposure_ns", 0))

    ts = typestore()
    T = ts.types
    out: list[tuple[int, int, str, bytes]] = []  # (log time, tie-break, topic, cdr)

    # Images: stamped on arrival, after the exposure ends and the frame is read out and transferred.
    img_stamps = _monotonic(host_offset + frame_times + exposure_ns // 2 + 4_000_000
                            + rng.exponential(1_000_000, len(frame_times)).astype(np.int64))
    for i, (path, stamp) in enumerate(zip(frames, img_stamps)):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape[:2] != (height, width):
            raise DatasetError(f"{path}: not a readable {width}x{height} image")
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        header = _header(T, int(stamp), "camera")
        img = T["sensor_msgs/msg/Image"](header=header, height=height, width=width, encoding="rgb8",
                                         is_bigendian=0, step=3 * width, data=rgb.reshape(-1))
        out.append((int(stamp), 0, IMAGE_TOPIC, ts.serialize_cdr(img, "sensor_msgs/msg/Image")))
        arr = T["vision_msgs/msg/Detection2DArray"](header=header,
                                                     detections=[_detection(T, header, gt[i])] if present[i] else [])
        out.append((int(stamp), 1, GROUND_TRUTH_TOPIC, ts.serialize_cdr(arr, "vision_msgs/msg/Detection2DArray")))

    # Event packets: the file's EVT3 word stream, cut where each packet_ns window of sensor time
    # begins (the driver forwards the camera's stream in ~1 ms buffers the same way). Re-encoding
    # packets one by one would restart each at TIME_HIGH 0, which a stream decoder reads as a
    # 16.7 s counter rollover.
    n_packets = 0
    if len(words):
        starts, closes = _packet_cuts(words, packet_ns)
        ends = np.append(starts[1:], len(words))
        latency = 500_000 + rng.exponential(1_500_000, len(starts)).astype(np.int64)
        ev_stamps = _monotonic(host_offset + closes + latency)
        for seq, (a, b, stamp) in enumerate(zip(starts, ends, ev_stamps)):
            pkt = T["event_camera_msgs/msg/EventPacket"](
                header=_header(T, int(stamp), "event_camera"), height=height, width=width, seq=seq,
                time_base=0, encoding="evt3", is_bigendian=False, events=words[a:b].view(np.uint8))
            out.append((int(stamp), 2, EVENTS_TOPIC, ts.serialize_cdr(pkt, "event_camera_msgs/msg/EventPacket")))
        n_packets = len(starts)

    forever = QosTime(2147483647, 4294967295)
    def qos(reliability, depth):
        return Qos(QosHistory.KEEP_LAST, depth, reliability, QosDurability.VOLATILE, forever, forever,
                   QosLiveliness.AUTOMATIC, forever, False)

    out.sort(key=lambda m: (m[0], m[1]))
    bag_path.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_custom_data("had_sim.host_offset_ns", str(host_offset))
    writer.set_custom_data("had_sim.sequence", str(meta.get("name", seq_dir.name)))
    with writer:
        conns = {
            IMAGE_TOPIC: writer.add_connection(IMAGE_TOPIC, "sensor_msgs/msg/Image", typestore=ts,
                                               offered_qos_profiles=[qos(QosReliability.RELIABLE, 10)]),
            GROUND_TRUTH_TOPIC: writer.add_connection(GROUND_TRUTH_TOPIC, "vision_msgs/msg/Detection2DArray",
                                                      typestore=ts,
                                                      offered_qos_profiles=[qos(QosReliability.RELIABLE, 10)]),
            # The event camera drivers publish best effort with a deep queue.
            EVENTS_TOPIC: writer.add_connection(EVENTS_TOPIC, "event_camera_msgs/msg/EventPacket", typestore=ts,
                                                offered_qos_profiles=[qos(QosReliability.BEST_EFFORT, 1000)]),
        }
        for stamp, _, topic, data in out:
            writer.write(conns[topic], stamp, data)
    return BagSummary(bag_path, len(frames), n_packets, host_offset)
