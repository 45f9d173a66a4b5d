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


def _write_got10k_val(root, seqs, result_dir, tracker):
    """A GOT-10k 'val' folder as got10k.datasets.GOT10k reads it (images only need to exist),
    with each sequence's absent frames as cover 0, and one result repetition per sequence."""
    val = root / "val"
    val.mkdir(parents=True)
    (val / "list.txt").write_text("\n".join(seqs) + "\n")
    for name, (pred, gt, absent) in seqs.items():
        d = val / name
        d.mkdir()
        for i in range(len(gt)):
            (d / f"{i + 1:08d}.jpg").write_bytes(b"")
        np.savetxt(d / "groundtruth.txt", gt, delimiter=",", fmt="%.6f")
        (d / "meta_info.ini").write_text("[METAINFO]\nresolution: (4000, 4000)\n")
        cover = np.where(absent, 0, 8)
        for label, values in (("cover", cover), ("absence", absent.astype(int)), ("cut_by_image", 0 * cover)):
            np.savetxt(d / f"{label}.label", values, fmt="%d")
        out = result_dir / "GOT-10k" / tracker / name
        out.mkdir(parents=True)
        np.savetxt(out / f"{name}_001.txt", pred, delimiter=",", fmt="%.6f")
        np.savetxt(out / f"{name}_time.txt", np.full(len(gt), 0.01), fmt="%.8f")


def test_absent_frames_against_got10k_val_report(tmp_path):
    """Sequences with absent frames: got10k's own GOT-10k evaluation (ExperimentGOT10k.report,
    which drops frame 0 and the frames with cover 0) equals ours with exclude_init and
    exclude_absent; our default (init frame forced and counted, absent frames misses in the
    denominator, pytracking's rule) is the same hit count over every frame."""
    from got10k.experiments.got10k import ExperimentGOT10k

    rng = np.random.default_rng(5)
    seqs = {}
    for k, n in enumerate((40, 65, 90)):
        pred, gt = random_boxes(rng, n)
        pred[:, :2] += 500.0  # inside got10k's image bound, so its clipping changes nothing
        gt[:, :2] += 500.0
        absent = rng.random(n) < 0.25
        absent[0] = False  # got10k initialises on frame 0
        seqs[f"GOT-10k_Val_{k:06d}"] = (pred, gt, absent)
    _write_got10k_val(tmp_path / "data", seqs, tmp_path / "results", "ours")
    exp = ExperimentGOT10k(str(tmp_path / "data"), subset="val", result_dir=str(tmp_path / "results"),
                           report_dir=str(tmp_path / "reports"))
    perf = exp.report(["ours"])["ours"]

    ours = {name: evaluate(p, g, a, init_frame=0, exclude_init=True, exclude_absent=True)
            for name, (p, g, a) in seqs.items()}
    for name, (pred, gt, absent) in seqs.items():
        res, ref = ours[name], perf["seq_wise"][name]
        assert res["num_frames"] == int((~absent[1:]).sum()) and ref["length"] == len(gt) - 1
        assert res["success_50"] == pytest.approx(100 * ref["sr"], abs=1e-9)
        # the default: the same hits, plus the forced init frame, over all frames
        default = evaluate(pred, gt, absent, init_frame=0)
        assert default["num_frames"] == len(gt) and default["frames_absent"] == int(absent.sum())
        assert default["success_50"] == pytest.approx(
            100 * (ref["sr"] * res["num_frames"] + 1) / len(gt), abs=1e-9)
        assert default["success_50"] < res["success_50"]  # absent frames cost, as they should
    # got10k pools frames over sequences: our curves weighted by frames scored give its curve
    pooled = np.average([ours[s]["success_curve"] for s in seqs], axis=0,
                        weights=[ours[s]["num_frames"] for s in seqs])
    np.testing.assert_allclose(pooled, np.asarray(perf["overall"]["succ_curve"])[::5], atol=1e-12)
    assert 0.1 < pooled[10] < 0.9  # the boxes span hits and misses
