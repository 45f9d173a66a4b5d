"""Runner bookkeeping with in-memory sequences and stand-in trackers (an oracle that returns the
ground truth and one that is off by a known offset); the real tracker is exercised in test_eval_cli."""
from __future__ import annotations

import numpy as np
import pytest

from had_ros.errors import DatasetError
from had_ros.eval import runner
from had_ros.events.container import Events

AUC_CAP = 100.0 * 20 / 21


class MemorySequence:
    """The Sequence interface of had_ros.data.loaders over arrays (frame i is filled with value i)."""

    def __init__(self, name, gt, absent=None, attributes=(), width=64, height=48):
        self.name = name
        self.width, self.height = width, height
        self.groundtruth = np.asarray(gt, np.float64)
        self.absent = np.zeros(len(gt), bool) if absent is None else np.asarray(absent, bool)
        self.attributes = frozenset(attributes)
        self.events_requested: list[int] = []

    def __len__(self):
        return len(self.groundtruth)

    def frame(self, i):
        return np.full((self.height, self.width, 3), i, np.uint8)

    def frame_time(self, i):
        return 1_000_000 * (i + 1)

    def event_span(self, i, window_ns=None):
        return self.frame_time(i) - 1_000_000 + 1, self.frame_time(i) + 1

    def events_between(self, t0, t1):
        i = (t1 - 1) // 1_000_000 - 1  # the frame whose span this is
        self.events_requested.append(i)
        t = np.array([self.frame_time(i) - 10], np.int64)
        return Events.from_arrays([i % self.width], [0], t, [1], self.width, self.height)


class OracleTracker:
    """Returns the ground truth of the frame it is shown (read from the frame's fill value)."""

    def __init__(self, seqs, offset=(0.0, 0.0), lost_on=()):
        self.gt = {id(s): s.groundtruth for s in seqs}
        self.offset = np.array([*offset, 0.0, 0.0])
        self.lost_on = set(lost_on)
        self.lost = False
        self.calls: list[tuple[str, int]] = []

    def initialize(self, frame, events, box, window=None):
        self.seq_gt = next(g for g in self.gt.values() if np.allclose(g[int(frame[0, 0, 0])], box))
        self.calls.append(("init", int(frame[0, 0, 0])))
        assert len(events) == 1 and int(events.x[0]) == int(frame[0, 0, 0])

    def track(self, frame, events, window=None):
        i = int(frame[0, 0, 0])
        self.calls.append(("track", i))
        assert int(events.x[0]) == i  # the events of this very frame
        self.lost = i in self.lost_on
        return self.seq_gt[i] + self.offset, 0.9


def moving_gt(n, start=(10.0, 8.0), size=(20.0, 16.0)):
    i = np.arange(n, dtype=np.float64)
    return np.column_stack([start[0] + 2 * i, start[1] + i, np.full(n, size[0]), np.full(n, size[1])])


def test_oracle_tracker_scores_the_maximum_and_runs_every_frame():
    seq = MemorySequence("a", moving_gt(8))
    tracker = OracleTracker([seq])
    run = runner.run_sequence(tracker, seq)
    assert tracker.calls == [("init", 0)] + [("track", i) for i in range(1, 8)]
    assert seq.events_requested == list(range(8))
    np.testing.assert_allclose(run.boxes, seq.groundtruth)
    assert run.init_frame == 0 and np.isnan(run.scores[0]) and np.all(run.scores[1:] == 0.9)
    assert np.isnan(run.latency_s[0]) and np.all(run.latency_s[1:] >= 0)
    res = runner.score_run(run, seq)
    assert res["success_auc"] == pytest.approx(AUC_CAP)
    assert res["precision_20"] == 100.0 and res["norm_precision_20"] == 100.0
    assert res["frames_timed"] == 7 and res["fps"] > 0


def test_offset_tracker_scores_a_known_lower_score():
    # 25 px right of a 100x100 truth on every tracked frame; the init frame (GT) stays exact.
    seq = MemorySequence("a", moving_gt(8, size=(100.0, 100.0)))
    res = runner.score_run(runner.run_sequence(OracleTracker([seq], offset=(25.0, 0.0)), seq), seq)
    assert res["precision_20"] == pytest.approx(100 / 8)        # 25 px > 20 px: only frame 0
    assert res["norm_precision_20"] == pytest.approx(100 / 8)   # 25/100 = 0.25 > 0.2
    assert res["precision_curve"][25] == 1.0
    # IoU = 75*100 / (2*100*100 - 75*100) = 0.6 > t for the 12 thresholds 0 .. 0.55
    assert res["success_auc"] == pytest.approx(100 * (7 * 12 / 21 + 20 / 21) / 8)


