"""Crop geometry (had_ros.data.crops) and training pairs (had_ros.data.pairs) on a tiny synthetic
sequence whose events all fall inside the target box, so RGB, events and boxes can be checked
against each other."""
from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from had_ros.data.crops import (CropTransform, apply_crop, crop_and_resize, crop_events_voxel,
                                crop_side, crop_transform, normalized_cxcywh, xywh_from_normalized)
from had_ros.data.loaders import open_sequence
from had_ros.data.pairs import PairConfig, PairDataset, PairSampler, center_map, jitter_box, make_loader
from had_ros.errors import DatasetError, TrackingError
from had_ros.events import Events, write_raw
from had_ros.events.representations import voxel_grid

W, H = 64, 48
PERIOD = 10_000_000
T0 = 12_000_000
TINY = PairConfig(template_size=32, search_size=64, patch=16, bins=3)
BG = (30, 30, 30)
FG = (220, 60, 90)


def target_box(i: int) -> np.ndarray:
    return np.array([5.0 + 4 * i, 6.0 + 2 * i, 12.0, 10.0])


def write_target_sequence(root: Path, name: str = "target", n: int = 8, present=None,
                          at_frame_time: bool = False) -> Path:
    """had_sim folder: a coloured box on a grey frame, 150 events per frame inside the box, in
    the frame's window (t_prev, t] or, with ``at_frame_time``, all exactly at the frame time."""
    d = root / name
    (d / "frames").mkdir(parents=True)
    rng = np.random.default_rng(3)
    xs, ys, ts, ps = [], [], [], []
    for i in range(n):
        x, y, w, h = (int(v) for v in target_box(i))
        img = np.empty((H, W, 3), np.uint8)
        img[:] = BG
        img[y:y + h, x:x + w] = FG
        cv2.imwrite(str(d / "frames" / f"{i:06d}.png"), img[..., ::-1])
        t_hi = T0 + i * PERIOD
        xs.append(rng.integers(x, x + w, 150))
        ys.append(rng.integers(y, y + h, 150))
        ts.append(np.full(150, t_hi) if at_frame_time else np.sort(rng.integers(t_hi - PERIOD + 1, t_hi + 1, 150)))
        ps.append(rng.integers(0, 2, 150))
    ev = Events.from_arrays(np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(ps), W, H)
    write_raw(d / "events.raw", ev)
    (d / "frame_times.txt").write_text("".join(f"{T0 + i * PERIOD}\n" for i in range(n)))
    (d / "groundtruth.txt").write_text("".join(",".join(f"{v:g}" for v in target_box(i)) + "\n" for i in range(n)))
    flags = np.ones(n, int) if present is None else np.asarray(present, int)
    (d / "absent.txt").write_text("".join(f"{v}\n" for v in flags))
    (d / "meta.json").write_text(json.dumps({"name": name, "width": W, "height": H, "num_frames": n,
                                             "attributes": [], "format": "had_sim/1"}))
    return d


@pytest.fixture
def seq(tmp_path):
    return open_sequence(write_target_sequence(tmp_path))


# -- crops ----------------------------------------------------------------------------------------
def test_crop_side_and_transform():
    assert crop_side([0, 0, 10, 40], 2.0) == 40  # sqrt(400) * 2
    assert crop_side([0, 0, 3, 3], 4.5) == math.ceil(13.5)
    tf = crop_transform([10, 20, 10, 40], 2.0, 80)
    assert (tf.side, tf.out_size, tf.scale) == (40, 80, 2.0)
    assert (tf.x0, tf.y0) == (15 - 20, 40 - 20)
    np.testing.assert_allclose(tf.box_to_crop([10, 20, 10, 40]), [30, 0, 20, 80])
    np.testing.assert_allclose(tf.matrix() @ [10, 20, 1], tf.points_to_crop(10, 20))
    manual = CropTransform(x0=-3, y0=4, side=10, out_size=20)
    np.testing.assert_allclose(manual.box_to_crop([[0, 4, 5, 5], [-3, 14, 1, 1]]), [[6, 0, 10, 10], [0, 20, 2, 2]])
    np.testing.assert_allclose(manual.box_from_crop([6, 0, 10, 10]), [0, 4, 5, 5])
    for bad in ([0, 0, 0, 5], [0, 0, 5, -1], [np.nan, 0, 5, 5], [1, 2, 3]):
        with pytest.raises(TrackingError):
            crop_transform(bad, 2.0, 64)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-50, 500), min_size=2, max_size=2), st.floats(1, 300), st.floats(1, 300),
       st.floats(1.0, 6.0), st.integers(8, 300))
