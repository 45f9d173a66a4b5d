"""Benchmark runner: one-pass evaluation (OPE) of a tracker over sequences, and prediction files.

Protocol of a run (see metrics.py and docs/evaluation.md for how frames are scored):
* Before anything runs, every sequence must carry what the model consumes: an RGB model is
  refused on a sequence without the "rgb" modality (EventVOT: its img/ frames are event
  renderings, not camera frames) and an event model on one without events (``check_modalities``).
  An event-only model gets ``frame=None`` (no image is decoded).
* The tracker is initialised with the ground-truth box on frame 0, or, if the target is absent there,
  on the first frame where it is present. Frames before that have no prediction (NaN box): they
  are absent frames by construction and count as misses, like every absent frame (unless
  ``exclude_absent``). A sequence where the target is never present gets no prediction at all and
  is reported apart, not averaged in.
* The init frame's prediction is its ground-truth box (and scores as a hit, as pytracking forces
  frame 0 to ground truth).
* Every later frame calls ``tracker.track(frame, events, window=span)`` with the events since the
  previous frame and their span (``seq.event_span(i)``, the same span training pairs use); latency
  is the wall time of that call only (no decoding or I/O).
* ``lost_as_absent``: optionally count the tracker's low-score "lost" state as reporting the target
  absent (a hit on absent frames, a miss on present ones). Off by default: the contract's tracker has
  no explicit absence output, its lost state is a confidence flag, not a claim, and the toolkits
  give no credit for it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol

import numpy as np
from tqdm import tqdm

from had_ros.errors import DatasetError
from had_ros.eval import metrics


class TrackerLike(Protocol):
    lost: bool

    def initialize(self, frame: np.ndarray | None, events: Any, box: Any,
                   window: tuple[int, int] | None = None) -> None: ...

    def track(self, frame: np.ndarray | None, events: Any,
              window: tuple[int, int] | None = None) -> tuple[np.ndarray, float]: ...


@dataclass
class SequenceRun:
    """What one pass of a tracker over one sequence produced."""

    name: str
    boxes: np.ndarray          # (N, 4) x,y,w,h; NaN rows where there is no prediction
    scores: np.ndarray         # (N,) tracker confidence; NaN on the init frame and before
    lost: np.ndarray           # (N,) bool, the tracker's lost flag after each frame
    pred_absent: np.ndarray    # (N,) bool, frames counted as "tracker reports absent"
    latency_s: np.ndarray      # (N,) seconds of track(); NaN where track() was not called
    init_frame: int            # -1 when the target is never present
    init_latency_s: float = float("nan")
    attributes: frozenset[str] = field(default_factory=frozenset)


def first_present_frame(absent: np.ndarray, gt: np.ndarray) -> int:
    """Index of the first frame with a present, valid ground-truth box; -1 if there is none."""
    valid = ~np.asarray(absent, bool) & np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    idx = np.flatnonzero(valid)
    return int(idx[0]) if len(idx) else -1


def model_modalities(tracker: Any) -> tuple[str, ...] | None:
    """What the tracker's model consumes ("rgb", "events"), or None when it does not say."""
    config = getattr(tracker, "model_config", None)
    mods = getattr(config, "modalities", None)
    return None if mods is None else tuple(mods)


def check_modalities(tracker: Any, sequences: list[Any]) -> None:
    """Refuse, before any tracking, sequences that lack what the model consumes."""
    mods = model_modalities(tracker)
    if mods is None:
        return
    name = getattr(getattr(tracker, "model_config", None), "name", "the model")
    problems = []
    if "rgb" in mods:
        no_rgb = [s for s in sequences if "rgb" not in getattr(s, "modalities", ("rgb",))]
        if no_rgb:
            notes = sorted({getattr(s, "modality_note", "") for s in no_rgb} - {""})
            problems.append(
                f"model {name!r} uses RGB frames, but {len(no_rgb)} sequences have none "
                f"({_names(no_rgb)}" + (f"; {'; '.join(notes)}" if notes else "") + "): feeding their "
                "images as RGB would score the wrong input; use an event-only model "
                "(e.g. had_student_event_edge) or leave them out with --sequences")
    if "events" in mods:
        no_ev = [s for s in sequences if not getattr(s, "has_events", True)]
        if no_ev:
            problems.append(f"model {name!r} uses events, but {len(no_ev)} sequences have no raw "
                            f"events ({_names(no_ev)}; e.g. VisEvent without its .aedat4)")
    if problems:
        raise DatasetError("; ".join(problems))


