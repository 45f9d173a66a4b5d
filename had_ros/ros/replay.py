"""`had replay BAG --out OUT`: rosbag2 replay evaluation through the real tracker node.

The bag (MCAP or SQLite3, read with rosbags) is published in log-time order over DDS to a
tracker node started as its own process (``python -m had_ros.ros.node``, the console script's
code), the detections are collected and scored against the bag's ground truth topic:

* header stamps are kept as recorded (as ``ros2 bag play`` does), so the node estimates the
  sensor-to-host offset from the recorded event packet stamps, as it would on the robot;
* ``--rate R`` publishes at R x the recorded speed (the node's QoS as configured: best effort by
  default, as on a robot); ``--as-fast-as-possible`` publishes each image as soon as the previous
  image's detection came back (lock-step: nothing is dropped for speed), with reliable inputs and a
  2 s ``max_event_wait_ms`` unless ``--param`` says otherwise, so a loaded machine changes the
  latency but not the boxes;
* the target is initialised from the ground truth's first present box, sent on ``init`` with the
  stamp of that image just before it (the protocol of ``had eval``: frames before it count as the
  tracker reporting absence, the init frame scores its own box);
* ``--direct`` feeds the same message fields into the node's processing core in this process,
  without DDS, in bag order and without drops: the reference the DDS run is compared with.

Writes ``OUT/<sequence>.txt`` (one ``x,y,w,h`` line per image, ``nan`` where no detection came),
``OUT/results.json`` (the keys of ``had eval`` plus ``replay``: end-to-end latency percentiles from
publishing an image to receiving its detection, the node's own latency, drop and loss counts) and
``OUT/plots/``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from had_ros.errors import DatasetError, HadError

IMAGE_TYPE = "sensor_msgs/msg/Image"
EVENT_TYPE = "event_camera_msgs/msg/EventPacket"
GT_TYPE = "vision_msgs/msg/Detection2DArray"
LOCK_STEP_EVENT_WAIT_MS = 2000.0


def _ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@dataclass
class BagTopics:
    image: str
    events: str | None
    gt: str | None


@dataclass
class Replayed:
    """What one replay produced, per image of the bag (in bag order)."""

    name: str
    stamps: np.ndarray                 # image header stamps
    boxes: np.ndarray                  # (N, 4), NaN where no detection
    scores: np.ndarray
    gt: np.ndarray | None              # (N, 4), NaN where absent
    absent: np.ndarray | None
    init_index: int
    e2e_ms: np.ndarray                 # publish -> detection received (DDS mode), NaN otherwise
    node_ms: np.ndarray                # image arrival -> publication in the node (TrackerState.latency_ms)
    lost: np.ndarray                   # the node said LOST for this image
    stats: dict[str, Any] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------------------------------
def open_bag(path: Path):
    from rosbags.highlevel import AnyReader

    from had_ros.msgdefs import typestore

    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such bag (a rosbag2 folder or .mcap/.db3 file)")
    store = typestore()
    try:
        return AnyReader([path], default_typestore=store), store
    except Exception as exc:
        raise DatasetError(f"{path}: not a readable rosbag2 ({exc})") from exc


def pick_topics(reader, image: str | None, events: str | None, gt: str | None) -> BagTopics:
    by_type: dict[str, list[str]] = {}
    for c in reader.connections:
        by_type.setdefault(c.msgtype, []).append(c.topic)
    topics = {c.topic: c.msgtype for c in reader.connections}

    def choose(given, kind, what, required):
        if given is not None:
            if topics.get(given) != kind:
                raise DatasetError(f"bag has no {kind} topic {given!r}; its topics: {topics}")
            return given
        found = sorted(set(by_type.get(kind, [])))
        if not found:
            if required:
                raise DatasetError(f"bag has no {kind} topic for the {what}; its topics: {topics}")
            return None
        return found[0]

    img = choose(image, IMAGE_TYPE, "images", True)
    gt_topic = gt if gt is not None else ("/ground_truth" if topics.get("/ground_truth") == GT_TYPE else None)
    if gt is not None:
        choose(gt, GT_TYPE, "ground truth", True)
    return BagTopics(img, choose(events, EVENT_TYPE, "events", False), gt_topic)


def read_messages(reader, store, topics: BagTopics) -> Iterator[tuple[str, int, Any, bytes]]:
    """(kind, log time ns, message, its CDR bytes) in log-time order; kind is image, events or gt.
    The DDS replay publishes the recorded CDR bytes as they are."""
    kind_of = {topics.image: "image", topics.events: "events", topics.gt: "gt"}
    conns = [c for c in reader.connections if c.topic in kind_of and c.topic is not None]
    for conn, t, raw in reader.messages(connections=conns):
        yield kind_of[conn.topic], int(t), reader.deserialize(raw, conn.msgtype), bytes(raw)


def bag_name(path: Path) -> str:
    """The sequence name: the simulator's "had_sim.sequence" custom data, else the bag's name."""
    import yaml

    path = Path(path)
    meta = (path if path.is_dir() else path.parent) / "metadata.yaml"
    try:
        info = yaml.safe_load(meta.read_text())["rosbag2_bagfile_information"]
        name = (info.get("custom_data") or {}).get("had_sim.sequence")
        if name:
            return str(name)
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        pass
    name = path.name
    for suffix in (".mcap", ".db3"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def gt_box(msg) -> np.ndarray:
    if not msg.detections:
        return np.full(4, np.nan)
    b = msg.detections[0].bbox
    return np.array([b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y])


def ground_truth(messages: list[tuple[str, int, Any]]) -> tuple[list[int], dict[int, np.ndarray]]:
    stamps = [_ns(m[2].header.stamp) for m in messages if m[0] == "image"]
    gts = {_ns(m[2].header.stamp): gt_box(m[2]) for m in messages if m[0] == "gt"}
    return stamps, gts


def init_plan(stamps: list[int], gts: dict[int, np.ndarray]) -> int:
    """Index of the first image with a present ground-truth box (-1: none)."""
    for i, s in enumerate(stamps):
        b = gts.get(s)
        if b is not None and np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0:
            return i
    return -1


# -- direct -----------------------------------------------------------------------------------------
def replay_direct(messages: list[tuple[str, int, Any]], core) -> dict[int, Any]:
    """Feed the messages to a TrackerCore in bag order; returns {image stamp: Estimate}."""
    stamps, gts = ground_truth(messages)
    first = init_plan(stamps, gts)
    init_stamp = stamps[first] if first >= 0 else None
    out: dict[int, Any] = {}

    def collect(ests):
        for e in ests:
            if e.kind == "image":
                out[e.stamp_ns] = e

    for kind, t, m, _ in messages:
        if kind == "events":
            core.on_packet(m.encoding, m.width, m.height, m.seq, m.time_base, m.events, _ns(m.header.stamp))
        elif kind == "image":
            s = _ns(m.header.stamp)
            if s == init_stamp:
                core.on_init(gts[s], s)
            core.on_image(m.encoding, m.width, m.height, m.step, m.data, s, m.header.frame_id,
                          arrival_ns=t, is_bigendian=m.is_bigendian)
        collect(core.process(now_ns=t))
    collect(core.process(now_ns=2**62, flush=True))
    return out


# -- DDS --------------------------------------------------------------------------------------------
def node_command(params: dict[str, Any], remaps: dict[str, str], params_file: Path) -> list[str]:
    """The tracker node as its own process, with a parameters file and topic remappings."""
    import yaml

    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    cmd = [sys.executable] + os.environ.get("HAD_REPLAY_NODE", "-m had_ros.ros.node").split() + ["--ros-args", "--params-file", str(params_file)]
    for a, b in remaps.items():
        cmd += ["-r", f"{a}:={b}"]
    return cmd


def stop_node(proc: "subprocess.Popen") -> None:
    """Stop a node process started from node_command: SIGINT (a clean rclpy shutdown), SIGKILL
    after 10 s."""
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class _Collector:
    def __init__(self):
        self.detections: dict[int, tuple[float, np.ndarray | None, float]] = {}
        self.states: dict[int, Any] = {}
        self.diagnostics: dict[str, str] = {}

    def on_det(self, msg):
        s = _ns(msg.header.stamp)
        if msg.detections:
            d = msg.detections[0]
            b = d.bbox
            box = np.array([b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y])
            score = d.results[0].hypothesis.score if d.results else float("nan")
        else:
            box, score = None, float("nan")
        self.detections[s] = (time.monotonic(), box, score)

    def on_state(self, msg):
        self.states[_ns(msg.header.stamp)] = msg

    def on_diag(self, msg):
        for st in msg.status:
            if st.name.endswith(": tracker"):
                self.diagnostics = {kv.key: kv.value for kv in st.values}


def replay_dds(bags: list[list[tuple[str, int, Any, bytes]]], node_params: dict[str, Any], rate: float | None,
               timeout_s: float = 120.0, node_log: Path | None = None) -> tuple[list[dict], dict, dict[str, Any]]:
    """Publish each bag's messages to one tracker node process (its reset service between bags);
    returns (per bag: published image wall times by stamp, the detections by stamp, stats)."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from diagnostic_msgs.msg import DiagnosticArray
    from event_camera_msgs.msg import EventPacket
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger
    from vision_msgs.msg import Detection2D, Detection2DArray

    from had_ros.msg import TrackerState

    tmp = Path(tempfile.mkdtemp(prefix="had_replay_"))
    log_path = node_log or tmp / "node.log"
    remaps = {"image": "/replay/image", "events": "/replay/events", "init": "/replay/init",
              "detections": "/replay/detections", "state": "/replay/state", "reset": "/replay/reset"}
    log_f = open(log_path, "w")
    proc = subprocess.Popen(node_command(node_params, remaps, tmp / "params.yaml"), stdout=log_f,
                            stderr=subprocess.STDOUT, env=dict(os.environ))
    own_context = not rclpy.ok()
    if own_context:
        rclpy.init()
    node = rclpy.create_node(f"had_replay_{os.getpid()}")
    col = _Collector()
    all_published: list[dict[int, float]] = []

    def spin(seconds: float = 0.0) -> None:
        rclpy.spin_once(node, timeout_sec=seconds)

    def alive() -> None:
        if proc.poll() is not None:
            raise HadError(f"the tracker node exited with code {proc.returncode}; its log: {log_path}")

    try:
        # what the drivers offer: reliable images, best-effort events (or reliable, to match a node
        # asked for reliable inputs, which a best-effort publisher could not serve)
        ev_rel = ReliabilityPolicy.RELIABLE if node_params.get("qos_reliability") == "reliable" \
            else ReliabilityPolicy.BEST_EFFORT
        pub_img = node.create_publisher(Image, "/replay/image", 10)
        pub_ev = node.create_publisher(EventPacket, "/replay/events", QoSProfile(depth=1000, reliability=ev_rel))
        pub_init = node.create_publisher(Detection2D, "/replay/init", 10)
        reset = node.create_client(Trigger, "/replay/reset")
        node.create_subscription(Detection2DArray, "/replay/detections", col.on_det, 100)
        node.create_subscription(TrackerState, "/replay/state", col.on_state, 100)
        node.create_subscription(DiagnosticArray, "/diagnostics", col.on_diag, 10)
        deadline = time.monotonic() + timeout_s
        while not (pub_img.get_subscription_count() and pub_ev.get_subscription_count()
                   and pub_init.get_subscription_count() and reset.service_is_ready()):
            alive()
            if time.monotonic() > deadline:
                raise HadError(f"the tracker node did not subscribe within {timeout_s:g} s; its log: {log_path}")
            spin(0.05)
        for index, messages in enumerate(bags):
            if index:  # a new sequence: clear the target (the node sees the new stream by itself)
                fut = reset.call_async(Trigger.Request())
                while not fut.done():
                    alive()
                    spin(0.01)
            stamps, gts = ground_truth(messages)
            first = init_plan(stamps, gts)
            init_stamp = stamps[first] if first >= 0 else None
            published: dict[int, float] = {}
            last_image: int | None = None
            t_first = messages[0][1] if messages else 0
            wall0 = time.monotonic()
            for kind, t, m, raw in messages:
                if rate is not None:
                    due = wall0 + (t - t_first) / 1e9 / rate
                    while time.monotonic() < due:
                        spin(max(0.0, min(0.01, due - time.monotonic())))
                if kind == "events":
                    pub_ev.publish(raw)
                elif kind == "image":
                    s = _ns(m.header.stamp)
                    if rate is None and last_image is not None:
                        # lock-step: the next image waits for the previous one's answer (events
                        # keep flowing meanwhile, so the previous image's window can close)
                        wait_until = time.monotonic() + 10.0
                        while last_image not in col.detections and time.monotonic() < wait_until:
                            alive()
                            spin(0.002)
                    if s == init_stamp:
                        b = gts[s]
                        det = Detection2D(id="init")
                        det.header.stamp.sec, det.header.stamp.nanosec = int(s // 10**9), int(s % 10**9)
                        det.header.frame_id = m.header.frame_id
                        det.bbox.center.position.x = float(b[0] + b[2] / 2)
                        det.bbox.center.position.y = float(b[1] + b[3] / 2)
                        det.bbox.size_x, det.bbox.size_y = float(b[2]), float(b[3])
                        pub_init.publish(det)
                    published[s] = time.monotonic()
                    pub_img.publish(raw)
                    last_image = s
            # the last images may wait for events that never come: max_event_wait_ms, then answered
            end = time.monotonic() + 5.0 + float(node_params.get("max_event_wait_ms", 50.0)) / 1e3
            while time.monotonic() < end and not set(published) <= set(col.detections):
                alive()
                spin(0.02)
            all_published.append(published)
        # one more diagnostics report with the final counters
        n_diag = time.monotonic() + 2.5
        seen = dict(col.diagnostics)
        while time.monotonic() < n_diag and col.diagnostics == seen:
            spin(0.05)
    finally:
        node.destroy_node()
        if own_context:
            rclpy.try_shutdown()
        stop_node(proc)
        log_f.close()
    return all_published, col.detections, {"diagnostics": col.diagnostics, "states": col.states,
                                           "node_log": str(log_path)}


# -- results ----------------------------------------------------------------------------------------
def _pct(a: np.ndarray) -> dict[str, float] | None:
    a = a[np.isfinite(a)]
    if not len(a):
        return None
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p90": float(np.percentile(a, 90)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max()), "n": int(len(a))}


def collect_run(name: str, messages, estimates: dict | None = None, published: dict | None = None,
                detections: dict | None = None, states: dict | None = None) -> Replayed:
    stamps, gts = ground_truth(messages)
    n = len(stamps)
    boxes, scores = np.full((n, 4), np.nan), np.full(n, np.nan)
    e2e, node_ms = np.full(n, np.nan), np.full(n, np.nan)
    lost = np.zeros(n, bool)
    for i, s in enumerate(stamps):
        if estimates is not None and s in estimates:
            lost[i] = estimates[s].status == 2
            if estimates[s].box is not None:
                boxes[i], scores[i] = estimates[s].box, estimates[s].score
        if detections is not None and s in detections:
            recv, box, score = detections[s]
            if box is not None:
                boxes[i], scores[i] = box, score
            if published and s in published:
                e2e[i] = (recv - published[s]) * 1e3
        if states is not None and s in states:
            node_ms[i] = states[s].latency_ms
            lost[i] = states[s].status == 2
    have_gt = bool(gts)
    gt = np.array([gts.get(s, np.full(4, np.nan)) for s in stamps]) if have_gt else None
    absent = (~np.isfinite(gt).all(axis=1)) if have_gt else None
    first = init_plan(stamps, gts) if have_gt else -1
    return Replayed(name, np.array(stamps, np.int64), boxes, scores, gt, absent, first, e2e, node_ms, lost)


def score(run: Replayed) -> dict[str, Any] | None:
    """had eval's scoring of one sequence (``runner.score_run``: the same protocol and code)."""
    from types import SimpleNamespace

    from had_ros.eval import runner

    if run.gt is None or not len(run.gt):
        return None
    n = len(run.gt)
    seq_run = runner.SequenceRun(run.name, run.boxes, run.scores, run.lost, np.zeros(n, bool),
                                 run.node_ms / 1e3, run.init_index)
    res = runner.score_run(seq_run, SimpleNamespace(groundtruth=run.gt, absent=run.absent))
    res["frames_without_detection"] = int(np.sum(~np.isfinite(run.boxes).all(axis=1)))
    return res


# -- command line -----------------------------------------------------------------------------------
def add_replay_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Replay a rosbag2 through the real tracker node over DDS (or --direct into its "
                          "processing core) and score the detections against the bag's ground truth.")
    parser.add_argument("bag", type=Path, nargs="+",
                        help="rosbag2 folder(s) or .mcap/.db3 file(s), one sequence each, replayed in order "
                             "through one node (its reset service between them)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--gt-topic", help="vision_msgs/Detection2DArray ground truth (default /ground_truth if present)")
    parser.add_argument("--image-topic", help="sensor_msgs/Image topic (default: the bag's only/first one)")
    parser.add_argument("--events-topic", help="event_camera_msgs/EventPacket topic (default: the first one)")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--rate", type=float, default=None, help="publish at R x the recorded speed (default 1)")
    speed.add_argument("--as-fast-as-possible", action="store_true",
                       help="publish each image once the previous one's detection is back (lock-step)")
    parser.add_argument("--model", default="", help="model parameter of the node (default: the package default)")
    parser.add_argument("--backend", choices=("onnx", "torch"), default="onnx", help="default onnx")
    parser.add_argument("--providers", help="ONNX Runtime providers, comma-separated")
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0: library default)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="any other node parameter (YAML value), repeatable")
    parser.add_argument("--direct", action="store_true",
                        help="no DDS: feed the messages into the node's processing core in this process")
    parser.add_argument("--label", help="name in plots and the summary")
    parser.set_defaults(func=run_replay)