def test_absent_first_frames_delay_the_init_and_count_as_absent():
    gt = moving_gt(6)
    absent = np.array([True, True, False, False, True, False])
    seq = MemorySequence("late", gt, absent)
    tracker = OracleTracker([seq])
    run = runner.run_sequence(tracker, seq)
    assert run.init_frame == 2 and tracker.calls[0] == ("init", 2)
    assert np.isnan(run.boxes[:2]).all() and np.isnan(run.latency_s[:3]).all()
    assert not run.pred_absent.any()  # not tracking is no claim that the target is absent
    res = runner.score_run(run, seq)
    # frames 0, 1 and 4: absent -> misses in the denominator (pytracking); 2 (init), 3, 5 exact
    assert res["precision_20"] == pytest.approx(300 / 6) and res["success_auc"] == pytest.approx(AUC_CAP / 2)
    assert res["num_frames"] == 6 and res["frames_absent"] == 3 and res["scored"] is True
    # --exclude-absent: the 3 present frames alone
    res = runner.score_run(run, seq, exclude_absent=True)
    assert res["precision_20"] == 100.0 and res["num_frames"] == 3 and res["frames_total"] == 6


def test_target_never_present_gives_no_prediction_and_no_tracker_calls():
    seq = MemorySequence("gone", moving_gt(4), absent=np.ones(4, bool))
    tracker = OracleTracker([seq])
    run = runner.run_sequence(tracker, seq)
    assert tracker.calls == [] and run.init_frame == -1 and np.isnan(run.boxes).all()
    res = runner.score_run(run, seq)
    # nothing to score: reported apart, not a 100 % (nor a 0 %) averaged into the dataset
    assert res["scored"] is False and res["precision_20"] is None and res["success_auc"] is None
    assert res["fps"] is None and res["frames_absent"] == 4
    good = MemorySequence("good", moving_gt(4))
    out = runner.evaluate_dataset(OracleTracker([good, seq]), [good, seq], show_progress=False,
                                  with_attributes=True)
    assert out["overall"]["num_sequences"] == 1 and out["overall"]["num_not_scored"] == 1
    assert out["overall"]["sequences_not_scored"] == ["gone"]
    assert out["overall"]["success_auc"] == pytest.approx(AUC_CAP)
    with pytest.raises(DatasetError, match="0 sequences .*1 have the target present in no scored frame"):
        runner.evaluate_dataset(OracleTracker([seq]), [seq], show_progress=False)


def test_lost_as_absent_uses_the_tracker_lost_flag():
    absent = np.array([False, False, False, True, True, False])
    seq = MemorySequence("occl", moving_gt(6), absent)
    strict = runner.score_run(runner.run_sequence(OracleTracker([seq], lost_on={3, 4}), seq), seq)
    assert strict["precision_20"] == pytest.approx(400 / 6)
    run = runner.run_sequence(OracleTracker([seq], lost_on={3, 4, 5}), seq, lost_as_absent=True)
    np.testing.assert_array_equal(run.lost, [False, False, False, True, True, True])
    res = runner.score_run(run, seq)
    # 3, 4 absent and reported -> hits; 5 present but reported absent -> miss
    assert res["precision_20"] == pytest.approx(500 / 6)


def test_max_frames_truncates_run_and_scoring():
    seq = MemorySequence("a", moving_gt(8))
    tracker = OracleTracker([seq])
    run = runner.run_sequence(tracker, seq, max_frames=3)
    assert len(run.boxes) == 3 and tracker.calls[-1] == ("track", 2)
    assert runner.score_run(run, seq)["num_frames"] == 3