def _names(sequences: list[Any], limit: int = 5) -> str:
    names = [f"{s.name} ({getattr(s, 'layout', '?')})" for s in sequences[:limit]]
    return ", ".join(names) + (f" and {len(sequences) - limit} more" if len(sequences) > limit else "")


def run_sequence(tracker: TrackerLike, seq: Any, max_frames: int | None = None,
                 lost_as_absent: bool = False, progress: tqdm | None = None) -> SequenceRun:
    """Run ``tracker`` over ``seq`` (a had_ros.data.loaders.Sequence); see the module doc."""
    getattr(seq, "frame_times", None)  # resolving frame times may trim a sequence (see Sequence)
    mods = model_modalities(tracker)
    frame_of = seq.frame if mods is None or "rgb" in mods else (lambda i: None)
    n = len(seq) if max_frames is None else min(len(seq), int(max_frames))
    gt = np.asarray(seq.groundtruth, np.float64)[:n]
    absent = np.asarray(seq.absent, bool)[:n]
    if len(gt) != n or len(absent) != n:
        raise DatasetError(
            f"sequence {seq.name}: {len(seq)} frames but {len(seq.groundtruth)} ground-truth rows and "
            f"{len(seq.absent)} absent flags; expected one of each per frame")
    boxes = np.full((n, 4), np.nan)
    scores = np.full(n, np.nan)
    lost = np.zeros(n, bool)
    latency = np.full(n, np.nan)
    start = first_present_frame(absent, gt)
    pred_absent = np.zeros(n, bool)
    run = SequenceRun(seq.name, boxes, scores, lost, pred_absent, latency, start,
                      attributes=frozenset(getattr(seq, "attributes", ()) or ()))
    if progress is not None and start != 0:
        progress.update(n if start < 0 else start)
    if start < 0:
        return run

    # The voxel grids span exactly the frame's event window, as in training (Sequence.event_span
    # with the model config's event window; trackers without a model config use the frame interval).
    window_ns = getattr(getattr(tracker, "model_config", None), "event_window_ns", None)
    t0 = time.perf_counter()
    span = seq.event_span(start, window_ns)
    tracker.initialize(frame_of(start), seq.events_between(*span), gt[start].copy(), window=span)
    run.init_latency_s = time.perf_counter() - t0
    boxes[start] = gt[start]
    if progress is not None:
        progress.update(1)
    for i in range(start + 1, n):
        frame = frame_of(i)
        span = seq.event_span(i, window_ns)
        events = seq.events_between(*span)
        t0 = time.perf_counter()
        box, score = tracker.track(frame, events, window=span)
        latency[i] = time.perf_counter() - t0
        boxes[i] = np.asarray(box, np.float64).reshape(4)
        scores[i] = float(score)
        lost[i] = bool(getattr(tracker, "lost", False))
        if progress is not None:
            progress.update(1)
    if lost_as_absent:
        pred_absent |= lost
    return run


def score_run(run: SequenceRun, seq: Any, exclude_absent: bool = False) -> dict[str, Any]:
    """Metrics of one run against its sequence's ground truth (truncated to the run's length)."""
    n = len(run.boxes)
    res = metrics.evaluate(run.boxes, np.asarray(seq.groundtruth, np.float64)[:n],
                           absent=np.asarray(seq.absent, bool)[:n], pred_absent=run.pred_absent,
                           init_frame=run.init_frame if run.init_frame >= 0 else None,
                           exclude_absent=exclude_absent)
    res["init_frame"] = run.init_frame
    res["attributes"] = sorted(run.attributes)
    res["lost_frames"] = int(run.lost.sum())
    timed = run.latency_s[np.isfinite(run.latency_s)]
    res["frames_timed"] = int(len(timed))
    res["fps"] = float(len(timed) / timed.sum()) if len(timed) and timed.sum() > 0 else None
    return res


