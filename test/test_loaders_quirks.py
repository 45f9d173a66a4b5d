"""Loaders on fixture folders that reproduce what real releases do (issue 10): a DAVIS recording
whose first APS frame comes 3.6 ms before its first event, VisEvent's 8-column polygon ground
truth, per-frame files a few lines apart, an AEDAT4 with more or fewer APS frames than images,
repeated frame times, a CSV event outside the sensor. Each is tolerated with a DatasetWarning that
names the files, and what cannot be used is still refused.

AEDAT4 fixtures are real files (had_ros.events.write_aedat4, read back by the `aedat` package)."""
from __future__ import annotations

import numpy as np
import pytest

from had_ros.data import layouts
from had_ros.data.loaders import LAYOUTS, open_sequence, read_boxes
from had_ros.errors import DatasetError, DatasetWarning
from had_ros.events import write_aedat4
from test_loaders import (EVENT_STEP_NS, PERIOD_NS, H, W, boxes, expected_window,
                          frame_rgb, frame_times, make_events, write_boxes, write_coesot, write_eventvot,
                          write_flags, write_had_sim, write_visevent)


def test_registry_holds_one_module_per_layout_in_detection_order():
    assert LAYOUTS == ("had_sim", "coesot", "visevent", "fe108", "eventvot")
    for lay in layouts.layouts():
        module = __import__(f"had_ros.data.layouts.{lay.name}", fromlist=["LAYOUT"])
        assert module.LAYOUT is lay and lay.files and lay.needs and lay.modalities
    with pytest.raises(ValueError, match="registered twice"):
        layouts.register(layouts.get_layout("fe108"))


def test_first_aps_frame_before_the_first_event_gets_an_empty_window(tmp_path):
    # a real DAVIS recording: the first APS frame 3.6 ms before the first event
    d = write_coesot(tmp_path)
    times = frame_times(5)
    ev = make_events(int(times[-1]), t_start_ns=int(times[0]) + 3_600_000)
    write_aedat4(next(d.glob("*.aedat4")), ev, [frame_rgb(i)[..., 0].copy() for i in range(5)], times)
    seq = open_sequence(d)
    with pytest.warns(DatasetWarning) as rec:
        assert len(seq.events_for_frame(0)) == 0
    msg = str(rec[0].message)
    assert "1 before the first event (frames 0..0)" in msg and ".aedat4" in msg and d.name in msg
    assert seq.warnings == [msg]
    # frame 1's window starts before the stream: it holds only what was recorded
    np.testing.assert_array_equal(seq.events_for_frame(1).t, expected_window(ev, times[0], times[1]))
    assert len(seq.events_for_frame(4)) == PERIOD_NS // EVENT_STEP_NS


def test_frames_after_the_last_event_and_clocks_that_never_overlap(tmp_path):
    from had_ros.events import write_raw

    d = write_had_sim(tmp_path)
    write_raw(d / "events.raw", make_events(15_000_000))  # stops after frame 0
    seq = open_sequence(d)
    with pytest.warns(DatasetWarning, match=r"3 after the last event \(frames 2..4\) of 5 frames .*events.raw"):
        assert len(seq.events_for_frame(3)) == 0
    assert len(seq.events_for_frame(1)) == 6  # 12..15 ms of its (12, 22] ms window
    write_raw(d / "events.raw", make_events(900_000_000, t_start_ns=800_000_000))
    with pytest.raises(DatasetError) as err:
        open_sequence(d).events_for_frame(0)
    msg = str(err.value)
    assert "no frame has events" in msg and "events.raw spans t=800000000" in msg and "overlap" in msg


