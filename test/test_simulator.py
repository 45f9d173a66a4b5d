"""Tests of the synthetic generator: the event pixel model, the frame camera, scene rendering,
attribute tags and the had_sim/1 files. Tiny sizes keep the whole file to a few seconds."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from had_ros.data.sim_plan import ATTRIBUTES, SequencePlan, attribute_mix, plan_sequence
from had_ros.data.sim_scene import Actor, Renderer, Scene, Trajectory, size_scale
from had_ros.data.sim_sensors import EventSensor, EventSensorParams, Exposure, RgbCameraParams, auto_exposure, expose
from had_ros.data.sim_textures import Sprite, texture
from had_ros.data.simulator import (AttributeThresholds, SimConfig, generate_sequence, generate_to_folder,
                                    sequence_seeds, simulate, tag_attributes)
from had_ros.errors import DatasetError

W, H = 96, 72
QUIET = EventSensorParams(noise_rate_hz=0.0)


def tiny_config(frames: int = 10, **kw) -> SimConfig:
    return SimConfig(width=W, height=H, num_frames=frames, **kw)


def square_scene(cfg: SimConfig, speed_px_per_frame: float, light: float = 1.0, textured: bool = False,
                 side: int = 14) -> Scene:
    """A square moving right at constant speed over a static background."""
    timing = cfg.timing
    step, n = timing.render_step_ns, timing.grid_size
    rng = np.random.default_rng(7)
    if textured:
        bg = texture("fractal_noise", rng, cfg.height, cfg.width)
        rgb = texture("dead_leaves", rng, side + 2, side + 2)
    else:
        bg = np.full((cfg.height, cfg.width, 3), 0.1, np.float32)
        rgb = np.full((side + 2, side + 2, 3), 0.8, np.float32)
    alpha = np.zeros((side + 2, side + 2), np.float32)
    alpha[1:-1, 1:-1] = 1.0
    t_frames = np.arange(n) * step / timing.frame_period_ns
    cx = side + 2 + speed_px_per_frame * t_frames
    path = Trajectory(step, cx, np.full(n, cfg.height / 2), np.ones(n), np.zeros(n))
    return Scene(cfg.width, cfg.height, bg, light, Actor(Sprite.from_rgb_alpha(rgb, alpha), path))


def run(scene: Scene, cfg: SimConfig, seed: int = 0, long_exposure: float | None = None):
    plan = SequencePlan(scene, frozenset(), long_exposure_fraction=long_exposure)
    return simulate(plan, cfg, np.random.SeedSequence(seed))


# -- event pixel model ---------------------------------------------------------------------------
def test_static_scene_without_noise_fires_no_events():
    cfg = tiny_config(events=QUIET)
    res = run(square_scene(cfg, 0.0, textured=True), cfg)
    assert len(res.events) == 0


def test_moving_edge_fires_on_at_leading_and_off_at_trailing_edge():
    cfg = tiny_config(events=QUIET)
    scene = square_scene(cfg, 3.0)
    ev = run(scene, cfg).events
    assert len(ev) > 1000
    cx = np.array([scene.target.path.pose(float(t))[0] for t in ev.t])
    half = 7.0  # the opaque square spans 14 px
    on, off = ev.p == 1, ev.p == 0
    # A bright square on a dark background: pixels brighten (ON) where its right edge arrives and
    # darken (OFF) where its left edge leaves, at the time the edge is there.
    assert np.mean(np.abs(ev.x[on] - (cx[on] + half)) <= 1.5) > 0.97
    assert np.mean(np.abs(ev.x[off] - (cx[off] - half)) <= 1.5) > 0.97
    rows = np.unique(ev.y)
    assert rows.min() >= H / 2 - half - 1 and rows.max() <= H / 2 + half + 1
    # Each passed pixel climbs ln(0.8/0.1) = 2.08 in log intensity: about 8 thresholds of 0.25.
    travelled = 3.0 * (cfg.timing.end_ns / cfg.timing.frame_period_ns)
    per_pixel = on.sum() / (travelled * 14)
    assert 6.5 < per_pixel < 9.5


def one_pixel(value: float) -> np.ndarray:
    return np.full((1, 1), value, np.float32)


def test_event_sensor_interpolates_several_crossings_in_one_step():
    params = EventSensorParams(threshold_sigma=0.0, refractory_ns=0, noise_rate_hz=0.0, dark_level=0.0)
    sensor = EventSensor(params, 1, 1, np.random.default_rng(0))
    sensor.reset(one_pixel(0.1), 0)
    ref = float(sensor.ref[0, 0])
    L0, L1 = np.log(0.1), np.log(0.1) + 1.0
    idx, t, p = sensor.step(one_pixel(np.exp(L1)), 1_000_000)
    n = int(np.floor((L1 - ref) / 0.25))
    assert len(t) == n and n >= 3 and p.all() and (idx == 0).all()
    expected = (ref + 0.25 * np.arange(1, n + 1) - L0) / (L1 - L0) * 1_000_000
    np.testing.assert_allclose(np.sort(t), expected, atol=1.0)
    # going back down fires OFF events
    idx, t, p = sensor.step(one_pixel(0.1), 2_000_000)
    assert len(t) >= 3 and not p.any() and (t > 1_000_000).all()


def test_refractory_period_delays_and_keeps_events():
    params = EventSensorParams(threshold_sigma=0.0, refractory_ns=400_000, noise_rate_hz=0.0, dark_level=0.0)
    sensor = EventSensor(params, 1, 1, np.random.default_rng(1))
    sensor.reset(one_pixel(0.1), 0)
    n = int(np.floor((np.log(0.1) + 1.0 - float(sensor.ref[0, 0])) / 0.25))
    bright = one_pixel(0.1 * np.e)
    _, t1, _ = sensor.step(bright, 1_000_000)
    _, t2, _ = sensor.step(bright, 2_000_000)  # the image holds: delayed crossings fire now
    times = np.concatenate([t1, t2])
    assert len(t1) < n and len(times) == n
    assert np.all(np.diff(times) >= 400_000 - 1e-6)


def test_background_noise_rate_and_uniformity():
    params = EventSensorParams(noise_rate_hz=5.0)
    sensor = EventSensor(params, 50, 40, np.random.default_rng(2))
    idx, t, p = sensor.noise(0, 2_000_000_000, np.random.default_rng(3))
    expected = 5.0 * 50 * 40 * 2.0
    assert abs(len(t) - expected) < 5 * np.sqrt(expected)
    assert t.min() >= 0 and t.max() < 2e9 and 0.45 < p.mean() < 0.55
    assert np.bincount(idx, minlength=2000).min() > 0


def test_threshold_mismatch_follows_sigma():
    sensor = EventSensor(EventSensorParams(threshold_sigma=0.03), 100, 100, np.random.default_rng(4))
    assert abs(sensor.c_on.std() - 0.03) < 0.003 and abs(sensor.c_on.mean() - 0.25) < 0.003


# -- frame camera --------------------------------------------------------------------------------
def test_auto_exposure_lengthens_then_gains_then_stays_dark():
    cam = RgbCameraParams()
    period = 33_333_333
    bright = auto_exposure(0.2, period, cam)
    dim = auto_exposure(0.02, period, cam)
    dark = auto_exposure(0.0001, period, cam)
    assert bright.gain == 1.0 and bright.exposure_ns < dim.exposure_ns
    assert dark.exposure_ns == pytest.approx(cam.max_exposure_fraction * period, rel=1e-6)
    assert dark.gain == cam.max_gain
    slow = auto_exposure(0.2, period, cam, long_fraction=0.9)
    assert slow.exposure_ns == pytest.approx(0.9 * period, rel=1e-6) and slow.transmission < 1.0


def test_expose_clips_quantises_and_adds_shot_noise():
    cam = RgbCameraParams()
    exp = Exposure(10_000_000, 1.0)
    rng = np.random.default_rng(5)
    flat = np.full((64, 64, 3), 0.02, np.float32)
    img = expose(flat, exp, cam, rng)
    assert img.dtype == np.uint8 and img.std() > 0
    e = 0.02 * cam.electrons_per_radiance_s * 0.01
    dn = (e / cam.full_well_e) ** (1 / cam.gamma) * 255
    assert abs(img.mean() - dn) < 1.0
    assert (expose(flat * 1000, exp, cam, rng) == 255).all()


# -- scenes and sequences ------------------------------------------------------------------------
def test_low_light_degrades_rgb_snr_while_target_events_stay():
    cfg = tiny_config(events=QUIET)
    normal = run(square_scene(cfg, 3.0, light=1.0, textured=True), cfg)
    dark = run(square_scene(cfg, 3.0, light=0.004, textured=True), cfg)

    def snr(res):
        # The right third of the view never sees the target: frame-to-frame change there is noise.
        region = np.stack(res.frames)[:, :, -24:].astype(np.float64)
        noise = np.diff(region, axis=0).std() / np.sqrt(2)
        return region.mean() / noise

    def target_events(res):
        count = 0
        for i in range(1, len(res.frame_times)):
            ev = res.events.time_window(int(res.frame_times[i - 1]), int(res.frame_times[i]))
            x, y, w, h = res.boxes[i]
            count += int(np.sum((ev.x >= x - 3) & (ev.x < x + w + 3) & (ev.y >= y - 3) & (ev.y < y + h + 3)))
        return count

    assert snr(dark) < snr(normal) / 3
    assert target_events(dark) > 0.5 * target_events(normal) > 0


def laplacian_energy(frame: np.ndarray, box) -> float:
    x, y, w, h = (int(v) for v in box)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(gray, cv2.CV_32F)[y + 2:y + h - 2, x + 2:x + w - 2].var())


def test_fast_motion_blurs_the_target():
    cfg = tiny_config()
    speed = 40.0 * size_scale(W, H)  # 40 px/frame at 346x260: fast motion
    fast = run(square_scene(cfg, speed, textured=True, side=12), cfg, long_exposure=0.9)
    still = run(square_scene(cfg, 0.0, textured=True, side=12), cfg, long_exposure=0.9)
    sharp = np.mean([laplacian_energy(still.frames[i], still.boxes[i]) for i in range(1, 5)])
    blurred = np.mean([laplacian_energy(fast.frames[i], fast.boxes[i]) for i in range(1, 5)])
    assert blurred < 0.5 * sharp


def test_ground_truth_box_matches_the_rendered_target():
    cfg = tiny_config()
    timing = cfg.timing
    for seed in range(3):
        rng, sensor_ss = sequence_seeds(seed, 0)
        plan = plan_sequence(rng, {"scale_variation"}, W, H, timing)
        res = simulate(plan, cfg, sensor_ss)
        # Paint the target white, then black: the difference of the two renders is its alpha.
        alpha = plan.scene.target.sprite.alpha
        ones = np.ones(alpha.shape + (3,), np.float32)
        white, black = (Renderer(replace(plan.scene, target=Actor(Sprite.from_rgb_alpha(v * ones, alpha),
                                                                   plan.scene.target.path)))
                        for v in (1.0, 0.0))
        for i, t in enumerate(res.frame_times):
            assert not res.absent[i]
            shown = white.reflectance(float(t), False) - black.reflectance(float(t), False)
            ys, xs = np.nonzero(shown >= 0.5)
            x, y, w, h = res.boxes[i]
            gy, gx = np.mgrid[0:H, 0:W]
            cx, cy = (gx * shown).sum() / shown.sum(), (gy * shown).sum() / shown.sum()
            assert x <= cx <= x + w and y <= cy <= y + h  # mask centroid inside the box
            assert (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (x, y, w, h)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_occlusion_hides_the_target_and_marks_absent_frames(seed):
    seq = generate_sequence("occ", seed, seed, frozenset({"occlusion"}), tiny_config())
    res = seq.result
    assert "occlusion" in seq.attributes and res.absent.any()
    assert res.visible[0] >= 0.75  # trackers start from frame 0: the occluder passes later
    assert (res.visible[res.absent] < 0.05).all()
    for i in np.flatnonzero(res.absent):  # absent frames repeat the last present box (contract)
        present_before = np.flatnonzero(~res.absent[:i])
        expected = res.boxes[present_before[-1]] if len(present_before) else np.zeros(4)
        np.testing.assert_array_equal(res.boxes[i], expected)


@pytest.mark.parametrize("attribute", ATTRIBUTES)
def test_forced_attribute_comes_out_in_content(attribute):
    for seed in (0, 1):
        seq = generate_sequence("a", seed, 100 + seed, frozenset({attribute}), tiny_config())
        assert attribute in seq.attributes, (attribute, seed, seq.result.stats)


def test_fast_motion_tag_agrees_with_ground_truth_motion():
    th = AttributeThresholds().scaled(W, H)["fast_motion_px_per_frame"]
    for requested in ({"fast_motion"}, set()):
        seq = generate_sequence("f", 3, 3, frozenset(requested), tiny_config())
        b = seq.result.boxes
        centers = b[:, :2] + b[:, 2:] / 2
        moved = np.hypot(*np.diff(centers, axis=0).T).max()
        if "fast_motion" in seq.attributes:
            assert moved >= 0.8 * th
        else:
            assert moved < 1.2 * th


def test_hdr_clips_rgb_where_events_still_see_the_scene():
    seq = generate_sequence("h", 0, 11, frozenset({"hdr", "camera_motion"}), tiny_config(events=QUIET))
    res = seq.result
    assert "hdr" in seq.attributes
    sat_density, other_density = [], []
    for i in range(1, len(res.frames)):
        saturated = (res.frames[i] >= 254).all(axis=2)
        if saturated.mean() < 0.05 or saturated.mean() > 0.95:
            continue
        ev = res.events.time_window(int(res.frame_times[i - 1]), int(res.frame_times[i]))
        hits = saturated[ev.y, ev.x]
        sat_density.append(hits.sum() / saturated.sum())
        other_density.append((~hits).sum() / (~saturated).sum())
    assert sat_density, "no frame with a clipped region"
    assert np.mean(sat_density) > 0.3 * np.mean(other_density) > 0


def test_tag_attributes_uses_the_stated_thresholds():
    base = {"max_target_speed_px_per_frame": 0.0, "max_target_blur_px": 0.0, "metered_radiance": 0.2,
            "hdr_frame_fraction": 0.0, "min_visible_fraction": 1.0, "num_distractors": 0,
            "distractor_in_view_fraction": 0.0, "target_area_ratio": 1.0, "max_camera_shift_px_per_frame": 0.0,
            "min_in_view_fraction": 1.0}
    assert tag_attributes(base, 346, 260) == frozenset()
    over = {"max_target_speed_px_per_frame": 20.0, "max_target_blur_px": 6.0, "metered_radiance": 0.0059,
            "hdr_frame_fraction": 0.2, "min_visible_fraction": 0.7, "num_distractors": 1,
            "distractor_in_view_fraction": 0.5, "target_area_ratio": 2.0, "max_camera_shift_px_per_frame": 1.5,
            "min_in_view_fraction": 0.5}
    assert tag_attributes({**base, **over}, 346, 260) == frozenset(ATTRIBUTES)
    # thresholds scale with the image: 20 px/frame at 346x260 is 10 at half size
    assert "fast_motion" in tag_attributes({**base, "max_target_speed_px_per_frame": 10.0}, 173, 130)
    assert "fast_motion" not in tag_attributes({**base, "max_target_speed_px_per_frame": 19.9}, 346, 260)


def test_attribute_mix_forces_and_covers():
    rng = np.random.default_rng(0)
    mix = attribute_mix(rng, 8, {"low_light"}, 0.3)
    assert all("low_light" in m for m in mix)
    assert set().union(*mix) == set(ATTRIBUTES)
    assert attribute_mix(rng, 5, {"hdr"}, 0.0) == [frozenset({"hdr"})] * 5
    with pytest.raises(ValueError, match="unknown attributes"):
        attribute_mix(rng, 2, {"rain"})


def test_bad_config_names_the_fields():
    with pytest.raises(DatasetError, match="width"):
        SimConfig(width=4)
    with pytest.raises(DatasetError, match="render_rate"):
        SimConfig(fps=30, render_rate=10)


# -- files ---------------------------------------------------------------------------------------
def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    cfg = tiny_config(frames=8)
    attrs = frozenset({"occlusion", "camera_motion", "distractors"})
    for out in ("a", "b"):
        generate_to_folder(tmp_path / out, 2, 5, attrs, cfg, bag=True)
    a, b = folder_bytes(tmp_path / "a" / "sim_0002"), folder_bytes(tmp_path / "b" / "sim_0002")
    assert a.keys() == b.keys() and all(a[k] == b[k] for k in a)
    generate_to_folder(tmp_path / "c", 2, 6, attrs, cfg)
    c = folder_bytes(tmp_path / "c" / "sim_0002")
    assert c["events.raw"] != a["events.raw"] and c["frames/000000.png"] != a["frames/000000.png"]


def test_sequence_folder_layout_and_meta(tmp_path):
    from had_ros.events.io import read_events

    cfg = tiny_config(frames=6)
    summary = generate_to_folder(tmp_path, 0, 9, frozenset({"low_light"}), cfg)
    folder = tmp_path / "sim_0000"
    frames = sorted((folder / "frames").glob("*.png"))
    assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(6)]
    assert cv2.imread(str(frames[0])).shape == (H, W, 3)
    times = np.loadtxt(folder / "frame_times.txt", dtype=np.int64)
    assert len(times) == 6 and (np.diff(times) == cfg.timing.frame_period_ns).all()
    gt = np.loadtxt(folder / "groundtruth.txt", delimiter=",")
    assert gt.shape == (6, 4) and (gt[:, 2:] > 0).all()
    assert set(np.loadtxt(folder / "absent.txt", dtype=int)) <= {0, 1}
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["format"] == "had_sim/1" and meta["name"] == "sim_0000"
    assert (meta["width"], meta["height"], meta["fps"], meta["num_frames"], meta["seed"]) == (W, H, 30.0, 6, 9)
    assert "low_light" in meta["attributes"] and set(meta["attributes"]) <= set(ATTRIBUTES)
    assert meta["render_rate"] == 1000.0 and meta["event_sensor"]["threshold_on"] == cfg.events.threshold_on
    assert meta["event_sensor"]["name"] == "davis346"  # the default sensor
    assert summary["attributes"] == meta["attributes"]
    ev = read_events(folder / "events.raw")
    assert (ev.width, ev.height) == (W, H) and len(ev) == meta["stats"]["num_events"] == summary["events"]
    assert ev.is_sorted() and ev.t[0] >= 0 and ev.t[-1] <= cfg.timing.end_ns
    # the file holds exactly what the generator made (times are whole µs, as EVT3 stores them)
    again = generate_sequence("sim_0000", 0, 9, frozenset({"low_light"}), cfg)
    assert ev.equals(again.result.events)
    preview = cv2.imread(str(folder / "preview.png"))
    assert preview is not None and preview.shape[1] > 2 * W


def test_existing_folder_is_kept_unless_overwrite(tmp_path):
    cfg = tiny_config(frames=3)
    generate_to_folder(tmp_path, 0, 1, frozenset(), cfg)
    with pytest.raises(DatasetError, match="exists"):
        generate_to_folder(tmp_path, 0, 1, frozenset(), cfg)
    generate_to_folder(tmp_path, 0, 2, frozenset(), cfg, overwrite=True)
    (tmp_path / "sim_0001").mkdir()
    (tmp_path / "sim_0001" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="only had_sim"):
        generate_to_folder(tmp_path, 1, 1, frozenset(), cfg, overwrite=True)
    assert (tmp_path / "sim_0001" / "notes.txt").read_text() == "mine"