def latency_summary(runs: Iterable[SequenceRun]) -> dict[str, Any]:
    """fps (frames per second of track() time) and latency percentiles in ms over all timed frames."""
    lat = [r.latency_s[np.isfinite(r.latency_s)] for r in runs]
    all_lat = np.concatenate(lat) if lat else np.zeros(0)
    if len(all_lat) == 0:
        return {"frames_timed": 0, "fps": None, "latency_ms": None}
    ms = all_lat * 1e3
    return {
        "frames_timed": int(len(all_lat)),
        "fps": float(len(all_lat) / all_lat.sum()) if all_lat.sum() > 0 else None,
        "latency_ms": {
            "mean": float(ms.mean()),
            "p50": float(np.percentile(ms, 50)),
            "p90": float(np.percentile(ms, 90)),
            "p99": float(np.percentile(ms, 99)),
            "max": float(ms.max()),
        },
    }


def aggregate(per_sequence: dict[str, dict[str, Any]],
              with_attributes: bool = False) -> dict[str, Any]:
    """Overall scores (curves averaged over sequences) and, optionally, the same per attribute.
    Sequences that could not be scored (target never present) are listed in
    ``overall["sequences_not_scored"]`` and averaged nowhere."""
    out: dict[str, Any] = {"overall": metrics.average(list(per_sequence.values()))}
    out["overall"]["sequences_not_scored"] = sorted(
        name for name, res in per_sequence.items() if res.get("scored", True) is False)
    if with_attributes:
        by_attr: dict[str, list[str]] = {}
        for name, res in per_sequence.items():
            if res.get("scored", True) is False:
                continue
            for attr in res.get("attributes", []):
                by_attr.setdefault(attr, []).append(name)
        out["attributes"] = {}
        for attr in sorted(by_attr):
            avg = metrics.average([per_sequence[s] for s in by_attr[attr]])
            avg["sequences"] = sorted(by_attr[attr])
            out["attributes"][attr] = avg
    return out


def evaluate_dataset(tracker: TrackerLike, sequences: list[Any], max_frames: int | None = None,
                     lost_as_absent: bool = False, with_attributes: bool = False,
                     show_progress: bool = True, exclude_absent: bool = False) -> dict[str, Any]:
    """Run and score ``tracker`` on every sequence.

    Returns ``{"runs": {name: SequenceRun}, "sequences": {name: scores}, "overall": scores,
    "attributes": {attr: scores} (with_attributes), "speed": latency_summary}``.
    """
    if not sequences:
        raise DatasetError("no sequences to evaluate")
    _check_unique_names(sequences)
    check_modalities(tracker, sequences)
    total = sum(len(s) if max_frames is None else min(len(s), max_frames) for s in sequences)
    runs: dict[str, SequenceRun] = {}
    per_seq: dict[str, dict[str, Any]] = {}
    with tqdm(total=total, unit="frame", disable=not show_progress, dynamic_ncols=True) as bar:
        for seq in sequences:
            bar.set_description(seq.name)
            run = run_sequence(tracker, seq, max_frames, lost_as_absent, progress=bar)
            runs[seq.name] = run
            per_seq[seq.name] = score_run(run, seq, exclude_absent)
            if hasattr(seq, "release"):  # drop the cached event stream before the next sequence
                seq.release()
    out = aggregate(per_seq, with_attributes)
    out["runs"] = runs
    out["sequences"] = per_seq
    out["speed"] = latency_summary(runs.values())
    return out


