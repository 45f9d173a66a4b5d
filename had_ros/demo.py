"""`had demo`: the built-in end-to-end run, no dataset and no download.

1. generate a few synthetic RGB + event sequences with rosbag2 MCAP copies — `had simulate`;
2. check a bag: its event packets decoded one by one through the live accumulator equal the
   sequence's events.raw, and the sensor-to-host clock offset estimated from the stamps;
3. draw the event representations (count histogram, voxel grid bins, time surface) at one frame;
4. export the default model (the shipped weights, else the untrained registry student: the
   report says which) to ONNX and check ONNX Runtime against torch — `had export`;
5. the main job: start the real tracker node on that ONNX file, replay the bags through DDS into
   it and score its detections — `had replay` (results.json, per-sequence boxes, plots, node.log);
   the same messages through the node's processing core without DDS (`--direct`) must give the
   same boxes;
6. an annotated animation (tracking.gif): frames, events, ground truth and the node's boxes.
Everything lands in --out, and a summary is printed at the end.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np



def add_demo_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0] + " Steps: simulate, check a bag, representations, ONNX export, replay through the tracker node over DDS, animation."
    parser.add_argument("--out", default="demo_out", metavar="DIR", help="output folder (default demo_out)")
    parser.add_argument("--sequences", type=int, default=2, metavar="N", help="synthetic sequences (default 2)")
    parser.add_argument("--frames", type=int, default=45, metavar="F", help="frames per sequence (default 45)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--width", type=int, default=346, help="sensor width (default 346, DAVIS346)")
    parser.add_argument("--height", type=int, default=260, help="sensor height (default 260)")
    parser.add_argument("--model", default=None,
                        help="registry name or checkpoint of the student (default: the package default, "
                             "had_ros.tracking.factory.default_model())")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for inference (default 2)")
    parser.set_defaults(func=run_demo)


def _had(argv: list[str]) -> None:
    from had_ros import cli
    from had_ros.errors import HadError

    rc = cli.main(argv)
    if rc != 0:
        raise HadError(f"demo step `had {' '.join(argv)}` failed with exit code {rc}")


def replay_bag(bag_dir: Path, raw_path: Path) -> dict:
    """Decode a bag's EventPackets one by one into an EventAccumulator, as the node will, and
    check the result against the sequence's events.raw."""
    from rosbags.rosbag2 import Reader

    from had_ros.events import EventAccumulator, make_decoder, read_events
    from had_ros.msgdefs import typestore

    store = typestore()
    reference = read_events(raw_path)
    acc = None
    decoder = None
    packets = total_bytes = 0
    seqs = []
    decode_s = 0.0
    with Reader(bag_dir) as reader:
        conns = [c for c in reader.connections if c.msgtype == "event_camera_msgs/msg/EventPacket"]
        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if decoder is None:
                decoder = make_decoder(msg.encoding, msg.width, msg.height)
                acc = EventAccumulator(msg.width, msg.height, max_events=50_000_000, max_age_ns=None)
            payload = bytes(msg.events)
            t0 = time.perf_counter()
            events = decoder.decode(payload)
            decode_s += time.perf_counter() - t0
            acc.push(events, host_stamp_ns=msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)
            packets += 1
            total_bytes += len(payload)
            seqs.append(msg.seq)
    if acc is None:
        raise RuntimeError(f"{bag_dir}: no EventPacket messages")
    replayed = acc.window(np.iinfo(np.int64).min, np.iinfo(np.int64).max)
    return {
        "packets": packets,
        "bytes": total_bytes,
        "events": len(replayed),
        "matches_events_raw": bool(replayed.equals(reference)),
        "lost_packets": int(np.sum(np.diff(np.asarray(seqs, np.int64)) - 1)) if len(seqs) > 1 else 0,
        "decode_mev_s": len(replayed) / decode_s / 1e6 if decode_s > 0 else float("nan"),
        "sensor_to_host_offset_ms": acc.offset_ns / 1e6 if acc.offset_ns is not None else None,
        "decoder_stats": dict(getattr(decoder, "stats", {})),
    }