def test_box_round_trip(xy, w, h, factor, out):
    box = np.array([xy[0], xy[1], w, h])
    tf = crop_transform(box, factor, out)
    np.testing.assert_allclose(tf.box_from_crop(tf.box_to_crop(box)), box, rtol=1e-9, atol=1e-7)
    norm = normalized_cxcywh(tf.box_to_crop(box), out)
    # the crop is centred on the box up to the corner's rounding (half a source pixel)
    assert abs(norm[0] - 0.5) <= 0.5 / tf.side + 1e-9 and abs(norm[1] - 0.5) <= 0.5 / tf.side + 1e-9
    assert norm[2] == pytest.approx(w / tf.side) and norm[3] == pytest.approx(h / tf.side)
    np.testing.assert_allclose(xywh_from_normalized(norm, out), tf.box_to_crop(box), atol=1e-7)


def test_crop_without_resize_copies_pixels():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    crop, tf = crop_and_resize(img, [10, 5, 4, 4], 2.0, 8)
    assert tf.side == 8 and (tf.x0, tf.y0) == (8, 3)
    np.testing.assert_array_equal(crop, img[3:11, 8:16])


def test_crop_pads_with_mean_outside():
    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 101, 200
    img[0, 0] = 255
    crop, tf = crop_and_resize(img, [0, 0, 4, 4], 4.0, 16)  # square from -6 to 10: left/top padded
    mean = np.round(img.reshape(-1, 3).mean(axis=0))
    np.testing.assert_array_equal(crop[0, 0], mean)
    assert tf.x0 == -6 and tf.y0 == -6
    crop0, _ = crop_and_resize(img, [0, 0, 4, 4], 4.0, 16, pad_value=0)
    assert (crop0[0, 0] == 0).all()
    gray, _ = crop_and_resize(img[..., 1], [5, 5, 4, 4], 2.0, 4)
    assert gray.shape == (4, 4)


@pytest.mark.parametrize("out", [12, 20, 48])  # enlarge, shrink, enlarge more
def test_crop_places_box_where_transform_says(out):
    img = np.zeros((60, 80), np.float32)
    box = [30, 20, 10, 10]
    img[20:30, 30:40] = 1.0
    crop, tf = crop_and_resize(img, box, 2.0, out, pad_value=0)
    ys, xs = np.mgrid[0:out, 0:out] + 0.5
    mass = crop.sum()
    cx, cy = (crop * xs).sum() / mass, (crop * ys).sum() / mass
    bx, by, bw, bh = tf.box_to_crop(box)
    assert cx == pytest.approx(bx + bw / 2, abs=0.3) and cy == pytest.approx(by + bh / 2, abs=0.3)
    assert mass * tf.side ** 2 / out ** 2 == pytest.approx(100, rel=0.1)  # area preserved


@pytest.mark.parametrize("numpy_path", [True, False], ids=["numpy", "numba"])
def test_crop_events_voxel_equals_cropping_the_full_voxel_grid(numpy_path):
    """On both paths (numba: a square reaching off the sensor is area-resized from its
    on-sensor part alone)."""
    from had_ros.events import accel

    with accel.numpy_only(numpy_path):
        _crop_events_voxel_equals_cropping()