def _check_unique_names(sequences: list[Any]) -> None:
    seen: set[str] = set()
    for s in sequences:
        if s.name in seen:
            raise DatasetError(f"two sequences are named {s.name!r}; result files are named by sequence")
        seen.add(s.name)


# prediction files ----------------------------------------------------------------------------

def write_predictions(path: Path, boxes: np.ndarray) -> None:
    """One ``x,y,w,h`` line per frame (comma-separated, as got10k/pytracking/OTB toolkits read);
    frames without a prediction are written as ``nan,nan,nan,nan``."""
    lines = [",".join("nan" if not np.isfinite(v) else f"{v:.3f}" for v in row) for row in boxes]
    Path(path).write_text("\n".join(lines) + ("\n" if lines else ""))


def write_flags(path: Path, flags: np.ndarray) -> None:
    Path(path).write_text("".join(f"{int(f)}\n" for f in flags))


def read_predictions(path: Path) -> np.ndarray:
    """Read a result file: one box per line, fields separated by commas, tabs or spaces."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"prediction file {path} does not exist; expected one x,y,w,h line per frame")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.replace(",", " ").replace("\t", " ").split()
        if not fields:
            continue
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: {line.strip()!r} is not four numbers x,y,w,h") from None
        if len(values) != 4:
            raise DatasetError(f"{path}:{lineno}: {len(values)} values, expected 4 (x,y,w,h)")
        rows.append(values)
    return np.asarray(rows, np.float64).reshape(-1, 4)


def read_flags(path: Path) -> np.ndarray:
    path = Path(path)
    try:
        flags = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except ValueError as exc:
        raise DatasetError(f"{path}: expected one 0/1 flag per line ({exc})") from None
    return flags.astype(bool)


def score_prediction_files(pred_dir: Path, sequences: list[Any], max_frames: int | None = None,
                           with_attributes: bool = False, exclude_absent: bool = False) -> dict[str, Any]:
    """Score existing result files ``pred_dir/<sequence>.txt`` (plus the optional
    ``<sequence>_pred_absent.txt``, 1 = tracker reports the target absent) against ``sequences``.
    The first frame with the target present is the init frame, forced to ground truth as a run
    does (and as pytracking forces frame 0)."""
    if not sequences:
        raise DatasetError("no sequences to evaluate")
    _check_unique_names(sequences)
    pred_dir = Path(pred_dir)
    per_seq: dict[str, dict[str, Any]] = {}
    for seq in sequences:
        boxes = read_predictions(pred_dir / f"{seq.name}.txt")
        flag_file = pred_dir / f"{seq.name}_pred_absent.txt"
        flags = read_flags(flag_file) if flag_file.is_file() else None
        if len(boxes) != len(seq.groundtruth):
            getattr(seq, "frame_times", None)  # reading them may trim the sequence, as in a run
        gt = np.asarray(seq.groundtruth, np.float64)
        absent = np.asarray(seq.absent, bool)
        if max_frames is not None:
            n = min(len(gt), int(max_frames))
            gt, absent, boxes = gt[:n], absent[:n], boxes[:n]
            flags = None if flags is None else flags[:n]
        if len(boxes) != len(gt):
            raise DatasetError(
                f"{pred_dir / (seq.name + '.txt')}: {len(boxes)} boxes but sequence {seq.name} has "
                f"{len(gt)} frames")
        if flags is not None and len(flags) != len(gt):
            raise DatasetError(
                f"{flag_file}: {len(flags)} flags but sequence {seq.name} has {len(gt)} frames")
        start = first_present_frame(absent, gt)
        res = metrics.evaluate(boxes, gt, absent=absent, pred_absent=flags,
                               init_frame=start if start >= 0 else None, exclude_absent=exclude_absent)
        res["init_frame"] = start
        res["attributes"] = sorted(getattr(seq, "attributes", ()) or ())
        per_seq[seq.name] = res
    out = aggregate(per_seq, with_attributes)
    out["sequences"] = per_seq
    return out
