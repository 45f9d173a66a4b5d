"""Voxel grid, count histogram, time surface: hand-computed cases and numpy == torch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from had_ros.errors import DecodeError
from had_ros.events import Events, count_histogram, time_surface, voxel_grid
from had_ros.events.representations import count_histogram_torch, time_surface_torch, voxel_grid_torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def ev_of(x, y, t, p, w=4, h=3):
    return Events.from_arrays(x, y, t, p, w, h)


def test_voxel_grid_hand_computed():
    # 3 bins over [0, 1000): tn = 2 * t / 1000.
    ev = ev_of([0, 1, 2, 3, 3], [0, 0, 1, 2, 2], [0, 250, 500, 900, 1000], [1, 0, 1, 1, 1])
    g = voxel_grid(ev, 3, 3, 4, 0, 1000)
    want = np.zeros((3, 3, 4), np.float32)
    want[0, 0, 0] = 1.0                               # t=0: all in bin 0
    want[0, 0, 1], want[1, 0, 1] = -0.5, -0.5         # t=250 OFF: tn=0.5
    want[1, 1, 2] = 1.0                               # t=500: tn=1 exactly
    want[1, 2, 3], want[2, 2, 3] = 0.2, 0.8           # t=900: tn=1.8; t=1000 is outside [0, 1000)
    assert g.dtype == np.float32 and g.shape == (3, 3, 4)
    np.testing.assert_allclose(g, want, atol=1e-6)


def test_voxel_grid_drops_outside_events_and_one_bin():
    ev = ev_of([0, 5, 1, 2], [0, 0, 7, 1], [10, 20, 30, 40], [1, 1, 1, 0])  # x=5, y=7 outside 4x3
    g = voxel_grid(ev, 1, 3, 4, 0, 100)
    assert g.shape == (1, 3, 4) and g[0, 0, 0] == 1 and g[0, 1, 2] == -1 and np.abs(g).sum() == 2
    with pytest.raises(DecodeError, match="empty time window"):
        voxel_grid(ev, 2, 3, 4, 100, 100)
    with pytest.raises(DecodeError, match="positive"):
        voxel_grid(ev, 0, 3, 4, 0, 100)


def test_voxel_grid_of_unsorted_events_equals_sorted():
    rng = np.random.default_rng(0)
    n = 500
    ev = ev_of(rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 10_000, n), rng.integers(0, 2, n))
    order = np.argsort(ev.t, kind="stable")
    np.testing.assert_allclose(voxel_grid(ev, 4, 3, 4, 100, 9000), voxel_grid(ev[order], 4, 3, 4, 100, 9000),
                               atol=1e-5)


@st.composite
def random_events(draw):
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 30))
    n = draw(st.integers(0, 400))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # coordinates up to 1.3x the size: some events fall outside and must be dropped
    x = rng.integers(0, int(w * 1.3) + 1, n)
    y = rng.integers(0, int(h * 1.3) + 1, n)
    t = np.sort(rng.integers(0, 50_000_000, n))
    return Events.from_arrays(x, y, t, rng.integers(0, 2, n), int(w * 1.3) + 1, int(h * 1.3) + 1), h, w


@settings(max_examples=40, deadline=None)
@given(data=random_events(), bins=st.integers(1, 7), device=st.sampled_from(DEVICES))
def test_numpy_and_torch_agree(data, bins, device):
    ev, h, w = data
    t0, t1 = 5_000_000, 45_000_000
    g = voxel_grid(ev, bins, h, w, t0, t1)
    gt = voxel_grid_torch(ev.x, ev.y, ev.t, ev.p, bins, h, w, t0, t1, device).cpu().numpy()
    np.testing.assert_allclose(g, gt, atol=1e-5)
    inside = (ev.x < w) & (ev.y < h) & (ev.t >= t0) & (ev.t < t1)
    assert g.sum() == pytest.approx(float((2.0 * ev.p[inside] - 1).sum()), abs=1e-3)  # weights sum to 1
    c = count_histogram(ev, h, w)
    ct = count_histogram_torch(torch.as_tensor(ev.x.astype(np.int64)), ev.y, ev.p, h, w, device).cpu().numpy()
    np.testing.assert_array_equal(c, ct)
    assert c.sum() == np.count_nonzero((ev.x < w) & (ev.y < h))
    s = time_surface(ev, h, w, tau_ns=3e6, t_ref=40_000_000)
    st_ = time_surface_torch(ev.x, ev.y, ev.t, ev.p, h, w, 3e6, 40_000_000, device).cpu().numpy()
    np.testing.assert_allclose(s, st_, atol=1e-6)


def test_count_histogram_hand_computed():
    ev = ev_of([0, 0, 3, 3, 1], [0, 0, 2, 2, 9], [1, 2, 3, 4, 5], [1, 1, 0, 1, 1])
    c = count_histogram(ev, 3, 4)
    assert c.shape == (2, 3, 4) and c.dtype == np.float32
    assert c[1, 0, 0] == 2 and c[0, 2, 3] == 1 and c[1, 2, 3] == 1 and c.sum() == 4  # y=9 dropped


def test_time_surface_hand_computed():
    ev = ev_of([1, 1, 2, 2], [0, 0, 1, 1], [1000, 3000, 2000, 9000], [1, 1, 0, 0])
    s = time_surface(ev, 3, 4, tau_ns=1000, t_ref=5000)
    assert s[1, 0, 1] == pytest.approx(np.exp(-2.0))   # latest ON at (1,0) is t=3000
    assert s[0, 1, 2] == pytest.approx(np.exp(-3.0))   # t=9000 is after t_ref: ignored
    assert np.count_nonzero(s) == 2
    default = time_surface(ev, 3, 4, tau_ns=1000)      # t_ref = newest event
    assert default[0, 1, 2] == 1.0
    with pytest.raises(DecodeError, match="tau"):
        time_surface(ev, 3, 4, tau_ns=0)
    assert not time_surface(Events.empty(4, 3), 3, 4, 1000).any()


def test_from_arrays_refuses_polarities_other_than_0_and_1():
    # -1 would wrap to 255 in uint8 and a voxel grid would then add 2 * 255 - 1 = 509
    with pytest.raises(DecodeError, match=r"polarity must be 0 \(OFF\) or 1 \(ON\), got \[-1\]"):
        Events.from_arrays([1, 2], [0, 0], [0, 10], [-1, 1], 4, 4)
    with pytest.raises(DecodeError, match=r"got \[2\]"):
        Events.from_arrays([1], [0], [0], np.array([2], np.uint8), 4, 4)
    with pytest.raises(DecodeError, match="x must be >= 0"):
        Events.from_arrays([-1], [0], [0], [1], 4, 4)
    ev = Events.from_arrays([1, 2], [0, 0], [0, 10], np.array([True, False]), 4, 4)
    assert ev.p.tolist() == [1, 0]
    g = voxel_grid(ev, 1, 4, 4, 0, 20)
    assert g[0, 0, 1] == 1.0 and g[0, 0, 2] == -1.0  # +1 ON, -1 OFF