def test_polygon_groundtruth_becomes_the_enclosing_box(tmp_path):
    d = write_visevent(tmp_path)
    b = boxes(5)
    poly = []
    for k, (x, y, w, h) in enumerate(b):
        corners = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
        corners = corners[k % 4:] + corners[:k % 4]  # any starting corner
        poly.append([c for xy in corners for c in xy])
    # a rotated quadrilateral: its enclosing box is the min/max of its corners
    poly[2] = [10, 4, 18, 9, 13, 17, 5, 12]
    poly[3] = [float("nan")] * 8
    (d / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in poly))
    with pytest.warns(DatasetWarning, match=r"groundtruth.txt holds 5 8-column polygon rows"):
        seq = open_sequence(d)
    expected = b.copy()
    expected[2] = [5, 4, 13, 13]
    expected[3] = np.nan
    np.testing.assert_allclose(seq.groundtruth, expected)
    np.testing.assert_array_equal(seq.absent, [False, False, False, True, False])
    assert "8-column" in seq.warnings[0]
    (d / "groundtruth.txt").write_text("1,2,3,4,5,6\n" * 5)
    with pytest.raises(DatasetError, match="line 1 is '1,2,3,4,5,6'; expected 4 numbers .* \\(or 8"):
        read_boxes(d / "groundtruth.txt", "s")


def test_counts_a_few_lines_apart_are_trimmed_to_the_shortest(tmp_path):
    d = write_coesot(tmp_path, n=7)
    write_boxes(d / "groundtruth.txt", boxes(6))          # one box short
    write_flags(d / "absent.txt", np.ones(8, bool))       # one flag too many
    with pytest.warns(DatasetWarning) as rec:
        seq = open_sequence(d)
    msg = str(rec[0].message)
    assert "groundtruth.txt: 6" in msg and "absent.txt: 8" in msg and "_aps: 7" in msg
    assert "using the first 6 frames" in msg
    assert len(seq) == 6 and seq.groundtruth.shape == (6, 4) and seq.absent.shape == (6,)
    assert seq.frame_files[-1].name == "frame0005.bmp"
    # the .aedat4 stores 7 APS frames for the 6 kept: its first 6 stamps are used, one more warning
    with pytest.warns(DatasetWarning, match=r"APS frames in .*\.aedat4: 7"):
        np.testing.assert_array_equal(seq.frame_times, frame_times(6))
    assert len(seq) == 6 and len(seq.warnings) == 2


def test_aedat4_with_fewer_aps_frames_than_images_shortens_the_sequence(tmp_path):
    d = write_coesot(tmp_path, n=6)
    times = frame_times(5)
    write_aedat4(next(d.glob("*.aedat4")), make_events(int(times[-1])),
                 [frame_rgb(i)[..., 0].copy() for i in range(5)], times)
    seq = open_sequence(d)
    assert len(seq) == 6  # known only once the .aedat4 is read
    with pytest.warns(DatasetWarning, match=r"frames with images and annotations in .*: 6; APS frames in .*: 5"):
        np.testing.assert_array_equal(seq.frame_times, times)
    assert len(seq) == 5 and seq.groundtruth.shape == (5, 4) and len(seq.event_frame_files) == 5
    assert seq.event_image(4).shape == (H, W, 3)
    # far fewer (5 APS frames for 20 images): refused, with the override named
    d = write_coesot(tmp_path / "long", n=20)
    write_aedat4(next(d.glob("*.aedat4")), make_events(int(times[-1])),
                 [frame_rgb(i)[..., 0].copy() for i in range(5)], times)
    with pytest.raises(DatasetError, match="disagree by 15 lines.*frame_times.txt or pass fps="):
        open_sequence(d).frame_time(0)


