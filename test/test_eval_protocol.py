"""`had eval` scoring rules and inputs end to end: absent frames in the denominator unless
--exclude-absent, a never-present sequence reported apart, RGB models refused on EventVOT (whose
img/ frames are event renderings), and --layout/--fps shared with `had dataset info`."""
from __future__ import annotations

import json

import numpy as np
import pytest

from had_ros.cli import main
from test_eval_cli import AUC_CAP, N, make_sequence
from had_ros.errors import DatasetWarning
from test_loaders import boxes, write_boxes, write_eventvot


@pytest.fixture()
def oracle(tmp_path):
    """A had_sim dataset (one sequence with frame 5 absent, one never present) and predictions
    equal to the ground truth."""
    data, preds = tmp_path / "data", tmp_path / "preds"
    preds.mkdir()
    for name, absent in (("hide", (5,)), ("gone", tuple(range(N)))):
        gt = make_sequence(data, name, (1.0, 1.0), absent_frames=absent)
        np.savetxt(preds / f"{name}.txt", gt, delimiter=",")
    return data, preds


def test_absent_frames_count_unless_excluded_and_never_present_is_apart(oracle, tmp_path, capsys):
    data, preds = oracle
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(data), "--predictions", str(preds), "--out", str(out)]) == 0
    report = json.loads((out / "results.json").read_text())
    hide, gone = report["sequences"]["hide"], report["sequences"]["gone"]
    # a perfect box on the absent frame is still a miss: 7 of 8 frames
    assert hide["precision_20"] == pytest.approx(100 * 7 / N) and hide["num_frames"] == N
    assert hide["success_auc"] == pytest.approx(AUC_CAP * 7 / N)
    assert gone["scored"] is False and gone["success_auc"] is None and gone["frames_absent"] == N
    o = report["overall"]
    assert o["num_sequences"] == 1 and o["sequences_not_scored"] == ["gone"]
    assert o["precision_20"] == pytest.approx(hide["precision_20"])  # gone is averaged nowhere
    assert report["exclude_absent"] is False and "stay in the denominator" in report["protocol"]
    text = capsys.readouterr().out
    assert "not scored (target never present, averaged nowhere): gone" in text
    assert next(line for line in text.splitlines() if line.startswith("gone")).split()[2] == "-"

    out2 = tmp_path / "out2"
    assert main(["eval", "--dataset", str(data), "--predictions", str(preds), "--out", str(out2),
                 "--exclude-absent"]) == 0
    report = json.loads((out2 / "results.json").read_text())
    hide = report["sequences"]["hide"]
    assert hide["precision_20"] == 100.0 and hide["num_frames"] == N - 1
    assert report["overall"]["success_auc"] == pytest.approx(AUC_CAP)
    assert report["exclude_absent"] is True and "--exclude-absent" in report["protocol"]
    assert "left out of the scores (--exclude-absent)" in capsys.readouterr().out


def test_layout_and_fps_options_reach_the_loader(oracle, tmp_path, capsys):
    data, preds = oracle
    rc = main(["eval", "--dataset", str(data / "hide"), "--predictions", str(preds), "--out",
               str(tmp_path / "o"), "--layout", "coesot"])
    assert rc == 1 and "(coesot): frame folder" in capsys.readouterr().err
    assert main(["eval", "--dataset", str(data), "--predictions", str(preds), "--out",
                 str(tmp_path / "o"), "--layout", "had_sim", "--fps", "25"]) == 0
    report = json.loads((tmp_path / "o" / "results.json").read_text())
    assert report["layout"] == "had_sim" and report["fps"] == 25.0
    with pytest.raises(SystemExit):
        main(["eval", "--dataset", str(data), "--predictions", str(preds), "--out", str(tmp_path),
              "--layout", "kitti"])


def test_rgb_model_is_refused_on_eventvot_and_an_event_model_runs(tmp_path, capsys):
    write_eventvot(tmp_path / "vot", "rec_a")
    rc = main(["eval", "--dataset", str(tmp_path / "vot"), "--model", "had_student_rgbe_edge",
               "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "uses RGB frames, but 1 sequences have none (rec_a (eventvot)" in err
    assert "event renderings" in err and "had_student_event_edge" in err
    assert not (tmp_path / "o" / "rec_a.txt").exists()  # refused before any tracking
    # the event model runs; a ground truth one line short is trimmed and results.json says so
    write_boxes(tmp_path / "vot" / "rec_a" / "groundtruth.txt", boxes(4))
    with pytest.warns(DatasetWarning, match="groundtruth.txt: 4"):
        assert main(["eval", "--dataset", str(tmp_path / "vot"), "--model", "had_student_event_edge",
                     "--out", str(tmp_path / "e"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "e" / "results.json").read_text())
    assert report["sequences"]["rec_a"]["frames_timed"] == 3
    assert len((tmp_path / "e" / "rec_a.txt").read_text().splitlines()) == 4
    assert "using the first 4 frames" in report["dataset_warnings"]["rec_a"][0]
