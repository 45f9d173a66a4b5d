"""Frame camera profiles (DAVIS346 APS: black level, fixed-pattern noise, no gain, bounded exposure,
Bayer or mono), mains flicker, and attribute tags that agree with what the frames show."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from had_ros.data.sim_plan import plan_sequence
from had_ros.data.sim_scene import Flicker
from had_ros.data.sim_sensors import Exposure, FrameCamera, auto_exposure, frame_camera_names, frame_camera_profile
from had_ros.data.simulator import SimConfig, generate_sequence, sequence_seeds, simulate
from had_ros.events.stats import line_strength

APS = frame_camera_profile("davis346")
H, W = 60, 80


def _frames(params, radiance, n=2, exposure_ns=10_000_000, seed=0):
    cam = FrameCamera(params, W, H, np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    img = np.broadcast_to(np.asarray(radiance, np.float32), (H, W, 3)).copy()
    return [cam.expose(img, Exposure(exposure_ns, 1.0), rng).astype(np.float64) for _ in range(n)]


def test_profiles_load():
    assert {"rgb", "davis346", "davis346-mono"} <= set(frame_camera_names())
    assert APS.mosaic == "rggb" and APS.max_gain == 1.0 and APS.gamma == 1.0
    with pytest.raises(ValueError, match="unknown frame camera"):
        frame_camera_profile("nikon")


def test_black_level_and_fixed_pattern_noise_in_the_dark():
    a, b = _frames(frame_camera_profile("davis346-mono"), 0.0)
    assert 2.0 <= np.median(a) <= 4.0  # a real black level: dark is ~3 DN, not 0 and not 46
    assert np.percentile(a, 1) <= 3.0
    cols_a, cols_b = a[..., 0].mean(axis=0), b[..., 0].mean(axis=0)
    assert cols_a.std() > 0.4  # column offsets ...
    assert np.corrcoef(cols_a, cols_b)[0, 1] > 0.8  # ... that stay from frame to frame (fixed pattern)


def test_temporal_noise_at_mid_grey_matches_a_davis346():
    mono = frame_camera_profile("davis346-mono")
    # Radiance that fills half the well in 10 ms.
    rad = 0.5 * mono.full_well_e / (mono.electrons_per_radiance_s * 0.01)
    a, b = _frames(mono, rad)
    assert 110 <= np.median(a) <= 145
    noise = np.std(a[..., 0] - b[..., 0]) / np.sqrt(2)
    assert 1.0 <= noise <= 2.0  # the real DAVIS346: ~1.5 DN


def test_dark_scenes_stay_dark_with_no_gain_and_a_bounded_exposure():
    dark = 0.003 * 0.2  # low-light shade radiance
    exp = auto_exposure(dark, 33_333_333, APS)
    assert exp.exposure_ns == APS.max_exposure_ns and exp.gain == 1.0
    rgb = auto_exposure(dark, 33_333_333, frame_camera_profile("rgb"))
    assert rgb.gain > 1.0  # the machine-vision profile turns the gain up instead
    frame = _frames(replace(APS, mosaic="mono"), dark, n=1, exposure_ns=exp.exposure_ns)[0]
    assert np.median(frame) < 10


def test_bayer_and_mono():
    red = np.array([0.3, 0.01, 0.01], np.float32) * 0.5 * APS.full_well_e / (APS.electrons_per_radiance_s * 0.01)
    color = _frames(APS, red, n=1)[0]
    assert color[..., 0].mean() > 8 * color[..., 1].mean() and color[..., 0].mean() > 8 * color[..., 2].mean()
    mono = _frames(frame_camera_profile("davis346-mono"), red, n=1)[0]
    assert np.array_equal(mono[..., 0], mono[..., 1]) and np.array_equal(mono[..., 1], mono[..., 2])


def test_flicker_shows_in_the_event_spectrum():
    fl = Flicker(hz=100.0, depth=0.05, shape=2.5)
    t = np.linspace(0, 1e9, 100_001)
    g = fl.factor(t)
    assert g.mean() == pytest.approx(1.0, abs=1e-3) and g.max() - g.min() == pytest.approx(0.1, rel=0.01)
    cfg = SimConfig(width=160, height=120, num_frames=24)
    rng, _ = sequence_seeds(4, 0)
    plan = plan_sequence(rng, frozenset({"fast_motion"}), 160, 120, cfg.timing)
    steady = simulate(plan, cfg, np.random.SeedSequence(1))
    lit = simulate(replace(plan, scene=replace(plan.scene, flicker=fl)), cfg, np.random.SeedSequence(1))
    assert len(steady.events) > 20_000
    lit_line = max(line_strength(lit.events, 100.0), line_strength(lit.events, 200.0))
    steady_line = max(line_strength(steady.events, 100.0), line_strength(steady.events, 200.0))
    assert lit_line > 30 and steady_line < 10


@pytest.fixture(scope="module")
def tagged():
    cfg = SimConfig(width=96, height=72, num_frames=8)
    out = {}
    for name, attrs in (("plain", frozenset()), ("low_light", frozenset({"low_light"})), ("hdr", frozenset({"hdr"}))):
        out[name] = generate_sequence(name, 0, 11, attrs, cfg)
    return out


def test_low_light_and_hdr_tags_are_visible_in_the_frames(tagged):
    def median_dn(seq):
        return float(np.median([np.median(f) for f in seq.result.frames]))

    def clipped(seq):
        return np.array([np.mean(f.max(axis=2) >= 255) for f in seq.result.frames])

    assert "low_light" in tagged["low_light"].attributes and "hdr" in tagged["hdr"].attributes
    assert not {"low_light", "hdr"} & tagged["plain"].attributes
    assert median_dn(tagged["low_light"]) < 20  # dark frames, not normally exposed ones
    assert median_dn(tagged["plain"]) > 35
    assert np.mean(clipped(tagged["hdr"]) >= 0.02) >= 0.2  # the tag's own rule, measured on the frames
    assert clipped(tagged["plain"]).max() < 0.02