def node_params_from_args(args: argparse.Namespace) -> dict[str, Any]:
    import yaml

    from had_ros.ros import params as P

    values: dict[str, Any] = {"model": args.model, "backend": args.backend, "threads": int(args.threads)}
    if args.providers:
        values["providers"] = [p.strip() for p in args.providers.split(",") if p.strip()]
    for item in args.param:
        if "=" not in item:
            raise HadError(f"--param {item!r}: expected NAME=VALUE")
        k, v = item.split("=", 1)
        k, v = k.strip(), yaml.safe_load(v)
        spec = P.BY_NAME.get(k)
        if spec is not None and spec.type == "double" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)  # ROS types are strict: 1000 is an integer, the node declares a double
        values[k] = v
    if getattr(args, "as_fast_as_possible", False) and not getattr(args, "direct", False):
        # lock-step: waiting costs no frames, so a loaded machine's DDS delays never cut a window
        values.setdefault("max_event_wait_ms", LOCK_STEP_EVENT_WAIT_MS)
        # and reliable delivery: a best-effort image is lost whenever one of its UDP fragments is
        values.setdefault("qos_reliability", "reliable")
    full = {**P.defaults(), **values}
    reason = P.check_all(full)
    if reason:
        raise HadError(f"node parameter refused: {reason}")
    return values


