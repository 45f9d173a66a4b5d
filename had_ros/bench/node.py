"""`had bench node`: the running tracker node under a live synthetic stream.

For each frame rate (30, 60 Hz) and event rate (1, 5, 20 Mev/s): a publisher in this process sends
mono8 346x260 images and 1 ms event packets in real time over DDS (Fast DDS, loopback) to the
tracker node started as its own process (the edge student exported to ONNX, ONNX Runtime, CPU),
with host-clock header stamps as a driver would. Measured: latency from the image's header stamp to
the detection's arrival (p50/p99), frames without a detection (dropped), packets the node did not
receive, the node's CPU use (its process's CPU time over wall time, 100 % = one core).
Baseline in the same run: the same stream through the node's processing core in this process
without DDS (decode + pairing + model per frame, p50/p99).

Events are "mono" packets (64-bit words, times relative to time_base): a pool of pre-encoded packets
(pre-built messages) is sent with increasing time_base, so the publisher does not spend its time
encoding; its own CPU use is reported, as it shares the two cores with the node. Events fall on
uniformly random pixels; ``--target-share`` puts that share of them on a static 40x40 square at
the init box. The node grids only the events of its search square, so their number sets that
cost: on this stream the student drifts and its search square grows to cover the whole sensor
(the worst case; the trained student does not lock onto the static square either). The search
square's side at the end and the boxes' size are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

W, H = 346, 260
PACKET_NS = 1_000_000
TARGET = (150, 110, 40, 40)  # x, y, w, h: the init box and the events' target


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("bench/results/node.md"), help="results file (markdown)")
    p.add_argument("--seconds", type=float, default=4.0, help="measured stream length per setting (default 4)")
    p.add_argument("--lead-in", type=float, default=1.0,
                   help="seconds streamed before the measured part of each setting (default 1; 0: none)")
    p.add_argument("--fps", default="30,60", help="frame rates, comma-separated (default 30,60)")
    p.add_argument("--mevs", default="1,5,20", help="event rates in Mev/s, comma-separated (default 1,5,20)")
    p.add_argument("--model", default=None, help="model (default: the package default, exported to ONNX)")
    p.add_argument("--threads", type=int, default=1, help="inference threads of the node (default 1)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="another parameter of the node (YAML value), repeatable, as had replay's")
    p.add_argument("--target-share", type=float, default=0.0,
                   help="share of the events on a static 40x40 square at the init box (default 0: noise only)")


def _packets(mevs: float, target_share: float = 0.0, pool: int = 32, seed: int = 0) -> list[bytes]:
    from had_ros.events import encode_mono
    from had_ros.events.container import Events

    rng = np.random.default_rng(seed)
    n = max(1, int(round(mevs * 1e6 * PACKET_NS / 1e9)))
    k = int(round(n * target_share))
    tx, ty, tw, th = TARGET
    out = []
    for _ in range(pool):
        t = np.sort(rng.integers(0, PACKET_NS, n))
        x = np.concatenate([rng.integers(tx, tx + tw, k), rng.integers(0, W, n - k)])
        y = np.concatenate([rng.integers(ty, ty + th, k), rng.integers(0, H, n - k)])
        order = rng.permutation(n)  # target and background events interleaved in time
        ev = Events.from_arrays(x[order], y[order], t, rng.integers(0, 2, n), W, H)
        out.append(encode_mono(ev, 0))
    return out


def _search_side(core) -> int | None:
    region = core.tracker.events_region() if getattr(core.tracker, "initialized", False) else None
    return None if region is None else int(region[2] - region[0])


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent busy so far (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _direct(model: str, threads: int, fps: float, mevs: float, seconds: float, target_share: float,
            extra: list[str] = ()) -> dict:
    """The same stream through the processing core, no DDS: time per frame (packets + image + model)."""
    from had_ros.ros import params as P
    from had_ros.ros.core import build_core

    from had_ros.ros.replay import node_params_from_args

    values = node_params_from_args(argparse.Namespace(model=model, backend="onnx", threads=threads,
                                                      providers=None, param=list(extra)))
    core = build_core({**P.defaults(), **values})
    core.warm_up()
    pool = _packets(mevs, target_share)
    img = np.full(W * H, 90, np.uint8).tobytes()
    offset = 10**12
    core.on_init(list(TARGET), 0)
    times, k = [], 0
    n_frames = int(seconds * fps)
    for j in range(1, n_frames + 1):
        t_img = int(j * 1e9 / fps)
        t0 = time.perf_counter()
        while k * PACKET_NS < t_img + PACKET_NS:
            core.on_packet("mono", W, H, k, k * PACKET_NS, pool[k % len(pool)], offset + (k + 1) * PACKET_NS)
            k += 1
        core.on_image("mono8", W, H, W, img, offset + t_img, "camera", arrival_ns=offset + t_img)
        core.process(now_ns=offset + t_img)
        times.append((time.perf_counter() - t0) * 1e3)
    a = np.asarray(times[3:])
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "frames": len(times), "tracked": core.counts["frames_tracked"], "search_side": _search_side(core)}


def _live(model: str, threads: int, settings: list[tuple[float, float]], seconds: float,
          target_share: float, lead_in: float, extra: list[str] = ()) -> list[dict]:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from event_camera_msgs.msg import EventPacket
    from sensor_msgs.msg import Image
    from std_srvs.srv import Trigger
    from vision_msgs.msg import Detection2D, Detection2DArray

    from had_ros.ros.replay import node_command, node_params_from_args, stop_node

    tmp = Path(tempfile.mkdtemp(prefix="had_bench_node_"))
    params = node_params_from_args(argparse.Namespace(model=model, backend="onnx", threads=threads,
                                                      providers=None, param=list(extra)))
    params.setdefault("diagnostics_period_s", 0.5)
    remaps = {n: f"/bench/{n}" for n in ("image", "events", "init", "reset", "detections", "state")}
    log = open(tmp / "node.log", "w")
    proc = subprocess.Popen(node_command(params, remaps, tmp / "params.yaml"), stdout=log, stderr=subprocess.STDOUT)
    rclpy.init()
    node = rclpy.create_node("had_bench_publisher")
    got: dict[int, float] = {}
    sides: list[float] = []
    lock = threading.Lock()

    def on_det(m):
        now = time.time_ns()
        with lock:
            got[m.header.stamp.sec * 10**9 + m.header.stamp.nanosec] = now
            if m.detections:
                b = m.detections[0].bbox
                sides.append(float(np.sqrt(max(b.size_x * b.size_y, 0.0))))

    diags: list[tuple[int, dict]] = []  # (the report's stamp, host ns; its values)
    from diagnostic_msgs.msg import DiagnosticArray

    node.create_subscription(Detection2DArray, "/bench/detections", on_det, 100)
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: diags.append(
        (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec, {kv.key: kv.value for s in m.status for kv in s.values})), 10)
    pub_img = node.create_publisher(Image, "/bench/image", 10)
    pub_ev = node.create_publisher(EventPacket, "/bench/events", QoSProfile(depth=1000, reliability=ReliabilityPolicy.BEST_EFFORT))
    pub_init = node.create_publisher(Detection2D, "/bench/init", 10)
    reset = node.create_client(Trigger, "/bench/reset")
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    spinner = threading.Thread(target=ex.spin, daemon=True)
    spinner.start()
    results = []
    try:
        deadline = time.monotonic() + 180
        while not (pub_img.get_subscription_count() and pub_ev.get_subscription_count() and reset.service_is_ready()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the tracker node did not come up; see {tmp / 'node.log'}")
            time.sleep(0.05)
        img = Image(width=W, height=H, step=W, encoding="mono8", data=np.full(W * H, 90, np.uint8).tobytes())
        img.header.frame_id = "camera"
        for fps, mevs in settings:
            reset.call_async(Trigger.Request())
            time.sleep(0.3)
            last = diags[-1][1] if diags else {}
            dropped_before = int(float(last.get("frames_dropped", 0)))
            lost_before = int(float(last.get("packets_lost", 0)))
            det = Detection2D(id="init")
            tx, ty, tw, th = TARGET
            det.bbox.center.position.x, det.bbox.center.position.y = tx + tw / 2, ty + th / 2
            det.bbox.size_x, det.bbox.size_y = float(tw), float(th)
            pub_init.publish(det)
            pool = _packets(mevs, target_share)
            msgs = [EventPacket(width=W, height=H, encoding="mono", events=p) for p in pool]
            with lock:
                got.clear()
                sides.clear()
            wall0 = time.monotonic()
            sensor0 = 0
            k, j, sent_img, sent_pk, late = 0, 1, [], [], 0
            cpu_a = None
            while True:
                now = time.monotonic() - wall0
                if now >= lead_in + seconds:
                    break
                if cpu_a is None and now >= lead_in:  # the measured part starts
                    cpu_a, own_a, t_a = _cpu_seconds(proc.pid), time.process_time(), time.monotonic()
                    busy_a = _busy_seconds()
                t_pkt, t_img = (k + 1) * PACKET_NS / 1e9, j / fps
                due = min(t_pkt, t_img)
                if due > now:
                    time.sleep(min(due - now, 0.002))
                    continue
                stamp = time.time_ns()
                if t_pkt <= t_img:
                    m = msgs[k % len(msgs)]
                    m.seq, m.time_base = k, sensor0 + k * PACKET_NS
                    m.header.stamp.sec, m.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
                    pub_ev.publish(m)
                    sent_pk.append(stamp)
                    k += 1
                else:
                    img.header.stamp.sec, img.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
                    pub_img.publish(img)
                    sent_img.append(stamp)
                    j += 1
                if now >= lead_in and now - due > 0.005:
                    late += 1
            span = time.monotonic() - t_a
            own_cpu = (time.process_time() - own_a) / span
            cpu = (_cpu_seconds(proc.pid) - cpu_a) / span
            other_cpu = (_busy_seconds() - busy_a) / span - cpu - own_cpu
            time.sleep(1.6)  # the last answers and a diagnostics report after the stream
            # the measured part: from the node's first diagnostics report after the lead-in (its
            # counters then) to the end; images and packets stamped after that report's stamp
            t_lead = sent_pk[min(len(sent_pk) - 1, int(lead_in * 1e9 / PACKET_NS))]
            reports = [(t, d) for t, d in diags if t >= t_lead]
            t_b, before = reports[0] if reports else (t_lead, last)
            after = diags[-1][1]
            images = [st for st in sent_img if st > t_b]
            packets = sum(st > t_b for st in sent_pk)
            with lock:
                lat = np.array([(got[st] - st) / 1e6 for st in images if st in got])
                answered = int(sum(st in got for st in images))
            recv_pk = float(after.get("packets", 0)) - float(before.get("packets", 0))
            recv_img = float(after.get("images", 0)) - float(before.get("images", 0))
            results.append({
                "fps": fps, "mevs": mevs, "images": len(images), "packets": packets,
                "answered": answered,
                "p50": float(np.percentile(lat, 50)) if len(lat) else None,
                "p99": float(np.percentile(lat, 99)) if len(lat) else None,
                "frames_dropped_node": int(float(after.get("frames_dropped", 0)) - float(before.get("frames_dropped", 0))),
                # packets in flight at the report are counted as received: the count is within a few
                "packets_not_received": max(0, int(packets - recv_pk)), "cpu": cpu, "publisher_late": late,
                "images_not_received": max(0, int(len(images) - recv_img)),
                "publisher_cpu": own_cpu, "other_cpu": max(0.0, other_cpu),
                "box_side": float(np.median(sides[len(sides) // 2:])) if sides else None,
                "lead_in_dropped": int(float(before.get("frames_dropped", 0))) - dropped_before,
                "lead_in_lost": int(float(before.get("packets_lost", 0))) - lost_before,
            })
            print(json.dumps(results[-1]))
            if os.environ.get("HAD_BENCH_DEBUG"):
                print(json.dumps(after))
    finally:
        ex.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        stop_node(proc)
        log.close()
    return results


def run(args: argparse.Namespace) -> int:
    from had_ros import cli
    from had_ros.tracking.factory import default_model

    fps_list = [float(v) for v in args.fps.split(",")]
    mevs_list = [float(v) for v in args.mevs.split(",")]
    model = args.model
    if model is None or not str(model).endswith(".onnx"):
        onnx = Path(tempfile.mkdtemp(prefix="had_bench_node_")) / "student.onnx"
        if cli.main(["export", "--model", model or default_model(), "--out", str(onnx)]) != 0:
            return 1
        model = str(onnx)
    settings = [(f, m) for f in fps_list for m in mevs_list]
    live = _live(model, args.threads, settings, args.seconds, args.target_share, args.lead_in, args.param)
    rows = []
    for r in live:
        d = _direct(model, args.threads, r["fps"], r["mevs"], min(args.seconds, 2.0), args.target_share, args.param)
        rows.append((r, d))
        print(f"direct {r['fps']:g} Hz {r['mevs']:g} Mev/s: p50 {d['p50']:.1f} ms p99 {d['p99']:.1f} ms")
    cmd = "had bench node " + " ".join(sys.argv[3:]) if sys.argv[1:3] == ["bench", "node"] else "had bench node"
    lines = [
        "# Tracker node under a live stream", "",
        f"Command: `{cmd}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end; model {Path(model).name} on ONNX Runtime CPU, "
        f"{args.threads} inference thread(s)).", "",
        "Live: images (mono8 346x260) and 1 ms mono event packets published in real time over DDS to the node "
        "as its own process (node defaults, so events_batch_ms 2); latency = detection arrival - image "
        "header stamp. Direct: the same stream through the node's processing core in this process, no DDS "
        "(time per frame: its packets, the image, the model). 'no detection' counts the images published "
        "without an answer: the node's stale drops ('node drops') and the images it never received "
        "('images lost': the subscription is best effort, as the default qos_reliability). "
        f"Events on random pixels ({100 * args.target_share:.0f} % on a static 40x40 square at the init box); "
        "'box side' is sqrt(w*h) of the node's boxes (second half of the run), "
        "'search side' the side of the direct core's search square at the end (the events of that "
        "square are gridded). 'publisher CPU' is the benchmark's own process (publisher and detection "
        "subscriber), which shares the two cores with the node; 'other CPU' is what the rest of the "
        "machine used meanwhile (200 % = both cores; interrupt work for the loopback traffic counts "
        "there too): other jobs on the machine slow every column. "
        f"Each setting is a new stream (seq from 0: the node restarts its decoder and buffer) whose first "
        f"{args.lead_in:g} s are not measured; the measured part starts at the node's first diagnostics "
        "report after that (its counters then) and lasts about --seconds; what the lead-in dropped is "
        "listed under the table.", "",
        "| frames | events | latency p50 / p99 (ms) | no detection | node drops | images lost | packets lost | node CPU | publisher CPU | other CPU | box side | direct p50 / p99 (ms) | search side | DDS p50 / direct p50 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r, d in rows:
        p50 = "-" if r["p50"] is None else f"{r['p50']:.1f}"
        p99 = "-" if r["p99"] is None else f"{r['p99']:.1f}"
        ratio = "-" if r["p50"] is None else f"{r['p50'] / d['p50']:.2f}x"
        side = "-" if r.get("box_side") is None else f"{r['box_side']:.0f}"
        lines.append(f"| {r['fps']:g} Hz | {r['mevs']:g} Mev/s | {p50} / {p99} | "
                     f"{r['images'] - r['answered']}/{r['images']} | {r['frames_dropped_node']} | "
                     f"{r['images_not_received']} | "
                     f"{r['packets_not_received']}/{r['packets']} | {100 * r['cpu']:.0f} % | "
                     f"{100 * r['publisher_cpu']:.0f} % | {100 * r['other_cpu']:.0f} % | {side} | "
                     f"{d['p50']:.1f} / {d['p99']:.1f} | {d['search_side'] or '-'} | {ratio} |")
    lines += ["", "Lead-in (not measured): " + "; ".join(
        f"{r['fps']:g} Hz / {r['mevs']:g} Mev/s: {r['lead_in_dropped']} frames dropped, {r['lead_in_lost']} packets lost"
        for r, _ in rows) + "."]
    for r, d in rows:
        if (r["fps"], r["mevs"]) == (30.0, 20.0):
            held = r["images"] == r["answered"] and r["p99"] is not None and r["p99"] <= 50.0
            lines += ["", f"30 Hz / 20 Mev/s: {r['images'] - r['answered']} of {r['images']} frames without a "
                      f"detection, p99 {'-' if r['p99'] is None else format(r['p99'], '.1f')} ms: target "
                      f"{'MET' if held else 'MISSED'} in this run."]
    slow = [f"{r['fps']:g} Hz / {r['mevs']:g} Mev/s" for r, d in rows if d["p50"] > 1000.0 / r["fps"]]
    lines += ["", "Target (issue 8): 30 Hz with 20 Mev/s, no frame dropped, p99 <= 50 ms. No GPU here: "
              "CUDA/TensorRT providers not measured."]
    if slow:
        lines += ["", f"Where the core alone needs more than a frame interval per frame ({', '.join(slow)}), no "
                  "transport can hold the rate on this machine: the node then drops stale frames (latest "
                  "first) instead of queueing them, which is what 'no detection' counts. Compare the direct "
                  "column with bench/results/models.md (the model alone on a quiet machine) before reading "
                  "the DDS columns as the node's cost."]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0
