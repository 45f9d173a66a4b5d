"""Real rclpy with real DDS: an EventPacket and a TrackerState cross a process boundary.
The publisher runs in a spawned process (never fork after rclpy is used)."""
import multiprocessing as mp
import time

import pytest


def _publish(n_msgs: int, ready) -> None:
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from event_camera_msgs.msg import EventPacket

    rclpy.init()
    node = rclpy.create_node("had_test_publisher")
    qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
    pub = node.create_publisher(EventPacket, "/event_camera/events", qos)
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    ready.set()
    for i in range(n_msgs):
        msg = EventPacket(width=346, height=260, seq=i, encoding="evt3", events=bytes([i % 256]) * 100)
        pub.publish(msg)
        time.sleep(0.005)
    time.sleep(0.5)
    node.destroy_node()
    rclpy.shutdown()


def test_event_packets_cross_processes_best_effort():
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from event_camera_msgs.msg import EventPacket

    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_publish, args=(50, ready))
    rclpy.init()
    try:
        node = rclpy.create_node("had_test_subscriber")
        got = []
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT)
        node.create_subscription(EventPacket, "/event_camera/events", got.append, qos)
        proc.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(got) < 50 and proc.is_alive() or not ready.is_set()):
            rclpy.spin_once(node, timeout_sec=0.05)
        proc.join(timeout=10)
        assert len(got) >= 45, f"only {len(got)} of 50 packets arrived"
        seqs = [m.seq for m in got]
        assert seqs == sorted(seqs)
        assert all(bytes(m.events) == bytes([m.seq % 256]) * 100 for m in got)
    finally:
        rclpy.shutdown()
        if proc.is_alive():
            proc.kill()