def _crop_events_voxel_equals_cropping():
    rng = np.random.default_rng(0)
    n = 3000
    ev = Events.from_arrays(rng.integers(0, W, n), rng.integers(0, H, n), np.sort(rng.integers(0, 1000, n)),
                            rng.integers(0, 2, n), W, H)
    full = voxel_grid(ev, 4, H, W, 0, 1000)
    # inside, across an edge, and a square larger than the sensor on every side (a lost target)
    for box, factor, out in (([20, 10, 8, 8], 4.0, 64), ([50, 30, 10, 6], 2.0, 10), ([1, 1, 30, 30], 2.0, 16),
                             ([-10, -5, 20, 20], 4.0, 64), ([10, 5, 40, 30], 4.0, 32),
                             ([30, 20, 70, 70], 4.0, 48), ([-30, 40, 25, 9], 4.0, 40)):
        tf = crop_transform(box, factor, out)
        ours = crop_events_voxel(ev, tf, 4, 0, 1000)
        ref = np.moveaxis(apply_crop(np.moveaxis(full, 0, -1), tf, 0.0), -1, 0)
        assert ours.shape == (4, out, out) and ours.dtype == np.float32
        np.testing.assert_allclose(ours, ref, atol=1e-5)
        # the events of the square alone (as the node's core passes them) give the very same grid
        x0, y0 = max(tf.x0, 0), max(tf.y0, 0)
        inside = (ev.x >= x0) & (ev.x < tf.x0 + tf.side) & (ev.y >= y0) & (ev.y < tf.y0 + tf.side)
        np.testing.assert_array_equal(crop_events_voxel(ev[np.flatnonzero(inside)], tf, 4, 0, 1000), ours)


def test_crop_events_voxel_of_no_events():
    tf = crop_transform([5, 5, 4, 4], 4.0, 32)
    out = crop_events_voxel(Events.empty(W, H), tf, 5, 0, 100)
    assert out.shape == (5, 32, 32) and not out.any()


# -- pair pieces ----------------------------------------------------------------------------------
def test_center_map_peak_and_spread():
    m = center_map(np.array([0.5, 0.25, 0.25, 0.25]), 16)
    assert m.shape == (1, 16, 16) and m.dtype == np.float32
    assert m[0, 4, 8] == 1.0 and (m == 1.0).sum() == 1
    assert m[0, 4, 9] == pytest.approx(m[0, 4, 7]) and m[0, 4, 9] < 1
    wide = center_map(np.array([0.5, 0.25, 0.8, 0.8]), 16)
    assert wide[0, 4, 11] > m[0, 4, 11]  # a bigger box spreads wider
    edge = center_map(np.array([1.0, 1.0, 0.1, 0.1]), 16)
    assert edge[0, 15, 15] == 1.0


def test_jitter_box_statistics():
    rng = np.random.default_rng(0)
    box = np.array([100.0, 50.0, 20.0, 20.0])
    np.testing.assert_array_equal(jitter_box(box, rng, 0.0, 0.0), box)
    js = np.array([jitter_box(box, rng, 0.25, 3.0) for _ in range(2000)])
    centers = js[:, :2] + js[:, 2:] / 2
    assert np.abs(centers - [110.0, 60.0]).max() <= 1.5 * 20 * math.exp(4 * 0.25)
    assert np.abs(centers - [110.0, 60.0]).max() > 20  # and it does move the centre
    assert np.std(np.log(js[:, 2] / 20)) == pytest.approx(0.25, rel=0.1)
    np.testing.assert_allclose(js[:, 2], js[:, 3])  # aspect kept


# -- pairs ----------------------------------------------------------------------------------------
def test_unjittered_pair_is_centred_with_the_right_size(seq):
    ds = PairDataset([seq], TINY, augment=False, length=20)
    for idx in range(5):
        s = ds[idx]
        k, ti, si = s["frames"].tolist()
        x, y, w, h = target_box(si)
        side = math.ceil(math.sqrt(w * h) * 4)
        sb = s["search_box"].numpy()
        assert abs(sb[0] - 0.5) <= 0.5 / side + 1e-6 and abs(sb[1] - 0.5) <= 0.5 / side + 1e-6
        assert sb[2] == pytest.approx(w / side, rel=1e-5) and sb[3] == pytest.approx(h / side, rel=1e-5)
        tb = s["template_box"].numpy()
        tside = math.ceil(math.sqrt(w * h) * 2)
        assert tb[2] == pytest.approx(w / tside, rel=1e-5) and abs(tb[0] - 0.5) <= 0.5 / tside + 1e-6
        assert s["center_map"][0, 2, 2] == 1.0  # cell holding (0.5, 0.5) of a 4x4 grid


