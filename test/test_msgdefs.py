"""Message definitions found on disk and registered with rosbags; bytes agree with real rclpy."""
import numpy as np
import pytest

from had_ros import msgdefs


def test_finds_every_extra_type_and_registers_it():
    store = msgdefs.typestore()
    for name in msgdefs.EXTRA_TYPES:
        assert name in store.types


def test_unknown_type_names_the_folders_searched():
    with pytest.raises(msgdefs.MessageDefinitionError, match="NoSuch.msg"):
        msgdefs.find_msg_definition("vision_msgs/msg/NoSuch")
    with pytest.raises(msgdefs.MessageDefinitionError, match="pkg/msg/Name"):
        msgdefs.find_msg_definition("vision_msgs")


def test_rosbags_serialisation_matches_rclpy_for_event_packets():
    from event_camera_msgs.msg import EventPacket
    from rclpy.serialization import deserialize_message, serialize_message

    store = msgdefs.typestore()
    Packet = store.types["event_camera_msgs/msg/EventPacket"]
    Header = store.types["std_msgs/msg/Header"]
    Time = store.types["builtin_interfaces/msg/Time"]
    payload = np.arange(37, dtype=np.uint8)
    msg = Packet(header=Header(stamp=Time(sec=5, nanosec=7), frame_id="event_camera"), height=260,
                 width=346, seq=42, time_base=0, encoding="evt3", is_bigendian=False, events=payload)
    raw = store.serialize_cdr(msg, Packet.__msgtype__)
    real = deserialize_message(bytes(raw), EventPacket)
    assert (real.width, real.height, real.seq, real.encoding) == (346, 260, 42, "evt3")
    assert bytes(real.events) == payload.tobytes()
    # and back: what rclpy writes, rosbags reads (the two may pad the CDR tail differently)
    back = store.deserialize_cdr(bytes(serialize_message(real)), Packet.__msgtype__)
    assert back.seq == 42 and bytes(back.events) == payload.tobytes()
    assert back.header.stamp.sec == 5 and back.header.frame_id == "event_camera"


def test_tracker_state_message_is_importable_with_constants():
    from had_ros.msg import TrackerState

    state = TrackerState(status=TrackerState.STATUS_LOST, score=0.25)
    assert TrackerState.STATUS_TRACKING != TrackerState.STATUS_LOST
    assert state.bbox.size_x == 0.0 and abs(state.score - 0.25) < 1e-6
