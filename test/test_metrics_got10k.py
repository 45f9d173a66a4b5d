"""Metrics against the got10k toolkit's OTB computation (got10k.experiments.otb) on random boxes."""
from types import SimpleNamespace

import numpy as np
import pytest
# got10k is a test requirement (with shapely); a plain import so a missing install fails loudly.
import got10k.utils.metrics as got10k_metrics
from got10k.experiments.otb import ExperimentOTB

from had_ros.eval import metrics
from had_ros.eval.metrics import evaluate
from test_metrics import random_boxes


def got10k_curves(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # _calc_metrics/_calc_curves only read nbins_*; building ExperimentOTB itself would download OTB.
    exp = SimpleNamespace(nbins_iou=21, nbins_ce=51)
    ious, errs = ExperimentOTB._calc_metrics(exp, pred.copy(), gt.copy())
    return ExperimentOTB._calc_curves(exp, ious, errs)


@pytest.mark.parametrize("seed", range(5))
def test_matches_got10k_otb_on_random_boxes(seed):
    rng = np.random.default_rng(seed)
    pred, gt = random_boxes(rng, 400)
    succ, prec = got10k_curves(pred, gt)
    res = evaluate(pred, gt)
    np.testing.assert_allclose(res["success_curve"], succ, atol=1e-12)
    np.testing.assert_allclose(res["precision_curve"], prec, atol=1e-12)
    assert res["success_auc"] == pytest.approx(100 * np.mean(succ), abs=1e-9)
    assert res["precision_20"] == pytest.approx(100 * prec[20], abs=1e-9)
    # the curves are not trivial: the random boxes span hits and misses
    assert 5 < res["success_auc"] < 90 and 5 < res["precision_20"] < 95


def test_iou_and_center_error_match_got10k_per_frame():
    rng = np.random.default_rng(7)
    pred, gt = random_boxes(rng, 200)
    iou, err, _ = metrics.frame_scores(pred, gt)
    np.testing.assert_allclose(iou, got10k_metrics.rect_iou(pred.copy(), gt.copy()), atol=1e-12)
    np.testing.assert_allclose(err, got10k_metrics.center_error(pred, gt), atol=1e-9)


def test_dataset_average_matches_got10k_report_averaging():
    rng = np.random.default_rng(11)
    seqs = [random_boxes(rng, n) for n in (30, 77, 150)]
    per_seq = [evaluate(p, g) for p, g in seqs]
    curves = [got10k_curves(p, g) for p, g in seqs]
    succ = np.mean([c[0] for c in curves], axis=0)  # got10k: curves averaged over sequences
    prec = np.mean([c[1] for c in curves], axis=0)
    avg = metrics.average(per_seq)
    assert avg["success_auc"] == pytest.approx(100 * np.mean(succ), abs=1e-9)
    assert avg["precision_20"] == pytest.approx(100 * prec[20], abs=1e-9)
    assert avg["success_auc"] == pytest.approx(np.mean([r["success_auc"] for r in per_seq]))
    assert avg["num_sequences"] == 3 and avg["num_frames"] == 257