def test_repeated_frame_time_reuses_the_previous_window(tmp_path):
    d = write_had_sim(tmp_path)
    times = frame_times(5)
    times[2] = times[1]  # a driver that stamped two frames alike
    (d / "frame_times.txt").write_text("".join(f"{t}\n" for t in times))
    with pytest.warns(DatasetWarning, match=r"1 frames have the same time .*frame_times.txt \(first: frame 2"):
        seq = open_sequence(d)
    assert seq.frame_window(2) == seq.frame_window(1) == (int(times[1]) - PERIOD_NS, int(times[1]))
    assert seq.frame_window(3) == (int(times[2]), int(times[3]))  # 2 periods: since the repeat
    np.testing.assert_array_equal(seq.events_for_frame(2).t, seq.events_for_frame(1).t)
    assert len(seq.events_for_frame(2)) == PERIOD_NS // EVENT_STEP_NS
    times[1] = times[0]  # frame 1 repeats frame 0: frame 0's window is the first positive one
    (d / "frame_times.txt").write_text("".join(f"{t}\n" for t in times))
    with pytest.warns(DatasetWarning, match="first: frame 1"):
        seq = open_sequence(d)
    assert seq.frame_window(1) == seq.frame_window(0) == (int(times[0]) - PERIOD_NS, int(times[0]))


def test_csv_event_outside_the_sensor_is_counted_and_dropped(tmp_path):
    d = write_eventvot(tmp_path)
    csv = d / f"{d.name}.csv"
    lines = csv.read_text().splitlines()
    n = len(lines)
    lines[3] = f"{W},5,1,{lines[3].split(',')[3]}"      # x = width: one past the last column
    lines[7] = f"2,-1,0,{lines[7].split(',')[3]}"       # a negative row
    csv.write_text("\n".join(lines) + "\n")
    seq = open_sequence(d)
    with pytest.warns(DatasetWarning, match=rf"dropped 2 of {n} events of .*\.csv outside the 40x30 sensor \(first: data row 4, x=40, y=5\)"):
        assert seq.num_events == n - 2
    assert seq.events.x.max() < W and seq.events.y.max() < H


def test_modalities_say_what_each_layout_really_has(tmp_path):
    assert open_sequence(write_had_sim(tmp_path)).modalities == ("rgb", "events")
    assert open_sequence(write_coesot(tmp_path)).modalities == ("rgb", "events", "event_images")
    vis = open_sequence(write_visevent(tmp_path / "v"))
    assert vis.modalities == ("rgb", "event_images") and vis.has_rgb and not vis.has_events
    vot = open_sequence(write_eventvot(tmp_path / "e"))
    assert vot.modalities == ("events", "event_images") and not vot.has_rgb
    assert "event renderings" in vot.modality_note and "EVK4" in vot.modality_note
    np.testing.assert_array_equal(vot.event_image(2), vot.frame(2))  # img/ is what it renders


def test_dataset_info_shows_modalities_warnings_and_takes_layout_options(tmp_path, capsys):
    import json

    from had_ros.cli import main

    write_had_sim(tmp_path, "sim")
    vot = write_eventvot(tmp_path, "vot")
    write_boxes(vot / "groundtruth.txt", boxes(4))  # one box short: trimmed with a warning
    with pytest.warns(DatasetWarning, match="groundtruth.txt: 4"):
        assert main(["dataset", "info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("vot"))
    assert "events,event_images" in row and " 4 " in row
    assert "rgb,events" in next(line for line in out.splitlines() if line.startswith("sim"))
    assert "note (eventvot): no RGB camera" in out and "1 sequences were read with warnings" in out
    with pytest.warns(DatasetWarning):
        assert main(["dataset", "info", str(tmp_path), "--json", "--fps", "50"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["sequences"]}
    assert rows["vot"]["modalities"] == ["events", "event_images"] and rows["vot"]["frames"] == 4
    assert "groundtruth.txt: 4" in rows["vot"]["warnings"][0]
    # 50 fps from the first event runs 2 frames past the end of sim's 52 ms of events
    assert len(rows["sim"]["warnings"]) == 1 and "2 after the last event" in rows["sim"]["warnings"][0]
    assert rows["vot"]["frame_times"] == "fixed 50 fps (given)"
    with pytest.raises(SystemExit):
        main(["dataset", "info", str(tmp_path), "--layout", "kitti"])
