"""Tests of the rosbag2 (MCAP) writer for generated sequences: topics, stamps, packets, a decode of
every EventPacket back to events.raw, and a real rclpy deserialization of every message."""
from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from had_ros.data.bag import EVENTS_TOPIC, GROUND_TRUTH_TOPIC, IMAGE_TOPIC, write_sequence_bag
from had_ros.data.simulator import SimConfig, generate_to_folder
from had_ros.errors import DatasetError
from had_ros.events.decoders import make_decoder
from had_ros.events.io import read_events
from had_ros.msgdefs import typestore

W, H, FRAMES = 64, 48, 8


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    """A tiny sequence with absent frames (occlusion) and its bag."""
    root = tmp_path_factory.mktemp("bag")
    generate_to_folder(root, 0, 4, frozenset({"occlusion", "camera_motion"}), SimConfig(W, H, num_frames=FRAMES),
                       bag=True)
    folder = root / "sim_0000"
    return folder, folder / "sim_0000.mcap"


def messages(bag_path):
    with Reader(bag_path) as reader:
        for conn, stamp, raw in reader.messages():
            yield conn.topic, conn.msgtype, stamp, raw


def test_bag_topics_counts_and_stamps(sequence):
    folder, bag = sequence
    ts = typestore()
    frame_times = np.loadtxt(folder / "frame_times.txt", dtype=np.int64)
    present = np.loadtxt(folder / "absent.txt", dtype=int) == 1
    gt = np.loadtxt(folder / "groundtruth.txt", delimiter=",")
    assert (~present).any()
    with Reader(bag) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
    info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["storage_identifier"] == "mcap"
    offset = int(info["custom_data"]["had_sim.host_offset_ns"])
    assert topics == {IMAGE_TOPIC: "sensor_msgs/msg/Image", EVENTS_TOPIC: "event_camera_msgs/msg/EventPacket",
                      GROUND_TRUTH_TOPIC: "vision_msgs/msg/Detection2DArray"}
    assert offset > 1_600_000_000 * 10**9  # host stamps look like wall-clock time
    images, dets, packets = [], [], []
    for topic, msgtype, stamp, raw in messages(bag):
        msg = ts.deserialize_cdr(raw, msgtype)
        header_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        assert header_ns == stamp  # logged when it arrived
        {IMAGE_TOPIC: images, GROUND_TRUTH_TOPIC: dets, EVENTS_TOPIC: packets}[topic].append((header_ns, msg))
    assert len(images) == len(dets) == FRAMES
    for i, ((t_img, img), (t_det, det)) in enumerate(zip(images, dets)):
        assert (img.width, img.height, img.encoding, img.step) == (W, H, "rgb8", 3 * W)
        png = cv2.imread(str(folder / "frames" / f"{i:06d}.png"))[:, :, ::-1]
        np.testing.assert_array_equal(img.data.reshape(H, W, 3), png)
        assert t_det == t_img and det.header.frame_id == img.header.frame_id == "camera"
        # host time = sensor time + offset + a transport latency of a few ms
        assert 0 < t_img - offset - frame_times[i] < 50_000_000
        if present[i]:
            (d,) = det.detections
            x, y, w, h = gt[i]
            assert (d.bbox.center.position.x, d.bbox.center.position.y) == (x + w / 2, y + h / 2)
            assert (d.bbox.size_x, d.bbox.size_y) == (w, h)
            assert d.results[0].hypothesis.class_id == "target"
        else:
            assert len(det.detections) == 0
    assert [p.seq for _, p in packets] == list(range(len(packets)))
    stamps = np.array([t for t, _ in packets])
    assert (np.diff(stamps) > 0).all()
    for _, p in packets:
        assert (p.width, p.height, p.encoding, p.time_base, p.header.frame_id) == (W, H, "evt3", 0, "event_camera")


def test_bag_packets_decode_to_the_event_file(sequence):
    folder, bag = sequence
    ts = typestore()
    decoder = make_decoder("evt3", W, H)
    parts = []
    for topic, msgtype, stamp, raw in messages(bag):
        if topic == EVENTS_TOPIC:
            pkt = ts.deserialize_cdr(raw, msgtype)
            ev = decoder.decode(pkt.events.tobytes())
            # about 1 ms of events per packet, published after its millisecond closes
            assert len(ev) and ev.t[-1] // 1_000_000 == ev.t[0] // 1_000_000
            parts.append(ev)
    from had_ros.events.container import Events

    decoded = Events.concatenate(parts)
    assert decoded.equals(read_events(folder / "events.raw"))