def build_direct_core(values: dict[str, Any]):
    from had_ros.ros import params as P
    from had_ros.ros.core import build_core

    return build_core({**P.defaults(), **values})


def latency_plot(runs: list[Replayed], path: Path, title: str) -> Path | None:
    """Per-image latency (end to end through DDS, and inside the node) over the replay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not any(np.isfinite(r.e2e_ms).any() or np.isfinite(r.node_ms).any() for r in runs):
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    offset = 0
    for r in runs:
        x = np.arange(offset, offset + len(r.stamps))
        if np.isfinite(r.e2e_ms).any():
            ax.plot(x, r.e2e_ms, ".-", lw=0.8, ms=3, color="tab:blue",
                    label="publish -> detection (DDS)" if offset == 0 else None)
        if np.isfinite(r.node_ms).any():
            ax.plot(x, r.node_ms, ".-", lw=0.8, ms=3, color="tab:orange",
                    label="arrival -> publication (node)" if offset == 0 else None)
        offset += len(r.stamps)
    ax.set_xlabel("image (all sequences in order)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load_bag(path: Path, image: str | None = None, events: str | None = None, gt: str | None = None):
    """(sequence name, topics, messages) of one bag."""
    reader, store = open_bag(path)
    with reader:
        topics = pick_topics(reader, image, events, gt)
        messages = list(read_messages(reader, store, topics))
    if not any(m[0] == "image" for m in messages):
        raise DatasetError(f"{path}: no images on {topics.image}")
    return bag_name(path), topics, messages


def run_replay(args: argparse.Namespace) -> int:
    from had_ros.eval import plots, runner
    from had_ros.eval.cli import _json_safe, format_summary, model_info, protocol_text
    from had_ros.tracking.factory import default_model

    values = node_params_from_args(args)
    loaded = [load_bag(b, args.image_topic, args.events_topic, args.gt_topic) for b in args.bag]
    names = [n for n, _, _ in loaded]
    if len(set(names)) != len(names):
        raise DatasetError(f"two bags hold the same sequence name {names}; result files are named by sequence")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    runs: list[Replayed] = []
    if args.direct:
        core = build_direct_core(values)
        for i, (name, _, messages) in enumerate(loaded):
            if i:
                core.reset()
            runs.append(collect_run(name, messages, estimates=replay_direct(messages, core)))
        counters: dict[str, Any] = core.snapshot()
    else:
        rate = None if args.as_fast_as_possible else (args.rate or 1.0)
        if rate is not None and rate <= 0:
            raise HadError(f"--rate must be > 0, got {rate}")
        published, detections, stats = replay_dds([m for _, _, m in loaded], values, rate,
                                                  node_log=out / "node.log")
        for (name, _, messages), pub in zip(loaded, published):
            runs.append(collect_run(name, messages, published=pub, detections=detections, states=stats["states"]))
        counters = stats["diagnostics"]
        extra["images_published"] = sum(len(p) for p in published)
        extra["detections_received"] = len(detections)
    for run in runs:
        runner.write_predictions(out / f"{run.name}.txt", run.boxes)
    model = values.get("model") or default_model()
    info = model_info(model)
    label = args.label or (info["model"] + (" (untrained)" if info["trained"] is False else ""))
    per_seq = {r.name: res for r in runs if (res := score(r)) is not None}
    n_img = sum(len(r.stamps) for r in runs)

    def counter(k):
        try:
            return int(float(counters.get(k, 0)))
        except (TypeError, ValueError):
            return 0

    e2e = np.concatenate([r.e2e_ms for r in runs])
    node_ms = np.concatenate([r.node_ms for r in runs])
    replay_info = {
        "mode": "direct" if args.direct else "dds",
        "rate": None if args.direct or args.as_fast_as_possible else (args.rate or 1.0),
        "lock_step": bool(args.as_fast_as_possible) and not args.direct,
        "bags": [str(Path(b).resolve()) for b in args.bag],
        "topics": {n: t.__dict__ for n, t, _ in loaded},
        "node_parameters": values,
        "images": n_img,
        "images_with_box": int(sum(np.isfinite(r.boxes).all(axis=1).sum() for r in runs)),
        "e2e_latency_ms": _pct(e2e),
        "node_latency_ms": _pct(node_ms),
        "frames_dropped": counter("frames_dropped"),
        "packets_lost": counter("packets_lost"),
        "windows_incomplete": counter("windows_incomplete"),
        "node_counters": counters,
        "seconds": round(time.perf_counter() - started, 2),
        **extra,
    }
    report: dict[str, Any] = {
        **info, "label": label, "backend": values.get("backend"), "device": "cpu",
        "dataset": ", ".join(replay_info["bags"]), "max_frames": None, "lost_as_absent": False,
        "exclude_absent": False,
        "protocol": protocol_text(False, False) + " Replay: the tracker node's detections, matched to the "
                    "images by header stamp; an image without a detection is a miss.",
        "command": " ".join(["had", *map(shlex.quote, sys.argv[1:])]) if sys.argv[1:2] == ["replay"] else None,
        "sequences": per_seq,
        "speed": {"frames_timed": int(np.isfinite(node_ms).sum()), "fps": None,
                  "latency_ms": _pct(node_ms if args.direct else e2e)},
        "replay": replay_info,
    }
    if per_seq:
        report["overall"] = runner.aggregate(per_seq)["overall"]
        plots.write_plots(out / "plots", label, report["overall"])
    latency_plot(runs, out / "plots" / "latency.png", f"{label}: replay latency ({replay_info['mode']})")
    (out / "results.json").write_text(json.dumps(_json_safe(report), indent=1, default=str) + "\n")
    if per_seq:
        print(format_summary(report))
    lat = replay_info["e2e_latency_ms"]
    print(f"replay ({replay_info['mode']}): {replay_info['images_with_box']}/{n_img} images with a box, "
          f"{replay_info['frames_dropped']} frames dropped, {replay_info['packets_lost']} packets lost"
          + (f", end-to-end latency p50 {lat['p50']:.1f} ms p99 {lat['p99']:.1f} ms" if lat else "")
          + f"; results in {out}/")
    return 0