def test_evaluate_dataset_aggregates_sequences_attributes_and_speed():
    good = MemorySequence("good", moving_gt(6), attributes={"fast_motion"})
    also = MemorySequence("also", moving_gt(4, size=(100.0, 100.0)), attributes={"fast_motion", "hdr"})
    seqs = [good, also]
    out = runner.evaluate_dataset(OracleTracker(seqs, offset=(25.0, 0.0)), seqs,
                                  with_attributes=True, show_progress=False)
    assert set(out["sequences"]) == {"good", "also"}
    p_good, p_also = out["sequences"]["good"]["precision_20"], out["sequences"]["also"]["precision_20"]
    assert p_good == pytest.approx(100 / 6) and p_also == pytest.approx(100 / 4)
    assert out["overall"]["precision_20"] == pytest.approx((p_good + p_also) / 2)
    assert out["overall"]["num_sequences"] == 2 and out["overall"]["num_frames"] == 10
    assert out["attributes"]["hdr"]["precision_20"] == pytest.approx(p_also)
    assert out["attributes"]["fast_motion"]["sequences"] == ["also", "good"]
    assert out["speed"]["frames_timed"] == 8
    lat = out["speed"]["latency_ms"]
    assert 0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


def test_evaluate_dataset_refuses_empty_and_duplicate_names():
    with pytest.raises(DatasetError, match="no sequences"):
        runner.evaluate_dataset(OracleTracker([]), [], show_progress=False)
    a, b = MemorySequence("x", moving_gt(3)), MemorySequence("x", moving_gt(3))
    with pytest.raises(DatasetError, match="two sequences are named 'x'"):
        runner.evaluate_dataset(OracleTracker([a, b]), [a, b], show_progress=False)


def test_ground_truth_length_mismatch_is_a_clear_error():
    seq = MemorySequence("short", moving_gt(5))
    seq.absent = np.zeros(4, bool)
    with pytest.raises(DatasetError, match="sequence short: 5 frames but 5 ground-truth rows and 4 absent"):
        runner.run_sequence(OracleTracker([seq]), seq)


def test_prediction_files_round_trip_and_rescore_identically(tmp_path):
    gt = moving_gt(6)
    absent = np.array([True, False, False, False, False, False])
    seq = MemorySequence("s1", gt, absent, attributes={"hdr"})
    out = runner.evaluate_dataset(OracleTracker([seq], offset=(12.5, -3.25)), [seq], show_progress=False)
    run = out["runs"]["s1"]
    runner.write_predictions(tmp_path / "s1.txt", run.boxes)
    runner.write_flags(tmp_path / "s1_pred_absent.txt", run.pred_absent)
    assert (tmp_path / "s1.txt").read_text().splitlines()[0] == "nan,nan,nan,nan"
    np.testing.assert_allclose(runner.read_predictions(tmp_path / "s1.txt"), run.boxes, atol=1e-3)
    again = runner.score_prediction_files(tmp_path, [seq], with_attributes=True)
    for key in ("success_auc", "precision_20", "norm_precision_20"):
        assert again["sequences"]["s1"][key] == pytest.approx(out["sequences"]["s1"][key])
    assert again["attributes"]["hdr"]["num_sequences"] == 1


def test_read_predictions_accepts_other_toolkits_delimiters_and_rejects_garbage(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("1\t2\t3\t4\n5 6 7 8\n\n9,10,11,12\n")
    np.testing.assert_array_equal(runner.read_predictions(f), [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    f.write_text("1,2,3\n")
    with pytest.raises(DatasetError, match=r"p.txt:1: 3 values, expected 4"):
        runner.read_predictions(f)
    f.write_text("1,2,x,4\n")
    with pytest.raises(DatasetError, match="is not four numbers"):
        runner.read_predictions(f)
    with pytest.raises(DatasetError, match="does not exist"):
        runner.read_predictions(tmp_path / "missing.txt")


def test_score_prediction_files_checks_lengths(tmp_path):
    seq = MemorySequence("s1", moving_gt(5))
    runner.write_predictions(tmp_path / "s1.txt", moving_gt(4))
    with pytest.raises(DatasetError, match="4 boxes but sequence s1 has 5 frames"):
        runner.score_prediction_files(tmp_path, [seq])
    # with --max-frames 4 the first 4 frames are scored
    res = runner.score_prediction_files(tmp_path, [seq], max_frames=4)
    assert res["sequences"]["s1"]["precision_20"] == 100.0


def test_first_present_frame():
    gt = moving_gt(4)
    gt[1] = 0.0
    assert runner.first_present_frame(np.array([True, False, False, False]), gt) == 2
    assert runner.first_present_frame(np.ones(4, bool), gt) == -1