def test_every_message_deserializes_with_rclpy(sequence):
    pytest.importorskip("rclpy")
    pytest.importorskip("event_camera_msgs.msg")
    pytest.importorskip("vision_msgs.msg")
    from event_camera_msgs.msg import EventPacket
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    folder, bag = sequence
    classes = {IMAGE_TOPIC: Image, EVENTS_TOPIC: EventPacket, GROUND_TRUTH_TOPIC: Detection2DArray}
    present = np.loadtxt(folder / "absent.txt", dtype=int) == 1
    counts = {t: 0 for t in classes}
    decoder = make_decoder("evt3", W, H)
    n_events = 0
    for topic, _, stamp, raw in messages(bag):
        msg = deserialize_message(raw, classes[topic])
        assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamp
        if topic == EVENTS_TOPIC:
            assert msg.encoding == "evt3" and msg.seq == counts[topic]
            n_events += len(decoder.decode(bytes(msg.events)))
        elif topic == IMAGE_TOPIC:
            assert (msg.width, msg.height, msg.encoding, len(msg.data)) == (W, H, "rgb8", W * H * 3)
        else:
            assert len(msg.detections) == int(present[counts[topic]])
        counts[topic] += 1
    assert counts[IMAGE_TOPIC] == counts[GROUND_TRUTH_TOPIC] == FRAMES
    assert n_events == json.loads((folder / "meta.json").read_text())["stats"]["num_events"]


def test_bag_refuses_to_overwrite_and_names_missing_files(sequence, tmp_path):
    folder, bag = sequence
    with pytest.raises(DatasetError, match="exists"):
        write_sequence_bag(folder, bag)
    with pytest.raises(DatasetError, match="meta.json"):
        write_sequence_bag(tmp_path, tmp_path / "x.mcap")
    broken = tmp_path / "seq"
    broken.mkdir()
    (broken / "meta.json").write_text((folder / "meta.json").read_text())
    with pytest.raises(DatasetError, match="frame_times.txt"):
        write_sequence_bag(broken, tmp_path / "y.mcap")
    cut = tmp_path / "cut"
    shutil.copytree(folder, cut, ignore=shutil.ignore_patterns("*.mcap"))
    data = (cut / "events.raw").read_bytes()
    (cut / "events.raw").write_bytes(data[:-1])
    with pytest.raises(DatasetError, match="whole 16-bit words"):
        write_sequence_bag(cut, tmp_path / "z.mcap")
    assert not (tmp_path / "z.mcap").exists()


def test_packet_cuts_start_each_millisecond_with_its_time_words():
    from had_ros.data.bag import _packet_cuts
    from had_ros.events.container import Events
    from had_ros.events.evt3 import encode_evt3

    t_us = np.array([10, 20, 999_990, 1_000_000, 1_500_000, 5_000_000, 5_000_000])
    ev = Events.from_arrays([1, 2, 3, 4, 5, 6, 7], [0] * 7, t_us * 1000, [1] * 7, 16, 16)
    words = np.frombuffer(encode_evt3(ev), "<u2")
    starts, closes = _packet_cuts(words, 1_000_000)
    windows = np.unique(t_us // 1000)  # the milliseconds that have events
    np.testing.assert_array_equal(closes, (windows + 1) * 1_000_000)
    # each packet opens with its time: TIME_HIGH (when it changed) or TIME_LOW
    assert starts[0] == 0 and all(words[s] >> 12 in (0x8, 0x6) for s in starts[1:])
    decoder = make_decoder("evt3", 16, 16)
    got = [decoder.decode(words[a:b].tobytes()) for a, b in zip(starts, np.append(starts[1:], len(words)))]
    assert [len(g) for g in got] == [2, 1, 1, 1, 2]
    for g, close in zip(got, closes):
        assert (g.t < close).all() and (g.t >= close - 1_000_000).all()