def test_pair_shapes_ranges_and_content(seq):
    s = PairDataset([seq], TINY, augment=False)[0]
    assert s["template_rgb"].shape == (3, 32, 32) and s["search_rgb"].shape == (3, 64, 64)
    assert s["template_events"].shape == (3, 32, 32) and s["search_events"].shape == (3, 64, 64)
    assert s["center_map"].shape == (1, 4, 4)
    for key in ("template_rgb", "search_rgb", "search_box", "template_box", "center_map", "search_events"):
        assert s[key].dtype == torch.float32
    assert 0.0 <= float(s["search_rgb"].min()) and float(s["search_rgb"].max()) <= 1.0
    # The centre of the search crop is inside the target: it has the target's colour.
    rgb = s["search_rgb"].numpy()
    np.testing.assert_allclose(rgb[:, 32, 32], np.array(FG) / 255, atol=0.02)
    _check_events_inside_box(s["search_events"].numpy(), s["search_box"].numpy(), 64)


def _check_events_inside_box(voxel: np.ndarray, box: np.ndarray, size: int) -> None:
    """All event mass lies within the box (plus a pixel of resampling blur)."""
    mass = np.abs(voxel).sum(axis=0)
    assert mass.sum() > 0
    x, y, w, h = xywh_from_normalized(box, size)
    inside = np.zeros_like(mass, bool)
    inside[max(0, int(y) - 1):int(math.ceil(y + h)) + 1, max(0, int(x) - 1):int(math.ceil(x + w)) + 1] = True
    assert mass[~inside].sum() <= 1e-4 * mass.sum()


def test_event_window_ends_at_the_frame_time(tmp_path):
    """(t_prev, t]: events stamped exactly at a frame's time belong to that frame, not the next."""
    s = open_sequence(write_target_sequence(tmp_path, at_frame_time=True))
    ds = PairDataset([s], TINY, augment=False)
    for idx in range(6):
        sample = ds[idx]
        for crop, box, size in (("search", "search_box", 64), ("template", "template_box", 32)):
            _check_events_inside_box(sample[f"{crop}_events"].numpy(), sample[box].numpy(), size)


def test_default_sizes(seq):
    s = PairDataset([seq])[3]
    assert s["template_rgb"].shape == (3, 128, 128) and s["template_events"].shape == (5, 128, 128)
    assert s["search_rgb"].shape == (3, 256, 256) and s["search_events"].shape == (5, 256, 256)
    assert s["center_map"].shape == (1, 16, 16) and s["search_box"].shape == (4,)


def test_flip_flips_rgb_events_and_boxes_together(seq):
    cfg = replace(TINY, search_center_jitter=1.0, search_scale_jitter=0.1, brightness=0.0, contrast=0.0,
                  gray_prob=0.0)
    plain = PairDataset([seq], replace(cfg, flip_prob=0.0), seed=5)
    flipped = PairDataset([seq], replace(cfg, flip_prob=1.0), seed=5)
    for idx in range(4):
        a, b = plain[idx], flipped[idx]
        assert a["frames"].tolist() == b["frames"].tolist()
        for key in ("template_rgb", "search_rgb", "template_events", "search_events"):
            torch.testing.assert_close(b[key], a[key].flip(-1))
        for key in ("search_box", "template_box"):
            torch.testing.assert_close(b[key], torch.stack([1 - a[key][0], a[key][1], a[key][2], a[key][3]]))
        _check_events_inside_box(b["search_events"].numpy(), b["search_box"].numpy(), 64)
        _check_events_inside_box(b["template_events"].numpy(), b["template_box"].numpy(), 32)