def draw_representations(seq_dir: Path, out_png: Path, frame_index: int | None = None, bins: int = 5) -> dict:
    """One figure: the RGB frame with its box, the ON/OFF histogram, the voxel bins, the time surface."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from had_ros.data.loaders import open_sequence
    from had_ros.events import count_histogram, time_surface, voxel_grid

    seq = open_sequence(seq_dir)
    present = np.flatnonzero(~seq.absent)
    i = int(frame_index if frame_index is not None else present[len(present) // 2] if len(present) else len(seq) // 2)
    t0, t1 = seq.event_span(i)  # the frame's event window, as training and tracking use it
    ev = seq.events_between(t0, t1)
    h, w = seq.height, seq.width
    hist = count_histogram(ev, h, w)
    vox = voxel_grid(ev, bins, h, w, t0, t1)
    surf = time_surface(ev, h, w, tau_ns=(t1 - t0) / 2, t_ref=t1)

    fig, axes = plt.subplots(2, 4, figsize=(16, 6.4))
    axes[0, 0].imshow(seq.frame(i))
    axes[0, 0].set_title(f"RGB frame {i} ({', '.join(sorted(seq.attributes)) or 'no attributes'})", fontsize=9)
    if not seq.absent[i]:
        x, y, bw, bh = seq.groundtruth[i]
        axes[0, 0].add_patch(Rectangle((x, y), bw, bh, fill=False, ec="lime", lw=1.5))
    rgb = np.zeros((h, w, 3), np.float32)
    scale = max(float(np.percentile(hist[hist > 0], 99)) if np.any(hist > 0) else 1.0, 1.0)
    rgb[..., 0] = np.clip(hist[1] / scale, 0, 1)  # ON red
    rgb[..., 2] = np.clip(hist[0] / scale, 0, 1)  # OFF blue
    axes[0, 1].imshow(rgb)
    axes[0, 1].set_title(f"count histogram: {len(ev):,} events in {(t1 - t0) / 1e6:.1f} ms (ON red, OFF blue)", fontsize=9)
    im = axes[0, 2].imshow(surf.max(axis=0) if surf.ndim == 3 else surf, cmap="magma")
    axes[0, 2].set_title("time surface (newest bright)", fontsize=9)
    fig.colorbar(im, ax=axes[0, 2], fraction=0.035)
    lim = max(float(np.abs(vox).max()), 1e-6)
    axes[0, 3].imshow(vox.sum(axis=0), cmap="seismic", vmin=-lim, vmax=lim)
    axes[0, 3].set_title("voxel grid summed over bins", fontsize=9)
    for b in range(min(bins, 4)):
        axes[1, b].imshow(vox[b], cmap="seismic", vmin=-lim, vmax=lim)
        axes[1, b].set_title(f"voxel bin {b} of {bins} (signed)", fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{seq.name}: event representations at frame {i}", fontsize=11)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return {"sequence": seq.name, "frame": i, "events_in_window": len(ev),
            "voxel_abs_sum": float(np.abs(vox).sum()), "histogram_sum": float(hist.sum())}


def annotated_gif(seq_dir: Path, boxes_file: Path, out_gif: Path, fps: float = 12.0, scale: int = 2) -> dict:
    """An animation of one sequence: each frame with its window's events (ON red, OFF blue), the
    ground-truth box (green) and the node's box (yellow), frame number and IoU."""
    import cv2
    import imageio.v2 as imageio

    from had_ros.data.loaders import open_sequence
    from had_ros.eval.metrics import box_iou
    from had_ros.eval.runner import read_predictions

    seq = open_sequence(seq_dir)
    pred = read_predictions(boxes_file)
    frames = []
    for i in range(len(seq)):
        img = np.ascontiguousarray(seq.frame(i)).astype(np.float32)
        ev = seq.events_between(*seq.event_span(i))
        on = ev.p.astype(bool)
        for mask, color in ((on, (255, 40, 40)), (~on, (40, 80, 255))):  # half-transparent events
            img[ev.y[mask], ev.x[mask]] = 0.5 * img[ev.y[mask], ev.x[mask]] + 0.5 * np.asarray(color, np.float32)
        img = img.astype(np.uint8)
        img = cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
        text = f"{seq.name} #{i}"
        for box, color in ((None if seq.absent[i] else seq.groundtruth[i], (0, 230, 0)), (pred[i], (255, 255, 0))):
            if box is None or not np.all(np.isfinite(box)):
                continue
            x, y, w, h = (float(v) * scale for v in box)
            cv2.rectangle(img, (int(x), int(y)), (int(x + w), int(y + h)), color, 2)
        if not seq.absent[i] and np.all(np.isfinite(pred[i])):
            text += f"  IoU {float(box_iou(pred[i:i + 1], seq.groundtruth[i:i + 1])[0]):.2f}"
        cv2.putText(img, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.putText(img, "green: ground truth  yellow: tracker node", (6, img.shape[0] - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
        frames.append(img)
    out_gif.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(out_gif, frames, duration=1.0 / fps, loop=0)
    return {"sequence": seq.name, "frames": len(frames), "path": str(out_gif)}


def run_demo(args: argparse.Namespace) -> int:
    from had_ros.errors import HadError
    from had_ros.tracking.factory import default_model

    if args.sequences < 1 or args.frames < 3:
        raise HadError(f"demo needs --sequences >= 1 and --frames >= 3, got {args.sequences} and {args.frames}")
    out = Path(args.out)
    data = out / "data"
    started = time.perf_counter()
    model = args.model or default_model()
    summary: dict = {"model": model}
    print(f"model: {model}" + ("" if args.model else " (the default: had_ros.tracking.factory.default_model)"))

    print("== 1/6 simulate: synthetic RGB + event sequences with rosbag2 copies (had simulate)")
    _had(["simulate", "--out", str(data), "--sequences", str(args.sequences), "--frames", str(args.frames),
          "--seed", str(args.seed), "--width", str(args.width), "--height", str(args.height),
          "--bag", "--overwrite"])
    seq_dirs = sorted(p for p in data.iterdir() if (p / "meta.json").is_file())
    bags = [b for d in seq_dirs for b in sorted(d.glob("*.mcap"))]
    if len(bags) != len(seq_dirs):
        raise HadError(f"{data}: the simulator wrote {len(bags)} bags for {len(seq_dirs)} sequences")

    print("\n== 2/6 check the bag: the first sequence's event packets, decoded packet by packet")
    first = seq_dirs[0]
    replay = replay_bag(bags[0], first / "events.raw")
    summary["replay"] = replay
    print(f"{replay['packets']} packets, {replay['events']:,} events, {replay['lost_packets']} lost, "
          f"decoding {replay['decode_mev_s']:.1f} Mev/s, sensor-to-host offset "
          f"{replay['sensor_to_host_offset_ms']:.3f} ms, identical to events.raw: {replay['matches_events_raw']}")
    if not replay["matches_events_raw"]:
        raise HadError("replayed bag events differ from events.raw")

    print("\n== 3/6 representations")
    summary["representations"] = draw_representations(first, out / "representations.png")
    print(f"wrote {out / 'representations.png'}")

    print(f"\n== 4/6 export the default model to ONNX and check ONNX Runtime against torch (had export)")
    onnx_path = out / "student.onnx"
    _had(["export", "--model", model, "--out", str(onnx_path)])

    print("\n== 5/6 the tracker node: replay the bags through DDS into the real node (had replay), "
          "and the same messages into its processing core without DDS (--direct)")
    node_args = ["--model", str(onnx_path), "--backend", "onnx", "--threads", str(args.threads)]
    _had(["replay", *map(str, bags), "--out", str(out), "--as-fast-as-possible", *node_args])
    _had(["replay", *map(str, bags), "--out", str(out / "direct"), "--direct", *node_args])
    from had_ros.eval.runner import read_predictions

    diffs = []
    for d in seq_dirs:
        a, b = read_predictions(out / f"{d.name}.txt"), read_predictions(out / "direct" / f"{d.name}.txt")
        both = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        diffs.append(float(np.abs(a[both] - b[both]).max()) if both.any() else 0.0)
        diffs.append(0.0 if (np.isfinite(a).all(1) == np.isfinite(b).all(1)).all() else float("inf"))
    summary["dds_vs_direct_max_px"] = max(diffs)

    print("\n== 6/6 annotated animation")
    summary["animation"] = annotated_gif(first, out / f"{first.name}.txt", out / "tracking.gif")
    print(f"wrote {out / 'tracking.gif'}")

    res = json.loads((out / "results.json").read_text())
    summary["results"] = {k: res.get(k) for k in ("trained", "overall", "speed")}
    summary["node"] = {k: res["replay"].get(k) for k in ("e2e_latency_ms", "node_latency_ms", "frames_dropped",
                                                         "packets_lost", "windows_incomplete", "images",
                                                         "images_with_box", "detections_received")}
    summary["seconds"] = round(time.perf_counter() - started, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))

    overall = res.get("overall", {})
    lat = res["replay"].get("e2e_latency_ms") or {}
    print("\n== demo summary")
    trained = "trained" if res.get("trained") else "UNTRAINED: random weights, the scores measure the pipeline, not the method"
    print(f"model: {res.get('model')} ({trained})")
    print(f"tracker node over DDS: {res['replay'].get('detections_received')}/{res['replay']['images']} images answered, "
          f"{res['replay']['frames_dropped']} frames dropped, {res['replay']['packets_lost']} packets lost; "
          f"end-to-end latency p50 {lat.get('p50', float('nan')):.1f} ms, p99 {lat.get('p99', float('nan')):.1f} ms "
          f"(lock-step replay on this machine)")
    print(f"success AUC {overall.get('success_auc') or float('nan'):.1f}  P@20 {overall.get('precision_20') or float('nan'):.1f}  "
          f"NP@0.2 {overall.get('norm_precision_20') or float('nan'):.1f}  (pytracking rules: absent frames count "
          "as misses, docs/evaluation.md)")
    attrs = sorted({a for d in seq_dirs for a in json.loads((d / "meta.json").read_text()).get("attributes", [])})
    print(f"  on {len(seq_dirs)} generated sequences of {args.frames} frames (attributes: {', '.join(attrs) or 'none'}): "
          "a smoke test of the pipeline, not a benchmark; the held-out scores are in bench/results/ablation.md")
    print(f"DDS vs direct core: boxes differ by at most {summary['dds_vs_direct_max_px']:.3g} px")
    print(f"outputs in {out}/: results.json, <sequence>.txt, plots/ (success, precision, latency), tracking.gif, "
          f"representations.png, student.onnx, node.log, direct/, data/ (sequences and bags), summary.json "
          f"[{summary['seconds']} s]")
    return 0
