"""Dataset loaders on tiny fixture folders written here in each layout (no real dataset needed).

AEDAT4 fixtures (COESOT, FE108, VisEvent with events) are real files written with
had_ros.events.write_aedat4 and read back through the `aedat` package, nothing mocked.
The helpers at the top are also used by test_pairs.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from had_ros.data.loaders import (DEFAULT_FPS, Sequence, detect_layout, list_images, open_dataset,
                                  open_sequence, read_boxes, read_event_csv)
from had_ros.errors import DatasetError
from had_ros.events import Events, write_aedat4, write_raw

W, H = 40, 30
PERIOD_NS = 10_000_000          # 100 fps
FIRST_FRAME_NS = 12_000_000
EVENT_STEP_NS = 500_000         # one event every 0.5 ms


# -- fixture writers ------------------------------------------------------------------------------
def frame_rgb(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Frame i: distinct red per frame, fixed green/blue (so a BGR/RGB swap shows)."""
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = (10 * i + 5) % 256
    img[..., 1] = 100
    img[..., 2] = 200
    return img


def write_images(folder: Path, n: int, pattern: str, start: int = 0, gray: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = frame_rgb(i)
        out = img[..., 0] if gray else img[..., ::-1]  # cv2 writes BGR
        assert cv2.imwrite(str(folder / pattern.format(i + start)), out)


def boxes(n: int) -> np.ndarray:
    return np.array([[2.0 + i, 3.0 + 0.5 * i, 10.0, 8.0] for i in range(n)])


def write_boxes(path: Path, b: np.ndarray, sep: str = ",") -> None:
    path.write_text("".join(sep.join(f"{v:g}" for v in row) + "\n" for row in b))


def write_flags(path: Path, present: np.ndarray) -> None:
    path.write_text("".join(f"{int(v)}\n" for v in present))


def frame_times(n: int) -> np.ndarray:
    return FIRST_FRAME_NS + PERIOD_NS * np.arange(n, dtype=np.int64)


def make_events(t_end_ns: int, w: int = W, h: int = H, t_start_ns: int = 0) -> Events:
    t = np.arange(t_start_ns, t_end_ns + 1, EVENT_STEP_NS, dtype=np.int64)
    k = np.arange(len(t))
    return Events.from_arrays(k % w, (k // w) % h, t, k % 2, w, h)


def write_had_sim(root: Path, name: str = "sim0", n: int = 5, attributes=("fast_motion",),
                  present=None) -> Path:
    d = root / name
    write_images(d / "frames", n, "{:06d}.png")
    times = frame_times(n)
    write_raw(d / "events.raw", make_events(int(times[-1])))
    (d / "frame_times.txt").write_text("".join(f"{t}\n" for t in times))
    write_boxes(d / "groundtruth.txt", boxes(n))
    write_flags(d / "absent.txt", np.ones(n, bool) if present is None else present)
    (d / "meta.json").write_text(json.dumps({
        "name": name, "width": W, "height": H, "fps": 100, "num_frames": n, "seed": 1,
        "attributes": list(attributes), "format": "had_sim/1"}))
    return d


def write_aedat(path: Path, n: int, with_frames: bool = True) -> None:
    times = frame_times(n)
    frames = [frame_rgb(i)[..., 0].copy() for i in range(n)] if with_frames else None
    write_aedat4(path, make_events(int(times[-1])), frames, times if with_frames else None)


def write_coesot(root: Path, name: str = "dvSave-2021_09_01_10_00_00", n: int = 5, present=None) -> Path:
    d = root / name
    write_images(d / f"{name}_aps", n, "frame{:04d}.bmp")
    write_images(d / f"{name}_dvs", n, "frame{:04d}.bmp")
    write_aedat(d / f"{name}.aedat4", n)
    write_boxes(d / "groundtruth.txt", boxes(n))
    write_flags(d / "absent.txt", np.ones(n, bool) if present is None else present)
    return d


def write_visevent(root: Path, name: str = "00141_tank_outdoor2", n: int = 5, aedat: bool = False) -> Path:
    d = root / name
    write_images(d / "vis_imgs", n, "{:05d}.bmp", start=1)
    write_images(d / "event_imgs", n, "{:05d}.bmp", start=1)
    write_boxes(d / "groundtruth.txt", boxes(n))
    write_flags(d / "absent_label.txt", np.ones(n, bool))
    if aedat:
        write_aedat(d / f"{name}.aedat4", n)
    return d


def write_fe108(root: Path, name: str = "airplane", n: int = 5) -> Path:
    d = root / name
    write_images(d / "img", n, "{:04d}.jpg", start=1)
    write_aedat(d / "events.aedat4", n)
    b = boxes(n)
    b[2] = 0.0  # FE108 has no absent file: a zero box means absent
    write_boxes(d / "groundtruth_rect.txt", b)
    return d


def write_eventvot(root: Path, name: str = "recording_2022-10-10_10-15-20", n: int = 5,
                   order: str = "xypt", header: bool = False, t_unit_ns: int = 1000) -> Path:
    """Events from 0 to 100 ms in t_unit_ns steps written as CSV in ``order``."""
    d = root / name
    write_images(d / "img", n, "{:04d}.png")
    ev = make_events(100_000_000)
    cols = {"x": ev.x, "y": ev.y, "p": ev.p, "t": ev.t // t_unit_ns}
    lines = [",".join(order)] if header else []
    lines += [",".join(str(int(cols[c][k])) for c in order) for k in range(len(ev))]
    (d / f"{name}.csv").write_text("\n".join(lines) + "\n")
    write_boxes(d / "groundtruth.txt", boxes(n))
    write_flags(d / "absent.txt", np.ones(n, bool))
    return d


def expected_window(ev: Events, t0: int, t1: int) -> np.ndarray:
    """Times of ``ev`` in (t0, t1], computed by a plain mask."""
    return ev.t[(ev.t > t0) & (ev.t <= t1)]


# -- each layout ----------------------------------------------------------------------------------
def check_frames(seq: Sequence, n: int) -> None:
    assert len(seq) == n
    for i in (0, n - 1):
        img = seq.frame(i)
        assert img.shape == (H, W, 3) and img.dtype == np.uint8
        assert int(img[5, 5, 0]) == 10 * i + 5  # red channel carries the index: RGB order


def test_had_sim_sequence(tmp_path):
    present = np.array([1, 1, 0, 1, 1], bool)
    d = write_had_sim(tmp_path, present=present)
    seq = open_sequence(d)
    assert (seq.layout, seq.name, seq.width, seq.height) == ("had_sim", "sim0", W, H)
    assert seq.attributes == frozenset({"fast_motion"})
    check_frames(seq, 5)
    np.testing.assert_allclose(seq.groundtruth, boxes(5))
    np.testing.assert_array_equal(seq.absent, ~present)
    np.testing.assert_array_equal(seq.frame_times, frame_times(5))
    assert seq.frame_time_source.endswith("frame_times.txt")
    ev = make_events(int(frame_times(5)[-1]))
    for i in range(5):
        t0 = frame_times(5)[i] - PERIOD_NS  # frame 0 gets the same span before it
        got = seq.events_for_frame(i)
        np.testing.assert_array_equal(got.t, expected_window(ev, t0, frame_times(5)[i]))
    custom = seq.events_for_frame(3, window_ns=2_000_000)
    np.testing.assert_array_equal(custom.t, expected_window(ev, frame_times(5)[3] - 2_000_000, frame_times(5)[3]))
    between = seq.events_between(1_000_000, 2_000_000)  # [t0, t1)
    np.testing.assert_array_equal(between.t, [1_000_000, 1_500_000])


def test_coesot_sequence_times_from_aedat4(tmp_path):
    d = write_coesot(tmp_path, present=np.array([1, 0, 1, 1, 1], bool))
    seq = open_sequence(d)
    assert seq.layout == "coesot" and seq.name == d.name
    check_frames(seq, 5)
    np.testing.assert_array_equal(seq.absent, [False, True, False, False, False])
    np.testing.assert_array_equal(seq.frame_times, frame_times(5))  # the AEDAT4 frame stamps
    assert "aedat4" in seq.frame_time_source
    ev = make_events(int(frame_times(5)[-1]))
    np.testing.assert_array_equal(seq.events_for_frame(2).t, expected_window(ev, frame_times(5)[1], frame_times(5)[2]))
    assert seq.num_events == len(ev)
    assert seq.event_image(0).shape == (H, W, 3)


def test_fe108_sequence_absent_from_boxes(tmp_path):
    seq = open_sequence(write_fe108(tmp_path))
    assert seq.layout == "fe108"
    assert len(seq) == 5 and seq.frame(4).shape == (H, W, 3)  # JPEG: lossy, so only the shape
    np.testing.assert_array_equal(seq.absent, [False, False, True, False, False])
    assert seq.absent_source.startswith("boxes")
    np.testing.assert_array_equal(seq.frame_times, frame_times(5))


def test_visevent_with_and_without_events(tmp_path):
    seq = open_sequence(write_visevent(tmp_path / "a"))
    assert seq.layout == "visevent" and not seq.has_events
    check_frames(seq, 5)
    assert seq.event_image(1).shape == (H, W, 3)
    assert seq.frame_time(0) == round(1e9 / DEFAULT_FPS) and seq.frame_time(4) == round(5e9 / DEFAULT_FPS)
    assert "nominal" in seq.frame_time_source
    with pytest.raises(DatasetError, match="only event images"):
        seq.events_for_frame(0)
    seq2 = open_sequence(write_visevent(tmp_path / "b", aedat=True))
    assert seq2.has_events
    np.testing.assert_array_equal(seq2.frame_times, frame_times(5))
    assert len(seq2.events_for_frame(1)) == PERIOD_NS // EVENT_STEP_NS


@pytest.mark.parametrize("order,header", [("xypt", False), ("txyp", False), ("ptyx", True)])
def test_eventvot_csv_orders_and_uniform_times(tmp_path, order, header):
    d = write_eventvot(tmp_path, order=order, header=header)
    seq = open_sequence(d)
    assert seq.layout == "eventvot"
    check_frames(seq, 5)
    ev = make_events(100_000_000)
    assert seq.events.equals(ev)
    # 0..100 ms split into 5 windows: frame i at (i + 1) * 20 ms
    np.testing.assert_array_equal(seq.frame_times, 20_000_000 * np.arange(1, 6))
    assert "uniform" in seq.frame_time_source
    np.testing.assert_array_equal(seq.events_for_frame(0).t, expected_window(ev, 0, 20_000_000))


def test_frame_times_file_and_fps_override(tmp_path):
    d = write_eventvot(tmp_path)
    times = 3_000_000 + 7_000_000 * np.arange(5)
    (d / "frame_times.txt").write_text("\n".join(map(str, times)) + "\n")
    np.testing.assert_array_equal(open_sequence(d).frame_times, times)
    seq = open_sequence(d, fps=50)
    np.testing.assert_array_equal(seq.frame_times, 20_000_000 * np.arange(1, 6))  # first event at 0
    assert "50 fps" in seq.frame_time_source


def test_groundtruth_separators(tmp_path):
    b = np.array([[1.5, 2, 3, 4], [5, 6, 7, 8]])
    for sep in (",", "\t", " ", ", "):
        p = tmp_path / "gt.txt"
        write_boxes(p, b, sep)
        np.testing.assert_allclose(read_boxes(p, "s"), b)
    p.write_text("1,2,3,4\nnan,nan,nan,nan\n\n")
    assert np.isnan(read_boxes(p, "s")[1]).all()


def test_nan_box_is_absent(tmp_path):
    d = write_eventvot(tmp_path)
    lines = (d / "groundtruth.txt").read_text().splitlines()
    lines[3] = "NaN,NaN,NaN,NaN"
    (d / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    np.testing.assert_array_equal(open_sequence(d).absent, [False, False, False, True, False])


def test_natural_frame_order(tmp_path):
    write_images(tmp_path / "f", 12, "frame{}.png")
    names = [p.name for p in list_images(tmp_path / "f", "s")]
    assert names[:3] == ["frame0.png", "frame1.png", "frame2.png"] and names[-1] == "frame11.png"


# -- datasets -------------------------------------------------------------------------------------
def test_open_dataset_subfolders_list_and_single(tmp_path):
    write_had_sim(tmp_path, "b")
    write_eventvot(tmp_path, "a")
    (tmp_path / "notes").mkdir()  # not a sequence: skipped
    seqs = open_dataset(tmp_path)
    assert [(s.name, s.layout) for s in seqs] == [("a", "eventvot"), ("b", "had_sim")]
    (tmp_path / "list.txt").write_text("b\n")
    assert [s.name for s in open_dataset(tmp_path)] == ["b"]
    assert [s.name for s in open_dataset(tmp_path / "a")] == ["a"]


def test_open_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="holds no sequences"):
        open_dataset(tmp_path)
    (tmp_path / "list.txt").write_text("ghost\n")
    with pytest.raises(DatasetError, match="list.txt names sequence 'ghost'"):
        open_dataset(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset(tmp_path / "nope")


# -- bad input ------------------------------------------------------------------------------------
def test_unknown_layout(tmp_path):
    d = tmp_path / "weird"
    (d / "pictures").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        open_sequence(d)
    msg = str(err.value)
    assert "'weird'" in msg and "pictures/" in msg and "vis_imgs/" in msg
    assert detect_layout(d) is None
    with pytest.raises(DatasetError, match="unknown layout 'kitti'"):
        open_sequence(write_eventvot(tmp_path), layout="kitti")


@pytest.mark.parametrize("writer,gt", [(write_had_sim, "groundtruth.txt"), (write_coesot, "groundtruth.txt"),
                                       (write_fe108, "groundtruth_rect.txt"), (write_eventvot, "groundtruth.txt")])
def test_missing_groundtruth(tmp_path, writer, gt):
    d = writer(tmp_path)
    (d / gt).unlink()
    if writer is write_fe108:  # the GT file is what identifies FE108
        with pytest.raises(DatasetError, match="unknown layout"):
            open_sequence(d)
        with pytest.raises(DatasetError, match=f"{gt} is missing"):
            open_sequence(d, layout="fe108")
        return
    if writer is write_eventvot:
        d_layout = "eventvot"
        with pytest.raises(DatasetError, match=f"{gt} is missing"):
            open_sequence(d, layout=d_layout)
        return
    with pytest.raises(DatasetError) as err:
        open_sequence(d)
    assert d.name in str(err.value) and str(d / gt) in str(err.value)


def test_groundtruth_far_too_short_is_refused_with_counts(tmp_path):
    d = write_coesot(tmp_path, n=30)
    write_boxes(d / "groundtruth.txt", boxes(3))
    with pytest.raises(DatasetError) as err:
        open_sequence(d)
    msg = str(err.value)
    assert "disagree by 27 lines" in msg and "boxes in" in msg and "groundtruth.txt: 3" in msg
    assert "_aps: 30" in msg and d.name in msg


def test_bad_lines(tmp_path):
    d = write_had_sim(tmp_path)
    (d / "groundtruth.txt").write_text("1,2,3,4\n1,2,3\n" + "1,2,3,4\n" * 3)
    with pytest.raises(DatasetError, match=r"groundtruth.txt line 2 is '1,2,3'; expected 4 numbers"):
        open_sequence(d)
    write_boxes(d / "groundtruth.txt", boxes(5))
    (d / "absent.txt").write_text("1\n1\n2\n1\n1\n")
    with pytest.raises(DatasetError, match="absent.txt line 3 is '2'; expected 0 or 1"):
        open_sequence(d)


def test_corrupt_image_errors_only_when_read(tmp_path):
    d = write_eventvot(tmp_path)
    bad = sorted((d / "img").iterdir())[0]
    bad.write_bytes(b"not an image at all")
    seq = open_sequence(d)  # opening reads no pixels
    assert seq.frame(1).shape == (H, W, 3)
    with pytest.raises(DatasetError) as err:
        seq.frame(0)
    assert str(bad) in str(err.value) and "frame 0" in str(err.value) and seq.name in str(err.value)


def test_image_of_wrong_size(tmp_path):
    d = write_had_sim(tmp_path)
    cv2.imwrite(str(d / "frames" / "000002.png"), np.zeros((5, 7, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"000002.png is 7x5; expected 40x30"):
        open_sequence(d).frame(2)


def test_empty_and_missing_event_files(tmp_path):
    d = write_had_sim(tmp_path)
    write_raw(d / "events.raw", Events.empty(W, H))
    with pytest.raises(DatasetError, match="events.raw holds no events"):
        open_sequence(d).events_for_frame(0)
    (d / "events.raw").unlink()
    with pytest.raises(DatasetError, match="events.raw is missing"):
        open_sequence(d)
    e = write_coesot(tmp_path / "c")
    next(e.glob("*.aedat4")).unlink()
    with pytest.raises(DatasetError, match="AEDAT4 event file missing"):
        open_sequence(e)


def test_events_of_other_resolution(tmp_path):
    d = write_had_sim(tmp_path)
    write_raw(d / "events.raw", make_events(int(frame_times(5)[-1]), w=64, h=48))
    with pytest.raises(DatasetError, match="are 64x48; expected the frames' 40x30"):
        open_sequence(d).events_for_frame(1)


def test_corrupt_aedat4(tmp_path):
    d = write_fe108(tmp_path)
    (d / "events.aedat4").write_bytes(b"#!AER-DAT4.0\r\n garbage")
    with pytest.raises(DatasetError, match="airplane.*events.aedat4"):
        open_sequence(d).frame_time(0)


def test_times_must_not_decrease(tmp_path):
    d = write_had_sim(tmp_path)
    (d / "frame_times.txt").write_text("1\n2\n3\n2\n4\n")
    with pytest.raises(DatasetError, match="do not increase at frame 3"):
        open_sequence(d)
    (d / "frame_times.txt").write_text("7\n7\n7\n7\n7\n")
    with pytest.raises(DatasetError, match="all 5 frame times .* are 7 ns"):
        open_sequence(d)


def test_csv_errors(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("1,2,3\n")
    with pytest.raises(DatasetError, match="3 columns; expected 4"):
        read_event_csv(p, W, H, "s")
    p.write_text("5,1,7,9\n3,1,7,9\n")  # p=7 fits no order
    with pytest.raises(DatasetError, match="cannot tell the columns"):
        read_event_csv(p, W, H, "s")
    p.write_text("x,y,p,t\n50,1,1,9\n")
    with pytest.raises(DatasetError, match="every event of .*e.csv lies outside the 40x30"):
        read_event_csv(p, W, H, "s")
    p.write_text("x,y,pol,when\n1,1,1,9\n")
    with pytest.raises(DatasetError, match="no t column"):
        read_event_csv(p, W, H, "s")


def test_csv_seconds_and_negative_polarity(tmp_path):
    p = tmp_path / "e.csv"
    p.write_text("t,x,y,p\n0.5,1,2,-1\n0.75,3,4,1\n")
    ev = read_event_csv(p, W, H, "s")
    np.testing.assert_array_equal(ev.t, [500_000_000, 750_000_000])
    np.testing.assert_array_equal(ev.p, [0, 1])
    np.testing.assert_array_equal(ev.x, [1, 3])


def test_release_rereads_events(tmp_path):
    seq = open_sequence(write_had_sim(tmp_path))
    n = seq.num_events
    seq.release()
    assert seq._events is None
    assert seq.num_events == n


# -- CLI ------------------------------------------------------------------------------------------
def test_dataset_info_cli(tmp_path, capsys):
    from had_ros.cli import main

    write_had_sim(tmp_path, "s1", attributes=("fast_motion", "low_light"))
    write_had_sim(tmp_path, "s2", n=3, attributes=("low_light",))
    assert main(["dataset", "info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "s1" in out and "s2" in out and "40x30" in out
    assert "total: 2 sequences, 8 frames" in out
    assert "low_light" in out and "fast_motion" in out
    assert main(["dataset", "info", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["totals"]["frames"] == 8 and info["attributes"] == {"fast_motion": 1, "low_light": 2}
    ev1 = make_events(int(frame_times(5)[-1]))
    assert info["sequences"][0]["events"] == len(ev1)
    assert info["sequences"][0]["duration_s"] == pytest.approx(5 * PERIOD_NS / 1e9)
    # --no-events reads no event file: counts unknown, durations only where times need no events
    write_eventvot(tmp_path, "v")
    assert main(["dataset", "info", str(tmp_path), "--json", "--no-events"]) == 0
    fast = {r["name"]: r for r in json.loads(capsys.readouterr().out)["sequences"]}
    assert fast["s1"]["events"] is None and fast["s1"]["duration_s"] == pytest.approx(0.05)
    assert fast["v"]["duration_s"] is None and "uniform" in fast["v"]["frame_times"]
    assert main(["dataset", "info", str(tmp_path / "s2")]) == 0  # one sequence folder
    assert "total: 1 sequences, 3 frames" in capsys.readouterr().out


def test_dataset_info_cli_reports_bad_sequence(tmp_path, capsys):
    from had_ros.cli import main

    write_had_sim(tmp_path, "good")
    bad = write_had_sim(tmp_path, "bad")
    write_raw(bad / "events.raw", Events.empty(W, H))
    assert main(["dataset", "info", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "ERROR" in captured.out and "holds no events" in captured.err
    assert main(["dataset", "info", str(tmp_path / "nothing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_frame_folder_missing_or_empty(tmp_path):
    d = write_had_sim(tmp_path)
    for f in (d / "frames").iterdir():
        f.unlink()
    (d / "frames" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match="frames holds no images"):
        open_sequence(d)
    d2 = write_visevent(tmp_path / "v")
    import shutil

    shutil.rmtree(d2 / "vis_imgs")
    with pytest.raises(DatasetError, match="unknown layout"):
        open_sequence(d2)
    with pytest.raises(DatasetError, match="vis_imgs is missing"):
        open_sequence(d2, layout="visevent")


def test_frame_index_and_event_images(tmp_path):
    seq = open_sequence(write_coesot(tmp_path))
    assert int(seq.frame(-1)[0, 0, 0]) == 10 * 4 + 5
    with pytest.raises(IndexError, match="frame 5 out of range"):
        seq.frame(5)
    seq.event_frame_files = seq.event_frame_files[:3]
    with pytest.raises(DatasetError, match="holds 3 event images but there are 5 frames"):
        seq.event_image(0)
    with pytest.raises(DatasetError, match="has no event images"):
        open_sequence(write_had_sim(tmp_path)).event_image(0)


def test_bad_frame_times_file(tmp_path):
    d = write_had_sim(tmp_path)
    (d / "frame_times.txt").write_text("1\n2\nthree\n4\n5\n")
    with pytest.raises(DatasetError, match="frame_times.txt line 3 is 'three'; expected an integer"):
        open_sequence(d)
    (d / "frame_times.txt").write_text("1\n2\n3\n")
    with pytest.raises(DatasetError, match="3 lines for 5 frames"):
        open_sequence(d)
    (d / "frame_times.txt").unlink()
    with pytest.raises(DatasetError, match="frame_times.txt is missing"):
        open_sequence(d, layout="had_sim")


def test_sequence_checks_its_arrays(tmp_path):
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    with pytest.raises(DatasetError, match="expected \\(N, 4\\) boxes"):
        Sequence(name="s", layout="had_sim", root=tmp_path, frame_files=files, groundtruth=boxes(3),
                 absent=np.zeros(2, bool), width=W, height=H, frame_times=[1, 2])
    seq = Sequence(name="s", layout="had_sim", root=tmp_path, frame_files=files, groundtruth=boxes(2),
                   absent=np.zeros(2, bool), width=W, height=H, frame_times=[5, 9])
    assert seq.frame_times_ready and seq.duration_ns == 8 and seq.frame_window(0) == (1, 5)
    assert seq.frame_window(1, window_ns=3) == (6, 9)
    with pytest.raises(DatasetError, match="window must be > 0"):
        seq.frame_window(1, window_ns=0)


def test_bad_meta_json(tmp_path):
    d = write_had_sim(tmp_path)
    (d / "meta.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot parse .*meta.json"):
        open_sequence(d, layout="had_sim")
    (d / "meta.json").write_text(json.dumps({"name": "sim0", "format": "had_sim/1"}))
    with pytest.raises(DatasetError, match="lacks width/height"):
        open_sequence(d)
    (d / "meta.json").write_text(json.dumps({"width": W, "height": H, "num_frames": 9, "format": "had_sim/1"}))
    with pytest.raises(DatasetError, match="says 9 frames but .* holds 5"):
        open_sequence(d)


def test_opens_what_the_generator_writes(tmp_path):
    """Round trip with the real generator (had_ros.data.simulator), tiny size."""
    from had_ros.data.simulator import SimConfig, generate_to_folder

    summary = generate_to_folder(tmp_path, 0, 7, frozenset(), SimConfig(width=64, height=48, num_frames=6))
    (seq,) = open_dataset(tmp_path)
    assert seq.layout == "had_sim" and seq.name == summary["name"] and len(seq) == 6
    assert (seq.width, seq.height) == (64, 48) and seq.frame(5).shape == (48, 64, 3)
    assert seq.num_events == summary["events"]
    assert sum(len(seq.events_for_frame(i)) for i in range(6)) <= seq.num_events
    assert np.all(np.diff(seq.frame_times) > 0)
