"""One-pass-evaluation (OTB-style) metrics: success (IoU) and precision (center error) curves.

The protocol (the one RGB-E papers report, see docs/DESIGN.md and docs/evaluation.md), made exact. It
follows pytracking's ``extract_results`` with its defaults (LaSOT-line MATLAB toolkits drop absent
frames instead: ``exclude_absent=True``):

* Boxes are ``x, y, w, h`` in pixels, (x, y) the top-left corner. The center of a box is
  ``(x + w/2, y + h/2)``. (OTB toolkits use ``x + (w-1)/2``; the -1/2 cancels in every center
  difference, so the errors are identical.)
* The initialisation frame (``init_frame``) is forced to its ground-truth box and counts, as
  pytracking forces frame 0 (``exclude_init=True`` drops it instead, as got10k's GOT-10k
  evaluation does).
* Success curve: fraction of frames with IoU **>** t for t in ``np.linspace(0, 1, 21)``;
  ``success_auc`` is its mean. Because IoU > 1 never holds, the last point is always 0 and a perfect
  tracker scores 20/21 = 95.24 % AUC -- the same cap as the OTB MATLAB toolkit, got10k and pytracking,
  kept so the numbers compare with published ones. ``success_50`` (IoU > 0.5) is reported as well.
* Precision curve: fraction of frames with center error <= t px for t = 0, 1, ..., 50;
  ``precision_20`` is the point at 20 px.
* Normalised precision (LaSOT style): ``|| ((pc - gc) / (gw, gh)) ||_2 <= t`` for
  t = 0, 0.01, ..., 0.5, i.e. each axis of the center offset divided by the ground-truth size on that
  axis; ``norm_precision_20`` is the point at 0.2.
* Target absence: frames whose ground truth is absent stay in the denominator and are misses at
  every threshold, whatever box was predicted (pytracking's default); ``exclude_absent=True``
  drops them from the denominator (its ``exclude_invalid_frames``, got10k's visible-frames rule).
* Extension, off unless asked for: with ``pred_absent`` (the tracker's own "target absent"
  report, `had eval --lost-as-absent` or a ``<seq>_pred_absent.txt``) an absent frame the tracker
  reports absent is a hit (IoU 1, errors 0). A present frame on which the tracker reports absence
  is a miss either way.
* A ground-truth row that is non-finite or has w <= 0 or h <= 0 is treated as absent (LaSOT and
  pytracking mark absence that way); ``absent`` flags are OR-ed with it.
* A predicted row that is non-finite (NaN, inf) or has a negative w or h is a miss (IoU 0, errors
  inf). A zero-size prediction is valid: its IoU is 0 and its center error is measured as usual.
* A sequence whose target is never present has nothing to score: ``evaluate`` reports it with
  ``scored: False`` and no scores, and ``average`` leaves it out (listing it apart).

All returned scores are in percent.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from had_ros.errors import DatasetError

# Thresholds, fixed so that curves from different runs line up.
OVERLAP_THRESHOLDS = np.linspace(0.0, 1.0, 21)        # same values as got10k / OTB
ERROR_THRESHOLDS = np.arange(51, dtype=np.float64)     # 0..50 px
NORM_ERROR_THRESHOLDS = np.arange(51) / 100.0          # 0..0.5, index 20 is exactly 0.2

PRECISION_PX = 20
NORM_PRECISION = 0.2


def _as_boxes(boxes: Any, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise DatasetError(f"{name} must be an (N, 4) array of x,y,w,h boxes, got shape {arr.shape}")
    return arr


def _as_flags(flags: Any, n: int, name: str) -> np.ndarray:
    if flags is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(flags)
    if arr.shape != (n,):
        raise DatasetError(f"{name} must have one flag per frame ({n},), got shape {arr.shape}")
    return arr.astype(bool)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (N, 4) x,y,w,h arrays; 0 where the union is empty.

    Rows must be finite with non-negative sizes (``evaluate`` filters the rest first).
    """
    ix = np.minimum(a[:, 0] + a[:, 2], b[:, 0] + b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    iy = np.minimum(a[:, 1] + a[:, 3], b[:, 1] + b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(ix, 0.0, None) * np.clip(iy, 0.0, None)
    union = a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter
    iou = np.zeros(len(a))
    np.divide(inter, union, out=iou, where=union > 0)
    return np.clip(iou, 0.0, 1.0)


def center_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Center error in pixels and normalised by the ground-truth w,h (LaSOT style), per row."""
    d = (pred[:, :2] + pred[:, 2:] / 2.0) - (gt[:, :2] + gt[:, 2:] / 2.0)
    err = np.hypot(d[:, 0], d[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        nd = d / gt[:, 2:]
    norm = np.hypot(nd[:, 0], nd[:, 1])
    return err, norm


def _check_lengths(pred: np.ndarray, gt: np.ndarray) -> None:
    if len(pred) != len(gt):
        raise DatasetError(
            f"predictions have {len(pred)} frames but the ground truth has {len(gt)}; "
            "expected one x,y,w,h row per frame")


def frame_scores(pred: Any, gt: Any, absent: Any = None,
                 pred_absent: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame (iou, center_error_px, normalised_center_error) under the rules of this module.

    Misses get iou 0 and errors inf; correctly reported absence gets iou 1 and errors 0.
    """
    pred = _as_boxes(pred, "predictions")
    gt = _as_boxes(gt, "ground truth")
    _check_lengths(pred, gt)
    n = len(gt)
    gt_absent = _as_flags(absent, n, "absent")
    gt_absent |= ~np.isfinite(gt).all(axis=1) | (gt[:, 2] <= 0) | (gt[:, 3] <= 0)
    said_absent = _as_flags(pred_absent, n, "pred_absent")
    pred_ok = np.isfinite(pred).all(axis=1) & (pred[:, 2] >= 0) & (pred[:, 3] >= 0)

    iou = np.zeros(n)
    err = np.full(n, np.inf)
    norm = np.full(n, np.inf)
    scored = ~gt_absent & ~said_absent & pred_ok
    if scored.any():
        iou[scored] = box_iou(pred[scored], gt[scored])
        err[scored], norm[scored] = center_errors(pred[scored], gt[scored])
    hit_absent = gt_absent & said_absent
    iou[hit_absent] = 1.0
    err[hit_absent] = 0.0
    norm[hit_absent] = 0.0
    return iou, err, norm


def curves(iou: np.ndarray, err: np.ndarray, norm: np.ndarray) -> dict[str, np.ndarray]:
    """Success, precision and normalised precision curves (fractions in [0, 1]) of per-frame scores."""
    if len(iou) == 0:
        raise DatasetError("cannot score a sequence of 0 frames")
    return {
        "success": (iou[:, None] > OVERLAP_THRESHOLDS[None, :]).mean(axis=0),
        "precision": (err[:, None] <= ERROR_THRESHOLDS[None, :]).mean(axis=0),
        "norm_precision": (norm[:, None] <= NORM_ERROR_THRESHOLDS[None, :]).mean(axis=0),
    }


def summarize(curve_set: dict[str, np.ndarray]) -> dict[str, float]:
    """Headline scores in percent from a set of curves (per sequence or averaged over sequences)."""
    return {
        "success_auc": float(np.mean(curve_set["success"]) * 100.0),
        "success_50": float(curve_set["success"][10] * 100.0),
        "precision_20": float(curve_set["precision"][PRECISION_PX] * 100.0),
        "norm_precision_20": float(curve_set["norm_precision"][20] * 100.0),
    }


SCORE_KEYS = ("success_auc", "success_50", "precision_20", "norm_precision_20")
CURVE_KEYS = ("success_curve", "precision_curve", "norm_precision_curve")


def present_frames(gt: Any, absent: Any = None) -> np.ndarray:
    """(N,) bool: the target is present with a valid (finite, w, h > 0) ground-truth box."""
    gt = _as_boxes(gt, "ground truth")
    ok = np.isfinite(gt).all(axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    return ok & ~_as_flags(absent, len(gt), "absent")


def evaluate(pred: Any, gt: Any, absent: Any = None, pred_absent: Any = None, *,
             init_frame: int | None = None, exclude_init: bool = False,
             exclude_absent: bool = False) -> dict[str, Any]:
    """Score one sequence.

    Args:
        pred: (N, 4) predicted x,y,w,h boxes in pixels (NaN rows = no prediction, a miss).
        gt: (N, 4) ground-truth boxes.
        absent: optional (N,) bool, True where the target is NOT visible.
        pred_absent: optional (N,) bool, True where the tracker reports the target absent.
        init_frame: the frame the tracker was initialised on: forced to its ground truth
            (None: no frame is forced, e.g. for boxes that already hold it).
        exclude_init: leave the init frame out of the scores instead (GOT-10k).
        exclude_absent: leave frames with the target absent out of the denominator.

    Returns:
        dict with ``success_auc``, ``success_50``, ``precision_20``, ``norm_precision_20`` (percent),
        ``num_frames`` (the frames scored: the denominator), ``frames_total``, ``frames_absent``,
        ``scored``, and the curves as lists of fractions: ``success_curve`` (over
        ``overlap_thresholds``), ``precision_curve`` (over ``error_thresholds`` px) and
        ``norm_precision_curve`` (over ``norm_error_thresholds``). A sequence without any present
        frame (after exclusions) has ``scored: False`` and None for every score and curve.
    """
    pred = _as_boxes(pred, "predictions").copy()
    gt = _as_boxes(gt, "ground truth")
    _check_lengths(pred, gt)
    if len(gt) == 0:
        raise DatasetError("cannot score a sequence of 0 frames")
    present = present_frames(gt, absent)
    if init_frame is not None:
        if not 0 <= init_frame < len(gt):
            raise DatasetError(f"init_frame {init_frame} is outside the {len(gt)} frames")
        pred[init_frame] = gt[init_frame]
    iou, err, norm = frame_scores(pred, gt, absent, pred_absent)
    keep = np.ones(len(gt), bool)
    if exclude_absent:
        keep &= present
    if exclude_init and init_frame is not None:
        keep[init_frame] = False
    out: dict[str, Any] = {"num_frames": int(keep.sum()), "frames_total": int(len(gt)),
                           "frames_absent": int((~present).sum())}
    if not (present & keep).any():
        out["scored"] = False
        out.update({k: None for k in SCORE_KEYS + CURVE_KEYS})
        return out
    c = curves(iou[keep], err[keep], norm[keep])
    out.update(summarize(c))
    out["scored"] = True
    out.update(curve_lists(c))
    return out


def curve_lists(curve_set: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """Curves and their thresholds as plain lists (JSON-ready)."""
    return {
        "success_curve": curve_set["success"].tolist(),
        "precision_curve": curve_set["precision"].tolist(),
        "norm_precision_curve": curve_set["norm_precision"].tolist(),
        "overlap_thresholds": OVERLAP_THRESHOLDS.tolist(),
        "error_thresholds": ERROR_THRESHOLDS.tolist(),
        "norm_error_thresholds": NORM_ERROR_THRESHOLDS.tolist(),
    }


def average(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Dataset score: curves averaged over sequences (each sequence weighs the same, as in OTB and
    pytracking), headline numbers computed from the averaged curves (= the mean of per-sequence
    scores). Sequences with ``scored: False`` (target never present) are left out and counted in
    ``num_not_scored``."""
    not_scored = [r for r in results if r.get("scored", True) is False]
    results = [r for r in results if r.get("scored", True) is not False]
    if not results:
        raise DatasetError(
            "cannot average the scores of 0 sequences"
            + (f" ({len(not_scored)} have the target present in no scored frame)" if not_scored else ""))
    c = {
        key: np.mean([np.asarray(r[f"{key}_curve"]) for r in results], axis=0)
        for key in ("success", "precision", "norm_precision")
    }
    out: dict[str, Any] = summarize(c)
    out["num_sequences"] = len(results)
    out["num_not_scored"] = len(not_scored)
    out["num_frames"] = int(sum(r["num_frames"] for r in results))
    out.update(curve_lists(c))
    return out
