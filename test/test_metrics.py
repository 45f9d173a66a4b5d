"""Metrics: hand-computed cases, absence, NaN and shape handling."""
import numpy as np
import pytest

from had_ros.errors import DatasetError
from had_ros.eval import metrics
from had_ros.eval.metrics import evaluate

AUC_CAP = 100.0 * 20 / 21  # IoU > 1.0 never holds: the last of 21 thresholds is always 0


def random_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """GT boxes and predictions that overlap them by anything from 0 to almost 1."""
    gt = np.column_stack([rng.uniform(0, 300, n), rng.uniform(0, 200, n),
                          rng.uniform(5, 120, n), rng.uniform(5, 120, n)])
    jitter = rng.normal(0, 1, (n, 4)) * rng.choice([0.5, 5, 30, 80], size=(n, 1))
    pred = gt + jitter
    pred[:, 2:] = np.abs(pred[:, 2:]) + 1.0
    return pred, gt


def test_identical_boxes_score_the_maximum():
    gt = np.array([[10, 20, 30, 40], [0, 0, 5, 5], [100.5, 7.25, 12, 3]], float)
    res = evaluate(gt.copy(), gt)
    assert res["success_auc"] == pytest.approx(AUC_CAP)
    assert res["success_curve"][:20] == [1.0] * 20 and res["success_curve"][20] == 0.0
    assert res["success_50"] == 100.0
    assert res["precision_20"] == 100.0 and res["norm_precision_20"] == 100.0
    assert res["precision_curve"][0] == 1.0  # error exactly 0 counts at threshold 0


def test_disjoint_far_boxes_score_zero():
    gt = np.array([[0, 0, 10, 10]] * 4, float)
    pred = np.array([[500, 500, 10, 10]] * 4, float)
    res = evaluate(pred, gt)
    assert res["success_auc"] == 0.0 and res["precision_20"] == 0.0
    assert res["norm_precision_20"] == 0.0
    assert max(res["precision_curve"]) == 0.0


def test_shifted_boxes_known_precision_and_iou():
    # 10 frames, box 40x20; frame i shifted right by 3*i px: errors 0, 3, ..., 27 px.
    gt = np.tile([50.0, 50.0, 40.0, 20.0], (10, 1))
    pred = gt.copy()
    pred[:, 0] += 3.0 * np.arange(10)
    res = evaluate(pred, gt)
    # errors <= 20 px: shifts 0..18 -> 7 frames
    assert res["precision_20"] == pytest.approx(70.0)
    assert res["precision_curve"][3] == pytest.approx(0.2)  # 0 and 3 px
    # normalised x error = 3i/40 <= 0.2 -> 3i <= 8 -> i in 0,1,2
    assert res["norm_precision_20"] == pytest.approx(30.0)
    # IoU of a horizontal shift s: (40-s)/(40+s); > 0.5 iff s < 13.33 -> shifts 0..12 -> 5 frames
    assert res["success_50"] == pytest.approx(50.0)
    iou = (40 - 3.0 * np.arange(10)) / (40 + 3.0 * np.arange(10))
    expected_auc = 100 * np.mean([(iou > t).mean() for t in np.linspace(0, 1, 21)])
    assert res["success_auc"] == pytest.approx(expected_auc)


def test_normalised_error_divides_each_axis_by_gt_size():
    gt = np.array([[0.0, 0.0, 100.0, 10.0]])
    # offset (15, 1.5): normalised (0.15, 0.15) -> 0.212 > 0.2 although 15 px is under 20 px
    res = evaluate(gt + [15.0, 1.5, 0, 0], gt)
    assert res["precision_20"] == 100.0 and res["norm_precision_20"] == 0.0
    # offset (12, 1.2): normalised 0.1697 <= 0.2
    assert evaluate(gt + [12.0, 1.2, 0, 0], gt)["norm_precision_20"] == 100.0


