"""Scene realism of the generator (issue 9): target sizes from far field to close, soft edges,
distinct distractors in front of and behind the target, leaving and re-entering the view, glare."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from had_ros.data.sim_plan import TARGET_AREA, _steer, plan_sequence
from had_ros.data.sim_scene import Actor, Renderer, Scene, Timing, Trajectory, size_scale
from had_ros.data.sim_textures import Sprite
from had_ros.data.simulator import SimConfig, generate_sequence, sequence_seeds

W, H = 120, 90
TIMING = Timing(30.0, 10, 1000.0)


def _plans(attrs: frozenset, n: int = 12):
    return [plan_sequence(sequence_seeds(seed, 0)[0], attrs, W, H, TIMING) for seed in range(n)]


def test_targets_range_from_far_field_to_close():
    plans = _plans(frozenset(), 16)
    areas = np.array([p.description["target"]["area_fraction"] for p in plans])
    assert areas.min() < 0.01 and areas.max() > 0.015
    assert (areas >= 0.5 * TARGET_AREA[0]).all() and (areas <= 1.5 * TARGET_AREA[1]).all()


def test_no_edge_is_a_hard_one_pixel_step():
    for plan in _plans(frozenset({"distractors", "occlusion"}), 4):
        for actor in plan.scene.layers:
            a = actor.sprite.alpha
            step = max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())
            assert step < 0.9  # a hard edge jumps from 0 to 1 between neighbours
        bg = plan.scene.background_gray
        assert np.abs(np.diff(bg, axis=1)).max() < 0.75 * (bg.max() - bg.min())  # a blurred step: <= 0.68
        assert 0.5 <= plan.description["psf_sigma_px"] <= max(0.5, 1.1 * size_scale(W, H))


def test_distractors_are_distinct_objects_in_front_and_behind():
    plans = _plans(frozenset({"distractors"}), 12)
    kinds = [k for p in plans for k in p.description["distractor_kinds"]]
    assert any(k == "look_alike" for k in kinds) and any(k.startswith("other:") for k in kinds)
    assert any(p.scene.front for p in plans) and any(p.scene.distractors for p in plans)


def test_front_distractor_hides_the_target():
    n = TIMING.grid_size
    alpha = np.zeros((12, 12), np.float32)
    alpha[1:-1, 1:-1] = 1.0
    white = Sprite.from_rgb_alpha(np.full((12, 12, 3), 0.9, np.float32), alpha)
    dark = Sprite.from_rgb_alpha(np.full((12, 12, 3), 0.05, np.float32), alpha)
    here = Trajectory.constant(TIMING.render_step_ns, n, 60.0, 45.0)
    base = Scene(W, H, np.full((H, W, 3), 0.3, np.float32), 1.0, Actor(white, here))
    behind = replace(base, distractors=(Actor(dark, here),))
    front = replace(base, front=(Actor(dark, here),))
    assert Renderer(behind).reflectance(0.0, False)[45, 60] > 0.8
    assert Renderer(front).reflectance(0.0, False)[45, 60] < 0.1
    assert Renderer(front).footprint(0.0).unoccluded_fraction < 0.15  # all but the soft rim
    assert Renderer(behind).footprint(0.0).unoccluded_fraction == pytest.approx(1.0)


def test_steered_paths_stay_in_their_box_without_mirror_bounces():
    rng = np.random.default_rng(0)
    t = np.arange(3000) * 1e-3
    lo, hi = np.array([10.0, 10.0]), np.array([110.0, 80.0])
    x, y = _steer(rng, t, np.full(3000, 150.0), lo, hi, turn=1.0)
    assert x.min() >= 10 and x.max() <= 110 and y.min() >= 10 and y.max() <= 80
    heading = np.unwrap(np.arctan2(np.diff(y), np.diff(x)))
    assert np.abs(np.diff(heading)).max() < 0.5  # turns, never reverses in one step


@pytest.mark.parametrize("seed", [0, 1])
def test_target_leaves_and_reenters_the_view(seed):
    cfg = SimConfig(width=W, height=H, num_frames=30)
    seq = generate_sequence("oov", seed, 20 + seed, frozenset({"out_of_view"}), cfg)
    res = seq.result
    assert "out_of_view" in seq.attributes and res.absent.any()
    gone = np.flatnonzero(res.absent)
    assert not res.absent[0] and (~res.absent[gone.max() + 1:]).any()  # comes back after
    assert (res.visible[res.absent] < 0.05).all()
    assert res.stats["min_in_view_fraction"] < 0.05


def test_hdr_glare_lights_the_shade_next_to_the_sun():
    light = np.full((H, W), 0.01, np.float32)
    light[:, 80:] = 10.0
    n = TIMING.grid_size
    tgt = Actor(Sprite.from_rgb_alpha(np.full((8, 8, 3), 0.5, np.float32), np.ones((8, 8), np.float32)),
                Trajectory.constant(TIMING.render_step_ns, n, 10.0, 10.0))
    scene = Scene(W, H, np.full((H, W, 3), 0.5, np.float32), light, tgt)
    plain = Renderer(scene).radiance(0.0, False)
    glare = Renderer(replace(scene, bloom=0.005)).radiance(0.0, False)
    near, far = (slice(40, 50), slice(70, 78)), (slice(40, 50), slice(30, 38))
    assert glare[near].mean() > 1.5 * plain[near].mean()
    assert glare[near].mean() > glare[far].mean() * 1.5
