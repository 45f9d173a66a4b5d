"""The had_ros tracker node (console script ``tracker_node``; ``ros2 run had_ros tracker_node``).

A thin rclpy shell around :class:`had_ros.ros.core.TrackerCore`: subscriptions hand message fields
to the core (event packets are taken in batches by a thread of the node, ``events_batch_ms``), a
worker thread runs the model on the core's jobs and publishes the results.

Topics (relative names: remap them, as launch/tracker.launch.py does):
  in   image              sensor_msgs/Image (rgb8, bgr8, mono8, rgba8, bgra8, mono16)
  in   events             event_camera_msgs/EventPacket (every encoding of make_decoder)
  in   init               vision_msgs/Detection2D: the target box, for the image stamped at or after it
  out  detections         vision_msgs/Detection2DArray per image: header of the image, score, track id
  out  event_detections   vision_msgs/Detection2DArray of the high-rate event-only steps (event time)
  out  state              had_ros/TrackerState per image
  out  debug_image        sensor_msgs/Image rgb8: frame, box, score and events (only while subscribed)
  out  /diagnostics       diagnostic_msgs/DiagnosticArray every diagnostics_period_s
  srv  reset              std_srvs/Trigger: clear the target
Parameters: had_ros/ros/params.py (config/tracker.yaml, docs/NODE.md).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import numpy as np

from had_ros.errors import HadError
from had_ros.ros import params as P
from had_ros.ros.core import COUNTERS, CoreSettings, Estimate, build_core

NODE_NAME = "had_tracker"
# Every topic and service of the node (relative names, remapped by the launch file) and its type.
TOPICS: dict[str, str] = {
    "image": "sensor_msgs/msg/Image",
    "events": "event_camera_msgs/msg/EventPacket",
    "init": "vision_msgs/msg/Detection2D",
    "reset": "std_srvs/srv/Trigger",
    "detections": "vision_msgs/msg/Detection2DArray",
    "event_detections": "vision_msgs/msg/Detection2DArray",
    "state": "had_ros/msg/TrackerState",
    "debug_image": "sensor_msgs/msg/Image",
    "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray",
}
EVENT_TYPE = "event_camera_msgs/msg/EventPacket"


def _topic(name: str) -> str:
    assert name in TOPICS, name  # the table above lists every name the node uses
    return name


class ParameterRefused(HadError):
    """A parameter value given at start was refused (the message says why)."""


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _descriptor(spec: P.ParamSpec):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    kinds = {"string": ParameterType.PARAMETER_STRING, "int": ParameterType.PARAMETER_INTEGER,
             "double": ParameterType.PARAMETER_DOUBLE, "bool": ParameterType.PARAMETER_BOOL,
             "double_array": ParameterType.PARAMETER_DOUBLE_ARRAY,
             "string_array": ParameterType.PARAMETER_STRING_ARRAY}
    d = ParameterDescriptor(name=spec.name, type=kinds[spec.type], description=spec.description,
                            read_only=spec.read_only)
    if spec.range is not None and spec.type == "double":
        d.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                     to_value=float(spec.range[1]), step=0.0)]
    elif spec.range is not None and spec.type == "int":
        d.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=1)]
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    return d


def draw_debug(rgb: np.ndarray, est: Estimate, overlay_events: bool) -> np.ndarray:
    """The frame with the events the model read (the window's, inside its crop; ON red, OFF blue),
    the box and its score."""
    import cv2

    img = np.ascontiguousarray(rgb.copy())
    ev = est.events
    if overlay_events and ev is not None and len(ev):
        on = ev.p.astype(bool)
        img[ev.y[on], ev.x[on]] = (255, 40, 40)
        img[ev.y[~on], ev.x[~on]] = (40, 80, 255)
    if est.box is not None:
        x, y, w, h = est.box
        color = (0, 255, 0) if est.status == 1 else (255, 200, 0)
        cv2.rectangle(img, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), color, 2)
        label = f"#{est.track_id} {est.score:.2f}" + (" lost" if est.status == 2 else "")
        cv2.putText(img, label, (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    else:
        cv2.putText(img, "no target", (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return img


def _make_node_class():
    from rclpy.callback_groups import CallbackGroup
    from rclpy.node import Node

    class OwnThread(CallbackGroup):
        """A callback group the executor never serves (it leaves the group's entities out of its
        wait set): the node's event intake thread takes their messages itself."""

        def can_execute(self, entity) -> bool:
            return False

        def beginning_execution(self, entity) -> bool:
            return False

        def ending_execution(self, entity) -> None:
            pass

    class TrackerNode(Node):
        """See the module doc."""

        def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
            super().__init__(node_name, **kwargs)
            from diagnostic_msgs.msg import DiagnosticArray
            from event_camera_msgs.msg import EventPacket
            from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
            from sensor_msgs.msg import Image
            from std_srvs.srv import Trigger
            from vision_msgs.msg import Detection2D, Detection2DArray

            from had_ros.msg import TrackerState

            for spec in P.PARAMS:
                self._declare(spec)
            values = self.param_values()
            reason = P.check_all(values)
            if reason:
                raise ParameterRefused(f"parameter refused: {reason}")
            self.values = values
            log = self.get_logger()
            self.core = build_core(values, logger=log)
            self.model_info = info = self.core.model_info
            tracker = self.core.tracker
            log.info(f"model {info.get('checkpoint') or info['spec']} ({info['model']}, "
                     f"{'trained' if info['trained'] else 'UNTRAINED' if info['trained'] is False else 'training not recorded'}) "
                     f"on {info['backend']}; modalities {list(tracker.model_config.modalities)}")
            if info["trained"] is False:
                log.warning("the model is UNTRAINED (random weights): its boxes mean nothing; "
                            "set the model parameter to a trained checkpoint")
            log.info(f"warm-up (kernels, first inference): {self.core.warm_up():.2f} s")
            import gc

            gc.freeze()  # what start-up made stays out of later collections: shorter pauses on the worker
            self._msgs = dict(Image=Image, Detection2D=Detection2D, Detection2DArray=Detection2DArray,
                              TrackerState=TrackerState, DiagnosticArray=DiagnosticArray)
            rel = ReliabilityPolicy.BEST_EFFORT if values["qos_reliability"] == "best_effort" \
                else ReliabilityPolicy.RELIABLE
            img_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=values["image_qos_depth"], reliability=rel)
            ev_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=values["events_qos_depth"], reliability=rel)
            self._stop = threading.Event()
            self.create_subscription(Image, _topic("image"), self._on_image, img_qos)
            batch_ms = float(values["events_batch_ms"])
            self._events_sub = self.create_subscription(
                EventPacket, _topic("events"), self._on_events, ev_qos,
                callback_group=OwnThread() if batch_ms > 0 else None)
            self.create_subscription(Detection2D, _topic("init"), self._on_init, 10)
            self.create_service(Trigger, _topic("reset"), self._on_reset)
            self.pub_det = self.create_publisher(Detection2DArray, _topic("detections"), 10)
            self.pub_fast = self.create_publisher(Detection2DArray, _topic("event_detections"), 10)
            self.pub_state = self.create_publisher(TrackerState, _topic("state"), 10)
            self.pub_debug = self.create_publisher(Image, _topic("debug_image"), 2)
            self.pub_diag = self.create_publisher(DiagnosticArray, _topic("/diagnostics"), 10)
            self._last_counts = dict(self.core.counts)
            self._last_diag = time.monotonic()
            self.create_timer(values["diagnostics_period_s"], self._publish_diagnostics)
            self.add_on_set_parameters_callback(self._on_set_parameters)
            if values["init_box"]:
                self.core.on_init(list(values["init_box"]), 0)
            self._worker = threading.Thread(target=self._work, name="had_tracker_worker", daemon=True)
            self._worker.start()
            self._intake_thread = None
            if batch_ms > 0:
                self._intake_thread = threading.Thread(target=self._intake, args=(batch_ms / 1e3,),
                                                       name="had_tracker_events", daemon=True)
                self._intake_thread.start()

        # parameters -----------------------------------------------------------------------------
        def _declare(self, spec: P.ParamSpec) -> None:
            from rclpy.parameter import Parameter

            if spec.type in ("double_array", "string_array") and not spec.default:
                # an empty list has no type of its own: declare the type, the value may come later
                kind = Parameter.Type.DOUBLE_ARRAY if spec.type == "double_array" else Parameter.Type.STRING_ARRAY
                self.declare_parameter(spec.name, kind, _descriptor(spec))
            else:
                self.declare_parameter(spec.name, spec.default, _descriptor(spec))

        @staticmethod
        def _plain(spec: P.ParamSpec, value: Any) -> Any:
            if value is None:
                return list(spec.default) if isinstance(spec.default, list) else spec.default
            if spec.type in ("double_array", "string_array"):
                return [float(v) if spec.type == "double_array" else str(v) for v in value]
            if spec.type == "double" and isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            return value

        def param_values(self) -> dict[str, Any]:
            from rclpy.exceptions import ParameterUninitializedException

            out = {}
            for spec in P.PARAMS:
                try:
                    value = self.get_parameter(spec.name).value
                except ParameterUninitializedException:  # a typed array declared without a value
                    value = None
                out[spec.name] = self._plain(spec, value)
            return out

        def _on_set_parameters(self, parameters):
            from rcl_interfaces.msg import SetParametersResult

            new = dict(self.values)
            for p in parameters:
                spec = P.BY_NAME.get(p.name)
                if spec is None:
                    return SetParametersResult(successful=False, reason=f"unknown parameter {p.name!r}")
                new[p.name] = self._plain(spec, p.value)
            reason = P.check_all(new)
            if reason:
                self.get_logger().warning(f"set parameters refused: {reason}")
                return SetParametersResult(successful=False, reason=reason)
            with self.core.lock:
                self.core.settings = CoreSettings.from_params(new)
                self.core.tracker.config = P.tracker_config(new)
            changed_box = new["init_box"] != self.values["init_box"]
            self.values = new
            if changed_box and new["init_box"]:
                self.core.on_init(list(new["init_box"]), 0)
            return SetParametersResult(successful=True)

        # inputs ---------------------------------------------------------------------------------
        def _on_image(self, msg) -> None:
            self.core.on_image(msg.encoding, msg.width, msg.height, msg.step, msg.data,
                               stamp_ns(msg.header.stamp), msg.header.frame_id, is_bigendian=msg.is_bigendian)

        def _on_events(self, msg) -> None:
            self.core.on_packet(msg.encoding, msg.width, msg.height, msg.seq, msg.time_base, msg.events,
                                stamp_ns(msg.header.stamp))

        def _intake(self, period_s: float) -> None:
            """The events topic with events_batch_ms > 0: every period, take every queued packet
            (the call the executor makes for one message, here in a loop) and hand them to the
            core in one batch. The executor's dispatch costs about 0.3 ms a message, a third of a
            core at a driver's 1000 packets/s; this costs a small part of that."""
            sub = self._events_sub
            while not self._stop.wait(period_s):
                batch = []
                try:
                    with sub.handle:
                        while len(batch) < 100_000:
                            taken = sub.handle.take_message(sub.msg_type, sub.raw)
                            if taken is None:
                                break
                            batch.append(taken[0])
                except Exception as exc:  # the subscription destroyed at shutdown, a broken message
                    if self._stop.is_set():
                        return
                    with self.core.lock:
                        self.core.bad("internal_errors", f"taking event packets: {type(exc).__name__}: {exc}")
                if batch:
                    self.core.on_packets([(m.encoding, m.width, m.height, m.seq, m.time_base, m.events,
                                           stamp_ns(m.header.stamp)) for m in batch])

        def _on_init(self, msg) -> None:
            b = msg.bbox
            box = [b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y]
            self.core.on_init(box, stamp_ns(msg.header.stamp))

        def _on_reset(self, request, response):
            self.core.reset()
            response.success = True
            response.message = "target cleared; send an init box to track again"
            self.get_logger().info("reset: target cleared")
            return response

        # worker ---------------------------------------------------------------------------------
        def _work(self) -> None:
            core = self.core
            while not self._stop.is_set():
                with core.changed:
                    job = core.next_job(latest_first=True)
                    if job is None:
                        core.changed.wait(core.wait_s())
                        continue
                est = core.run(job)
                if est is not None:
                    try:
                        self._publish(est)
                    except Exception as exc:  # a publish during shutdown, a broken overlay...
                        with core.lock:
                            core.bad("internal_errors", f"publishing: {type(exc).__name__}: {exc}")

        def _header(self, est: Estimate):
            from builtin_interfaces.msg import Time
            from std_msgs.msg import Header

            return Header(stamp=Time(sec=est.stamp_ns // 1_000_000_000, nanosec=est.stamp_ns % 1_000_000_000),
                          frame_id=est.frame_id)

        def _bbox(self, box):
            from vision_msgs.msg import BoundingBox2D, Point2D, Pose2D

            if box is None:
                return BoundingBox2D()
            x, y, w, h = (float(v) for v in box)
            return BoundingBox2D(center=Pose2D(position=Point2D(x=x + w / 2, y=y + h / 2), theta=0.0),
                                 size_x=w, size_y=h)

        def _publish(self, est: Estimate) -> None:
            from vision_msgs.msg import ObjectHypothesis, ObjectHypothesisWithPose

            M = self._msgs
            header = self._header(est)
            arr = M["Detection2DArray"](header=header)
            if est.box is not None:
                hyp = ObjectHypothesisWithPose(hypothesis=ObjectHypothesis(class_id="target", score=float(est.score)))
                arr.detections = [M["Detection2D"](header=header, results=[hyp], bbox=self._bbox(est.box),
                                                   id=str(est.track_id))]
            if est.kind == "events":
                self.pub_fast.publish(arr)
                return
            self.pub_det.publish(arr)
            latency_ms = (time.monotonic_ns() - est.arrival_ns) / 1e6
            with self.core.lock:
                self.core.latencies_ms.append(latency_ms)
            state = M["TrackerState"](header=header, bbox=self._bbox(est.box),
                                      score=float(est.score) if np.isfinite(est.score) else 0.0,
                                      status=int(est.status), latency_ms=float(latency_ms),
                                      sensor_to_host_offset_ns=int(est.offset_ns or 0),
                                      num_events=int(est.num_events))
            self.pub_state.publish(state)
            if self.pub_debug.get_subscription_count() > 0 and est.frame is not None:
                rgb = draw_debug(self.core.frame_rgb(est.frame), est, self.values["debug_overlay_events"])
                h, w = rgb.shape[:2]
                self.pub_debug.publish(M["Image"](header=header, height=h, width=w, encoding="rgb8",
                                                  is_bigendian=0, step=3 * w, data=rgb.tobytes()))

        # diagnostics ----------------------------------------------------------------------------
        def _publish_diagnostics(self) -> None:
            from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

            snap = self.core.snapshot()
            now = time.monotonic()
            dt = max(now - self._last_diag, 1e-6)
            counts = {k: snap.get(k, 0) for k in COUNTERS}
            grew = [k for k in COUNTERS if k not in ("packets", "events", "images", "frames_tracked",
                                                     "event_steps", "events_before_init")
                    and counts[k] > self._last_counts.get(k, 0)]
            rates = {"image_rate_hz": (counts["images"] - self._last_counts.get("images", 0)) / dt,
                     "packet_rate_hz": (counts["packets"] - self._last_counts.get("packets", 0)) / dt,
                     "event_rate_mev_s": (counts["events"] - self._last_counts.get("events", 0)) / dt / 1e6}
            self._last_counts, self._last_diag = counts, now
            level = DiagnosticStatus.WARN if grew else DiagnosticStatus.OK
            message = ("bad input or drops since the last report: " + ", ".join(grew)) if grew else \
                f"{snap['status']}"
            values = [KeyValue(key=k, value=f"{v:.3f}" if isinstance(v, float) else str(v))
                      for k, v in {**rates, **snap}.items()]
            values.append(KeyValue(key="model", value=str(self.model_info.get("checkpoint") or self.model_info["spec"])))
            values.append(KeyValue(key="trained", value=str(self.model_info["trained"])))
            status = DiagnosticStatus(level=level, name=f"{self.get_name()}: tracker", message=message,
                                      hardware_id=self.model_info["backend"], values=values)
            arr = self._msgs["DiagnosticArray"](status=[status])
            arr.header.stamp = self.get_clock().now().to_msg()
            self.pub_diag.publish(arr)

        def destroy_node(self) -> None:
            if hasattr(self, "_stop"):
                self._stop.set()
                for thread in (getattr(self, "_worker", None), getattr(self, "_intake_thread", None)):
                    if thread is not None:
                        thread.join(timeout=5)
            super().destroy_node()

    return TrackerNode


_NODE_CLASS = None


def TrackerNode(*args: Any, **kwargs: Any):
    """The rclpy node (the class is built on first use so importing this module needs no rclpy)."""
    global _NODE_CLASS
    if _NODE_CLASS is None:
        _NODE_CLASS = _make_node_class()
    return _NODE_CLASS(*args, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM (exit 0, also while it is still starting); a refused
    parameter or model exits 2 with the reason."""
    import rclpy
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        node = TrackerNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
        return 0
    except (HadError, InvalidParameterTypeException, InvalidParameterValueException) as exc:
        print(f"tracker_node: refused to start: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except Exception:
        if not rclpy.ok():  # a signal shut the context down while the node was starting
            return 0
        raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