def test_absent_frames_count_as_misses_unless_reported_absent():
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (4, 1))
    absent = np.array([False, False, True, True])
    res = evaluate(gt.copy(), gt, absent=absent)
    assert res["num_frames"] == 4
    assert res["precision_20"] == pytest.approx(50.0)
    assert res["success_auc"] == pytest.approx(AUC_CAP / 2)
    # the tracker reporting absence on exactly the absent frames recovers the maximum
    res = evaluate(gt.copy(), gt, absent=absent, pred_absent=absent)
    assert res["precision_20"] == 100.0 and res["success_auc"] == pytest.approx(AUC_CAP)
    # reporting absence on a present frame is a miss even with a perfect box
    res = evaluate(gt.copy(), gt, absent=absent, pred_absent=[True, False, True, True])
    assert res["precision_20"] == pytest.approx(75.0)


def test_invalid_gt_rows_are_treated_as_absent():
    gt = np.array([[10, 10, 20, 20], [0, 0, 0, 0], [np.nan] * 4], float)
    pred = np.array([[10, 10, 20, 20], [0, 0, 0, 0], [0, 0, 5, 5]], float)
    res = evaluate(pred, gt)
    assert res["precision_20"] == pytest.approx(100 / 3)
    res = evaluate(pred, gt, pred_absent=[False, True, True])
    assert res["precision_20"] == 100.0


def test_nan_and_negative_predictions_are_misses():
    gt = np.tile([10.0, 10.0, 20.0, 20.0], (4, 1))
    pred = gt.copy()
    pred[1] = np.nan
    pred[2, 2] = -5.0
    pred[3, 0] = np.inf
    res = evaluate(pred, gt)
    assert res["precision_20"] == pytest.approx(25.0)
    assert res["norm_precision_20"] == pytest.approx(25.0)
    assert res["success_curve"][0] == pytest.approx(0.25)


def test_zero_size_prediction_has_zero_iou_but_a_center_error():
    gt = np.array([[10.0, 10.0, 20.0, 20.0]])
    pred = np.array([[20.0, 20.0, 0.0, 0.0]])  # a point at the gt center
    iou, err, norm = metrics.frame_scores(pred, gt)
    assert iou[0] == 0.0 and err[0] == 0.0 and norm[0] == 0.0


def test_mismatched_lengths_and_shapes_raise_clear_errors():
    gt = np.zeros((5, 4)) + [0, 0, 10, 10]
    with pytest.raises(DatasetError, match="predictions have 4 frames but the ground truth has 5"):
        evaluate(gt[:4], gt)
    with pytest.raises(DatasetError, match=r"\(N, 4\)"):
        evaluate(np.zeros((5, 3)), gt)
    with pytest.raises(DatasetError, match="absent must have one flag per frame"):
        evaluate(gt, gt, absent=np.zeros(3, bool))
    with pytest.raises(DatasetError, match="0 frames"):
        evaluate(np.zeros((0, 4)), np.zeros((0, 4)))
    with pytest.raises(DatasetError, match="0 sequences"):
        metrics.average([])


def test_curves_and_thresholds_line_up():
    gt = np.tile([0.0, 0.0, 10.0, 10.0], (3, 1))
    res = evaluate(gt, gt)
    assert len(res["success_curve"]) == len(res["overlap_thresholds"]) == 21
    assert len(res["precision_curve"]) == len(res["error_thresholds"]) == 51
    assert len(res["norm_precision_curve"]) == len(res["norm_error_thresholds"]) == 51
    assert res["error_thresholds"][20] == 20.0 and res["norm_error_thresholds"][20] == 0.2
    # curves are monotone: success falls with the threshold, precision rises
    rng = np.random.default_rng(3)
    pred, gt = random_boxes(rng, 100)
    res = evaluate(pred, gt)
    assert np.all(np.diff(res["success_curve"]) <= 0)
    assert np.all(np.diff(res["precision_curve"]) >= 0)
    assert np.all(np.diff(res["norm_precision_curve"]) >= 0)