def test_photometric_changes_rgb_only(seq):
    base = PairDataset([seq], TINY, augment=False, seed=2)
    cfg = replace(base.config, brightness=0.5, contrast=0.5, gray_prob=1.0)
    aug = PairDataset([seq], cfg, seed=2)
    a, b = base[1], aug[1]
    torch.testing.assert_close(a["search_events"], b["search_events"])
    torch.testing.assert_close(a["search_box"], b["search_box"])
    assert not torch.allclose(a["search_rgb"], b["search_rgb"])
    torch.testing.assert_close(b["search_rgb"][0], b["search_rgb"][1])  # grayscale


def test_reproducible_per_index(seq, tmp_path):
    a = PairDataset([seq], TINY, seed=11)
    b = PairDataset([open_sequence(seq.root)], TINY, seed=11)
    for idx in (0, 7, 12345):
        x, y = a[idx], b[idx]
        for key in x:
            torch.testing.assert_close(x[key], y[key])
    assert not torch.equal(a[0]["search_rgb"], a[1]["search_rgb"]) or a[0]["frames"].tolist() != a[1]["frames"].tolist()
    c = PairDataset([seq], TINY, seed=12)
    assert any(not torch.equal(a[i]["search_box"], c[i]["search_box"]) for i in range(5))


def test_only_present_frames_within_max_gap(tmp_path):
    present = [1, 0, 1, 1, 0, 1, 1, 1]
    s = open_sequence(write_target_sequence(tmp_path, present=present))
    cfg = replace(TINY, max_gap=2)
    ds = PairDataset([s], cfg)
    seen = set()
    for idx in range(300):
        _, ti, si = ds.sample_frames(idx)
        assert present[ti] and present[si] and abs(ti - si) <= 2
        seen.add(si)
    assert seen == {i for i, p in enumerate(present) if p}


def test_pair_dataset_rejects_unusable_sequences(tmp_path, seq):
    absent_all = open_sequence(write_target_sequence(tmp_path / "x", present=[0] * 8))
    with pytest.raises(DatasetError, match="no present target"):
        PairDataset([absent_all], TINY)

    class NoEvents:
        name, has_events = "frames_only", False
        groundtruth, absent = np.array([[1.0, 1, 5, 5]]), np.array([False])

    with pytest.raises(DatasetError, match="frames_only"):
        PairDataset([seq, NoEvents()], TINY)


def test_event_cache_is_bounded(tmp_path):
    seqs = [open_sequence(write_target_sequence(tmp_path, f"s{k}")) for k in range(3)]
    ds = PairDataset(seqs, TINY, max_cached_sequences=1)
    for idx in range(12):
        ds[idx]
        assert sum(s._events is not None for s in seqs) <= 1


def test_pair_sampler_passes():
    sampler = PairSampler(6, seed=1)
    first, second = list(sampler), list(sampler)
    assert sorted(first) == list(range(6)) and sorted(second) == list(range(6, 12))
    sampler.set_epoch(0)
    assert list(sampler) == first
    assert list(PairSampler(4, shuffle=False)) == [0, 1, 2, 3]


def test_loader_with_two_workers(seq):
    ds = PairDataset([seq], TINY, length=8, seed=4)
    loader = make_loader(ds, batch_size=4, workers=2, seed=9)
    batches = list(loader)
    assert len(batches) == 2
    b = batches[0]
    assert b["template_rgb"].shape == (4, 3, 32, 32) and b["search_rgb"].shape == (4, 3, 64, 64)
    assert b["template_events"].shape == (4, 3, 32, 32) and b["search_events"].shape == (4, 3, 64, 64)
    assert b["search_box"].shape == (4, 4) and b["template_box"].shape == (4, 4)
    assert b["center_map"].shape == (4, 1, 4, 4) and b["frames"].shape == (4, 3)
    # workers give exactly what the main process gives for the same indices
    order = list(PairSampler(8, seed=9))
    torch.testing.assert_close(b["search_rgb"][1], ds[order[1]]["search_rgb"])
    # the next pass draws new pairs
    again = next(iter(loader))
    assert not torch.equal(again["search_box"], b["search_box"])
