"""`had eval` end to end on a tiny had_sim-format dataset built here (2 sequences, 8 frames, 96x72),
with a real registry model through the real tracker, a checkpoint, and existing prediction files."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from had_ros.cli import main
from had_ros.eval.cli import format_summary, select_sequences
from had_ros.errors import DatasetError
from had_ros.events import Events, write_raw

W, H, N = 96, 72, 8
FRAME_NS = 33_333_333
AUC_CAP = 100.0 * 20 / 21


def _square_events(box_prev, box, t0, t1, rng) -> tuple[np.ndarray, ...]:
    """Events on the outline of a moving square: ON at the leading edges, OFF at the trailing ones."""
    xs, ys, ps = [], [], []
    for (x, y, w, h), p in ((box, 1), (box_prev, 0)):
        x0, y0, x1, y1 = int(x), int(y), int(x + w) - 1, int(y + h) - 1
        for xx in range(x0, x1 + 1):
            xs += [xx, xx]
            ys += [y0, y1]
            ps += [p, p]
        for yy in range(y0, y1 + 1):
            xs += [x0, x1]
            ys += [yy, yy]
            ps += [p, p]
    xs, ys, ps = np.array(xs), np.array(ys), np.array(ps)
    keep = (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H)
    t = np.sort(rng.integers(t0, t1, keep.sum()))
    return xs[keep], ys[keep], t, ps[keep]


def make_sequence(root: Path, name: str, velocity: tuple[float, float], absent_frames=(),
                  attributes=("fast_motion",), seed=0) -> np.ndarray:
    """Write one had_sim/1 sequence folder; returns its ground truth."""
    rng = np.random.default_rng(seed)
    d = root / name
    (d / "frames").mkdir(parents=True)
    gt = np.array([[20 + velocity[0] * i, 18 + velocity[1] * i, 16, 14] for i in range(N)], float)
    times = [2 * FRAME_NS + i * FRAME_NS for i in range(N)]
    parts = []
    for i in range(N):
        img = np.full((H, W, 3), 30, np.uint8)
        x, y, w, h = gt[i].astype(int)
        if i not in absent_frames:
            img[y:y + h, x:x + w] = (220, 180, 40)
            img[y + 4:y + 8, x + 4:x + 8] = (20, 20, 200)  # texture, so the template has structure
        cv2.imwrite(str(d / "frames" / f"{i:06d}.png"), img[:, :, ::-1])  # RGB on disk
        prev = gt[i - 1] if i else gt[0] - [velocity[0], velocity[1], 0, 0]
        parts.append(_square_events(prev, gt[i], times[i] - FRAME_NS, times[i], rng))
    x, y, t, p = (np.concatenate(c) for c in zip(*parts))
    write_raw(d / "events.raw", Events.from_arrays(x, y, t, p, W, H))
    np.savetxt(d / "groundtruth.txt", gt, fmt="%.2f", delimiter=",")
    (d / "frame_times.txt").write_text("".join(f"{t}\n" for t in times))
    (d / "absent.txt").write_text("".join(f"{0 if i in absent_frames else 1}\n" for i in range(N)))
    (d / "meta.json").write_text(json.dumps({
        "name": name, "width": W, "height": H, "fps": 30.0, "num_frames": N, "seed": seed,
        "attributes": list(attributes), "format": "had_sim/1"}))
    return gt


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_had_sim")
    make_sequence(root, "slide", (2.0, 1.0), attributes=("fast_motion",), seed=1)
    make_sequence(root, "hide", (-1.0, 1.5), absent_frames=(5,), attributes=("occlusion",), seed=2)
    return root


@pytest.fixture(scope="module")
def untrained_run(dataset, tmp_path_factory):
    """One real-tracker evaluation with the untrained edge student, shared by the checks below."""
    out = tmp_path_factory.mktemp("eval_edge")
    rc = main(["eval", "--dataset", str(dataset), "--model", "had_student_event_edge",
               "--out", str(out), "--attributes", "--no-progress"])
    return rc, out


def test_real_model_writes_predictions_json_and_plots(untrained_run, dataset, capsys):
    rc, out = untrained_run
    assert rc == 0
    report = json.loads((out / "results.json").read_text())
    assert report["model"] == "had_student_event_edge"
    assert report["trained"] is False and "UNTRAINED" in report["note"]
    assert report["backend"] == "torch" and report["device"] == "cpu"
    assert set(report["sequences"]) == {"slide", "hide"}
    for name in ("slide", "hide"):
        boxes = np.loadtxt(out / f"{name}.txt", delimiter=",")
        gt = np.loadtxt(dataset / name / "groundtruth.txt", delimiter=",")
        assert boxes.shape == (N, 4) and np.isfinite(boxes).all()
        np.testing.assert_allclose(boxes[0], gt[0], atol=1e-3)  # init frame = ground truth
        # the tracker clips boxes to the image
        assert (boxes[:, 2:] > 0).all() and (boxes[:, 0] + boxes[:, 2] <= W + 1e-3).all()
        seq = report["sequences"][name]
        assert seq["num_frames"] == N and seq["frames_timed"] == N - 1
        for key in ("success_auc", "precision_20", "norm_precision_20"):
            # frame 0 is always a hit, so at least 1/8; never above the protocol's cap
            assert 100 / N - 1e-9 <= seq[key] <= 100
        assert seq["success_auc"] <= AUC_CAP + 1e-9
    overall = report["overall"]
    assert overall["num_sequences"] == 2 and overall["num_frames"] == 2 * N
    assert overall["precision_20"] == pytest.approx(
        (report["sequences"]["slide"]["precision_20"] + report["sequences"]["hide"]["precision_20"]) / 2)
    assert set(report["attributes"]) == {"fast_motion", "occlusion"}
    assert report["attributes"]["occlusion"]["sequences"] == ["hide"]
    speed = report["speed"]
    assert speed["frames_timed"] == 2 * (N - 1) and speed["fps"] > 0
    lat = speed["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    for png in ("success", "precision", "norm_precision", "success_attributes", "precision_attributes"):
        data = (out / "plots" / f"{png}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_predictions_mode_rescores_the_written_files_identically(untrained_run, dataset, tmp_path, capsys):
    _, first = untrained_run
    rc = main(["eval", "--dataset", str(dataset), "--predictions", str(first), "--out", str(tmp_path),
               "--label", "again"])
    assert rc == 0
    a = json.loads((first / "results.json").read_text())
    b = json.loads((tmp_path / "results.json").read_text())
    assert b["trained"] is None and b["model"] == "again" and b["speed"]["fps"] is None
    for key in ("success_auc", "precision_20", "norm_precision_20"):
        assert b["overall"][key] == pytest.approx(a["overall"][key])
    assert "attributes" not in b


def test_predictions_equal_to_ground_truth_score_the_maximum(dataset, tmp_path, capsys):
    preds = tmp_path / "oracle"
    preds.mkdir()
    for name in ("slide", "hide"):
        gt = np.loadtxt(dataset / name / "groundtruth.txt", delimiter=",")
        np.savetxt(preds / f"{name}.txt", gt, delimiter="\t")  # pytracking writes tabs
    absent = np.loadtxt(dataset / "hide" / "absent.txt") == 0
    (preds / "hide_pred_absent.txt").write_text("".join(f"{int(a)}\n" for a in absent))
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(dataset), "--predictions", str(preds), "--out", str(out)]) == 0
    o = json.loads((out / "results.json").read_text())["overall"]
    assert o["success_auc"] == pytest.approx(AUC_CAP)
    assert o["precision_20"] == 100.0 and o["norm_precision_20"] == 100.0
    text = capsys.readouterr().out
    assert "OVERALL" in text and "external predictions" in text


def test_checkpoint_on_onnx_counts_as_trained_and_max_frames_truncates(dataset, tmp_path, capsys):
    from had_ros.models import create_model, save_checkpoint

    ckpt = tmp_path / "ckpt"
    # "trained" is read from the checkpoint's training record (had train writes it), not guessed
    save_checkpoint(create_model("had_student_event_edge", depth=1, init_seed=0,
                                 extra={"training": {"trained": True, "steps": 1}}), ckpt)
    out = tmp_path / "out"
    rc = main(["eval", "--dataset", str(dataset), "--model", str(ckpt), "--out", str(out),
               "--sequences", "slide", "--max-frames", "3", "--no-progress",
               "--backend", "onnx", "--providers", "CPUExecutionProvider", "--threads", "1"])
    assert rc == 0
    report = json.loads((out / "results.json").read_text())
    assert report["trained"] is True and report["checkpoint"] == str(ckpt.resolve())
    assert report["backend"] == "onnx" and report["device"] == "CPUExecutionProvider"
    assert list(report["sequences"]) == ["slide"] and report["sequences"]["slide"]["num_frames"] == 3
    assert len((out / "slide.txt").read_text().splitlines()) == 3
    assert not (out / "hide.txt").exists()
    printed = capsys.readouterr().out
    assert "trained checkpoint" in printed and "UNTRAINED" not in printed


def test_user_errors_exit_1_with_a_message(dataset, tmp_path, capsys):
    rc = main(["eval", "--dataset", str(dataset), "--predictions", str(tmp_path), "--out",
               str(tmp_path / "o"), "--sequences", "slide,nope"])
    assert rc == 1 and "['nope'] not in dataset" in capsys.readouterr().err
    rc = main(["eval", "--dataset", str(dataset), "--predictions", str(tmp_path / "none"), "--out",
               str(tmp_path / "o")])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
    rc = main(["eval", "--dataset", str(dataset), "--predictions", str(tmp_path), "--out",
               str(tmp_path / "o"), "--max-frames", "0"])
    assert rc == 1 and "--max-frames must be at least 1" in capsys.readouterr().err


def test_select_sequences_keeps_the_requested_order():
    class S:
        def __init__(self, name):
            self.name = name
    seqs = [S("a"), S("b"), S("c")]
    assert [s.name for s in select_sequences(seqs, "c, a", Path("."))] == ["c", "a"]
    assert select_sequences(seqs, None, Path(".")) is seqs
    with pytest.raises(DatasetError, match=r"\['x'\] not in dataset"):
        select_sequences(seqs, "x", Path("."))


def test_summary_table_flags_untrained_models():
    seq = {"num_frames": 8, "success_auc": 50.0, "precision_20": 60.0, "norm_precision_20": 55.5,
           "fps": 12.3}
    report = {"model": "m", "trained": False, "note": "UNTRAINED: random", "backend": "torch",
              "device": "cpu", "sequences": {"s": seq},
              "overall": {**seq, "num_frames": 8},
              "speed": {"fps": 12.3, "frames_timed": 7,
                        "latency_ms": {"p50": 80.0, "p90": 90.0, "p99": 99.0}},
              "attributes": {"hdr": seq}}
    text = format_summary(report)
    assert "UNTRAINED, random weights" in text and "NOTE: UNTRAINED: random" in text
    assert "[hdr]" in text and "p99 99.0" in text
    assert any(line.startswith("OVERALL") and "55.5" in line for line in text.splitlines())


def test_tracker_options_reach_the_tracker_and_bad_ones_are_named(dataset, untrained_run, tmp_path, capsys):
    _, base = untrained_run
    out = tmp_path / "strict"
    # lost_threshold = recover_threshold = 1: no box is ever accepted, so every frame keeps the init box
    rc = main(["eval", "--dataset", str(dataset), "--model", "had_student_event_edge", "--out", str(out),
               "--tracker", "lost_threshold=1", "--tracker", "recover_threshold=1", "--no-progress"])
    assert rc == 0
    report = json.loads((out / "results.json").read_text())
    assert report["tracker"]["lost_threshold"] == 1.0
    assert json.loads((base / "results.json").read_text())["tracker"]["lost_threshold"] == 0.25
    boxes = np.loadtxt(out / "slide.txt", delimiter=",")
    assert np.allclose(boxes[1:], boxes[0])
    capsys.readouterr()
    for bad, message in (("lost_treshold=0.1", "unknown tracker option(s) ['lost_treshold']"),
                         ("lost_threshold=high", "expected KEY=NUMBER"),
                         ("smoothing=1.5", "'smoothing' = 1.5")):
        rc = main(["eval", "--dataset", str(dataset), "--model", "had_student_event_edge",
                   "--out", str(tmp_path / "bad"), "--tracker", bad, "--no-progress"])
        assert rc == 1 and message in capsys.readouterr().err, bad
