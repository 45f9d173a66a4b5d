"""The tracking runtime: geometry end to end, lost state, bad inputs, backends.

Why a stand-in model: an untrained network's peak is arbitrary, so it cannot show whether the
tracker's crops, Hann window, box decoding and crop -> image mapping are right. ``BlobLocator`` is a
hand-written module with the model interface that outputs exactly what a perfect tracker network
would for a uniform blob of activity (events, or bright RGB pixels): the score peak in the cell
holding the blob's centroid, the sub-cell offset of the centroid, and the blob's size from its
second moments (a uniform square of side a has std a / sqrt(12)). If the tracker then follows a
moving, growing square to within a pixel or two, every coordinate transform on the way is right.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

from had_ros.errors import ModelConfigError, TrackingError
from had_ros.events import Events
from had_ros.models import ModelConfig, create_model, save_checkpoint
from had_ros.tracking import (
    OnnxBackend, TorchBackend, Tracker, TrackerConfig, build_tracker, clip_box, decode_box,
    hann_window, resolve_providers,
)
from had_ros.tracking.export import export_onnx, write_sidecar

W, H = 320, 240
TINY = dict(depth=1, embed_dim=32, num_heads=2, template_size=64, search_size=128,
            head_channels=8, head_layers=1)


class BlobLocator(nn.Module):
    """Model stand-in: locates the centroid and size of the activity in the search crop."""

    def __init__(self, modalities=("events",)) -> None:
        super().__init__()
        self.config = ModelConfig(name="blob_locator", modalities=modalities, template_size=64,
                                  search_size=128, embed_dim=32, depth=1, num_heads=1)
        self.calls = 0

    def forward(self, template_rgb=None, template_events=None, search_rgb=None, search_events=None,
                return_features=False):
        self.calls += 1
        c = self.config
        if c.uses_events:
            act = search_events.abs().sum(1)
        else:
            act = (search_rgb.mean(1) > 0.5).float()
        b, s, _ = act.shape
        g, p = c.search_grid, c.patch_size
        centres = torch.arange(s, dtype=torch.float32) + 0.5
        total = act.sum((1, 2)).clamp_min(1e-9)
        cx = (act.sum(1) * centres).sum(1) / total
        cy = (act.sum(2) * centres).sum(1) / total
        sx = torch.sqrt((act.sum(1) * (centres - cx[:, None]) ** 2).sum(1) / total)
        sy = torch.sqrt((act.sum(2) * (centres - cy[:, None]) ** 2).sum(1) / total)
        ix, iy = torch.floor(cx / p), torch.floor(cy / p)
        cells = torch.arange(g, dtype=torch.float32)
        d2 = (cells[None, None, :] - ix[:, None, None]) ** 2 + (cells[None, :, None] - iy[:, None, None]) ** 2
        present = (act.sum((1, 2)) > 0).float()[:, None, None]
        score = (8.0 - 16.0 * d2) * present - 10.0 * (1 - present)
        ones = torch.ones(b, 1, g, g)
        size = torch.cat([(12 ** 0.5 * sx / s)[:, None, None, None] * ones,
                          (12 ** 0.5 * sy / s)[:, None, None, None] * ones], 1)
        offset = torch.cat([(cx / p - ix)[:, None, None, None] * ones,
                            (cy / p - iy)[:, None, None, None] * ones], 1)
        return {"score_map": score[:, None], "size_map": size, "offset_map": offset}


def square_events(box, t0, t1, rng, density=1.5, width=W, height=H) -> Events:
    """Events filling the square ``box`` uniformly (a flickering textured target)."""
    x, y, w, h = box
    n = int(w * h * density)
    xs = rng.uniform(x, x + w, n).astype(int)
    ys = rng.uniform(y, y + h, n).astype(int)
    keep = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    ts = np.sort(rng.integers(t0, t1, n))[: keep.sum()]
    return Events.from_arrays(xs[keep], ys[keep], ts, rng.integers(0, 2, keep.sum()), width, height)


def square_frame(box) -> np.ndarray:
    frame = np.full((H, W, 3), 20, np.uint8)
    x, y, w, h = (int(round(v)) for v in box)
    frame[max(y, 0):y + h, max(x, 0):x + w] = 240
    return frame


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def trajectory(n=12):
    """A square moving right by ~19 px and up/down by 14 px per frame while growing from 30 to 41
    px: each frame's peak lands in a different cell than the search centre, above or below it."""
    return [np.array([40.0 + 19.3 * i, 100.0 + 14.0 * (-1) ** i, 30.0 + i, 30.0 + i]) for i in range(n)]


# --- geometry, end to end ------------------------------------------------------------------------

def test_tracker_follows_a_moving_growing_square_of_events():
    rng = np.random.default_rng(0)
    tracker = Tracker(TorchBackend(BlobLocator()))
    boxes = trajectory()
    dt = 10_000_000
    tracker.initialize(None, square_events(boxes[0], 0, dt, rng), boxes[0])
    cells = set()
    for i, gt in enumerate(boxes[1:], start=1):
        box, score = tracker.track(None, square_events(gt, i * dt, (i + 1) * dt, rng))
        assert score > 0.99 and not tracker.lost
        assert iou(box, gt) > 0.85, (i, box, gt)
        assert np.abs((box[:2] + box[2:] / 2) - (gt[:2] + gt[2:] / 2)).max() < 2.0
        cells.add(tracker.last_info["cell"])
    centre = BlobLocator().config.search_grid // 2
    assert {c[0] < centre for c in cells} == {True, False}  # peaks above and below the centre
    assert len({c[1] for c in cells}) >= 2                  # and in more than one column


def test_tracker_follows_a_bright_square_in_rgb_frames():
    tracker = Tracker(TorchBackend(BlobLocator(modalities=("rgb",))))
    boxes = trajectory()
    tracker.initialize(square_frame(boxes[0]), None, boxes[0])
    for gt in boxes[1:]:
        box, score = tracker.track(square_frame(gt), None)
        assert iou(box, gt) > 0.85, (box, gt)


def test_box_is_clipped_to_the_image_at_the_border():
    rng = np.random.default_rng(1)
    tracker = Tracker(TorchBackend(BlobLocator()))
    start = np.array([270.0, 190.0, 30.0, 30.0])
    tracker.initialize(None, square_events(start, 0, 10, rng), start)
    gt = np.array([300.0, 220.0, 30.0, 30.0])  # half outside: only the visible part has events
    box, _ = tracker.track(None, square_events(gt, 10, 20, rng))
    assert box[0] + box[2] <= W + 1e-9 and box[1] + box[3] <= H + 1e-9
    assert iou(box, [300, 220, 20, 20]) > 0.7


def test_lost_state_keeps_box_grows_search_and_recovers():
    rng = np.random.default_rng(2)
    model = BlobLocator()
    cfg = TrackerConfig(lost_threshold=0.5, recover_threshold=0.6, lost_search_growth=1.5,
                        max_search_factor=8.0)
    tracker = Tracker(TorchBackend(model), cfg)
    box0 = np.array([140.0, 100.0, 24.0, 24.0])
    tracker.initialize(None, square_events(box0, 0, 10, rng), box0)
    factors = []
    for i in range(4):  # the target vanishes: no events
        box, score = tracker.track(None, Events.empty(W, H))
        assert tracker.lost and score < 0.01
        np.testing.assert_array_equal(box, box0)
        factors.append(tracker.search_factor)
    assert factors == [6.0, 8.0, 8.0, 8.0]  # 4 * 1.5, then capped at 8
    # It reappears 60 px away: outside the normal 4x region (96 px square) but inside the 8x one.
    moved = box0 + np.array([60.0, 0.0, 0.0, 0.0])
    assert tracker.last_info["search_factor"] == 8.0
    box, score = tracker.track(None, square_events(moved, 100, 110, rng))
    assert not tracker.lost and score > 0.99
    assert iou(box, moved) > 0.8
    assert tracker.search_factor == 4.0


def test_low_score_prediction_is_not_accepted():
    rng = np.random.default_rng(3)
    tracker = Tracker(TorchBackend(BlobLocator()), TrackerConfig(lost_threshold=0.3))
    box0 = np.array([100.0, 100.0, 20.0, 20.0])
    tracker.initialize(None, square_events(box0, 0, 10, rng), box0)
    tracker.track(None, Events.empty(W, H))
    assert tracker.lost and tracker.last_info["accepted"] is False
    np.testing.assert_array_equal(tracker.box, box0)


def test_smoothing_moves_part_of_the_way():
    rng = np.random.default_rng(4)
    box0 = np.array([100.0, 100.0, 30.0, 30.0])
    moved = box0 + np.array([10.0, 0, 0, 0])
    raw = Tracker(TorchBackend(BlobLocator()))
    smooth = Tracker(TorchBackend(BlobLocator()), TrackerConfig(smoothing=0.5))
    ev0, ev1 = square_events(box0, 0, 10, rng), square_events(moved, 10, 20, rng)
    for t in (raw, smooth):
        t.initialize(None, ev0, box0)
    b_raw, _ = raw.track(None, ev1)
    b_smooth, _ = smooth.track(None, ev1)
    cx = lambda b: b[0] + b[2] / 2
    assert cx(b_smooth) == pytest.approx((cx(box0) + cx(b_raw)) / 2, abs=1e-6)


def test_event_window_defaults_and_explicit_window():
    rng = np.random.default_rng(5)
    tracker = Tracker(TorchBackend(BlobLocator()))
    box0 = np.array([100.0, 100.0, 20.0, 20.0])
    ev = square_events(box0, 1000, 2000, rng)
    tracker.initialize(None, ev, box0)
    assert tracker._t_last == int(ev.t[-1]) + 1
    ev2 = square_events(box0, 5000, 6000, rng)
    tracker.track(None, ev2, window=(4000, 7000))
    assert tracker._t_last == 7000
    with pytest.raises(TrackingError, match="t1 > t0"):
        tracker.track(None, ev2, window=(10, 10))


# --- pieces ---------------------------------------------------------------------------------------

def test_hann_window_is_symmetric_positive_and_peaks_in_the_middle():
    w = hann_window(16)
    assert w.shape == (16, 16)
    np.testing.assert_allclose(w, w.T)
    np.testing.assert_allclose(w, w[::-1, ::-1])
    assert w.min() > 0 and w.max() <= 1
    assert np.unravel_index(np.argmax(w), w.shape) in {(7, 7), (7, 8), (8, 7), (8, 8)}


def test_decode_box_uses_window_offset_and_size():
    g = 8
    score = np.zeros((g, g))
    score[1, 1] = 0.9   # strong peak near the corner
    score[4, 3] = 0.8   # slightly weaker peak near the centre
    size = np.zeros((2, g, g))
    size[:, 4, 3] = [0.25, 0.5]
    size[:, 1, 1] = [0.1, 0.1]
    off = np.full((2, g, g), 0.5)
    off[:, 4, 3] = [0.2, 0.7]
    box, value, cell = decode_box(score, size, off, None)
    assert cell == (1, 1) and value == pytest.approx(0.9)
    box, value, cell = decode_box(score, size, off, hann_window(g))
    assert cell == (4, 3) and value == pytest.approx(0.8)  # the window favours the centre
    np.testing.assert_allclose(box, [(3 + 0.2) / 8, (4 + 0.7) / 8, 0.25, 0.5])


def test_clip_box_cases():
    np.testing.assert_allclose(clip_box(np.array([10.0, 10, 20, 20]), 100, 80, 2), [10, 10, 20, 20])
    np.testing.assert_allclose(clip_box(np.array([-5.0, 70, 20, 20]), 100, 80, 2), [0, 70, 15, 10])
    # Fully outside: a min-size box at the nearest edge.
    np.testing.assert_allclose(clip_box(np.array([150.0, -50, 10, 10]), 100, 80, 2), [98, 0, 2, 2])


try:
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.floats(-500, 500), st.floats(-500, 500), st.floats(0.01, 900), st.floats(0.01, 900),
           st.integers(1, 400), st.integers(1, 400))
    def test_clip_box_always_inside_and_at_least_min_size(x, y, w, h, iw, ih):
        b = clip_box(np.array([x, y, w, h]), iw, ih, 2.0)
        assert b[0] >= 0 and b[1] >= 0
        assert b[0] + b[2] <= iw + 1e-9 and b[1] + b[3] <= ih + 1e-9
        assert b[2] >= min(2.0, iw) - 1e-9 and b[3] >= min(2.0, ih) - 1e-9
except ImportError:  # pragma: no cover - hypothesis is in requirements
    pass


def test_tracker_config_validation_and_replace():
    with pytest.raises(TrackingError, match="recover_threshold"):
        TrackerConfig(lost_threshold=0.5, recover_threshold=0.4)
    with pytest.raises(TrackingError, match="max_search_factor"):
        TrackerConfig(search_factor=4.0, max_search_factor=3.0)
    with pytest.raises(TrackingError, match="colour"):
        TrackerConfig().replace(colour=1)
    assert TrackerConfig().replace(smoothing=0.3).smoothing == 0.3


# --- bad input ---------------------------------------------------------------------------------

@pytest.fixture()
def ev_tracker():
    rng = np.random.default_rng(6)
    tracker = Tracker(TorchBackend(BlobLocator()))
    box0 = np.array([100.0, 100.0, 20.0, 20.0])
    tracker.initialize(None, square_events(box0, 0, 10, rng), box0)
    return tracker, rng, box0


@pytest.mark.parametrize("box,match", [
    ([np.nan, 1, 2, 3], "finite"), ([1, 2, np.inf, 3], "finite"), ([1, 2, 0, 3], "w,h > 0"),
    ([1, 2, 3, -1], "w,h > 0"), ([1, 2, 3], "4 finite numbers"), ("abc", "4 numbers"),
    ([400, 10, 5, 5], "outside the 320x240 image"),
])
def test_bad_boxes_are_refused_and_tracker_stays_usable(ev_tracker, box, match):
    tracker, rng, box0 = ev_tracker
    with pytest.raises(TrackingError, match=match):
        tracker.initialize(None, square_events(box0, 20, 30, rng), box)
    # State untouched: still tracking the old target.
    out, score = tracker.track(None, square_events(box0, 30, 40, rng))
    assert iou(out, box0) > 0.8


def test_bad_frames_and_events_are_refused_and_tracker_stays_usable(ev_tracker):
    tracker, rng, box0 = ev_tracker
    with pytest.raises(TrackingError, match=r"640x480 sensor.*320x240"):
        tracker.track(None, Events.empty(640, 480))
    with pytest.raises(TrackingError, match="Events, got ndarray"):
        tracker.track(None, np.zeros((10, 4)))
    with pytest.raises(TrackingError, match="uses events"):
        tracker.track(None, None)
    with pytest.raises(TrackingError, match=r"HxWx3 uint8.*float32"):
        tracker.track(np.zeros((H, W, 3), np.float32), Events.empty(W, H))
    with pytest.raises(TrackingError, match=r"frame is 100x50"):
        tracker.track(np.zeros((50, 100, 3), np.uint8), Events.empty(W, H))
    box, score = tracker.track(None, square_events(box0, 10, 20, rng))
    assert iou(box, box0) > 0.8 and tracker.frame_index == 1


def test_rgb_model_needs_frames_and_matching_event_sensor():
    tracker = Tracker(TorchBackend(BlobLocator(modalities=("rgb", "events"))))
    box0 = np.array([100.0, 100.0, 20.0, 20.0])
    with pytest.raises(TrackingError, match="uses RGB"):
        tracker.initialize(None, Events.empty(W, H), box0)
    with pytest.raises(TrackingError, match=r"640x480 sensor but the frame is 320x240"):
        tracker.initialize(square_frame(box0), Events.empty(640, 480), box0)
    with pytest.raises(TrackingError, match=r"shape \(240, 320\)"):
        tracker.initialize(np.zeros((H, W), np.uint8), Events.empty(W, H), box0)
    with pytest.raises(TrackingError, match="before initialize"):
        tracker.track(square_frame(box0), Events.empty(W, H))
    assert not tracker.initialized


# --- backends and factory ---------------------------------------------------------------------

def test_resolve_providers_order_fallback_and_options(caplog):
    avail = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING):
        providers, opts = resolve_providers(
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            {"TensorrtExecutionProvider": {"trt_fp16_enable": True}, "CUDAExecutionProvider": {"device_id": 0}},
            available=avail)
    assert providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert opts == [{"device_id": 0}, {}]
    assert "TensorrtExecutionProvider is not available" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        providers, _ = resolve_providers(None, None, available=["CPUExecutionProvider"])
    assert providers == ["CPUExecutionProvider"] and caplog.text == ""  # defaults drop silently
    with pytest.raises(TrackingError, match=r"none of the requested.*available: \['CPUExecutionProvider'\]"):
        resolve_providers(["CUDAExecutionProvider"], available=["CPUExecutionProvider"])
    with pytest.raises(TrackingError, match="provider options given for"):
        resolve_providers(["CPUExecutionProvider"], {"CUDAExecutionProvider": {}}, available=avail)


def test_onnx_backend_drops_unavailable_providers_and_matches_torch(caplog):
    model = create_model("had_student_event_edge", **TINY, init_seed=0).eval()
    data = export_onnx(model)
    with caplog.at_level(logging.WARNING):
        be = OnnxBackend(data, model.config, providers=["TensorrtExecutionProvider", "CPUExecutionProvider"],
                         provider_options={"TensorrtExecutionProvider": {"trt_fp16_enable": "True"}},
                         intra_op_threads=1)
    assert "TensorrtExecutionProvider" in caplog.text
    assert be.session.get_providers() == ["CPUExecutionProvider"] and be.name == "onnx-cpu"
    tb = TorchBackend(model)
    rng = np.random.default_rng(0)
    ins = {k: (rng.random(model.config.input_shape(k)) < 0.1).astype(np.float32) for k in model.config.input_names}
    a, b = be.run(ins), tb.run(ins)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-4)
    with pytest.raises(TrackingError, match=r"search_events.*expected \(1, 5, 128, 128\)"):
        be.run({**ins, "search_events": np.zeros((1, 5, 64, 64), np.float32)})
    with pytest.raises(TrackingError, match="missing input 'template_events'"):
        tb.run({"search_events": ins["search_events"]})


def test_onnx_backend_refuses_garbage_and_mismatched_config(tmp_path):
    model = create_model("had_student_event_edge", **TINY).eval()
    with pytest.raises(TrackingError, match="cannot load"):
        OnnxBackend(b"garbage", model.config, providers=["CPUExecutionProvider"])
    rgbe = create_model("had_student_rgbe_edge", **TINY).config
    with pytest.raises(TrackingError, match="do not match"):
        OnnxBackend(export_onnx(model), rgbe, providers=["CPUExecutionProvider"])


def test_torch_backend_cpu_fallbacks_are_logged(caplog):
    model = create_model("had_student_event_edge", **TINY)
    with caplog.at_level(logging.WARNING):
        be = TorchBackend(model, device="cpu", precision="fp16", cuda_graphs=True)
    assert "fp16 needs a CUDA device" in caplog.text
    assert "CUDA graphs need a CUDA device" in caplog.text
    assert be.precision == "fp32" and not be.cuda_graphs and be.name == "torch-cpu-fp32"
    with pytest.raises(TrackingError, match="precision 'int8'"):
        TorchBackend(model, precision="int8")
    if not torch.cuda.is_available():
        with pytest.raises(TrackingError, match="CUDA is not available"):
            TorchBackend(model, device="cuda")
    with pytest.raises(TrackingError, match="ModelConfig"):
        TorchBackend(nn.Linear(2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_backend_cuda_graph_replay_matches_eager():  # pragma: no cover - no GPU in CI
    model = create_model("had_student_event_edge", **TINY, init_seed=0)
    eager = TorchBackend(model, device="cuda", precision="fp16")
    graphed = TorchBackend(create_model("had_student_event_edge", **TINY, init_seed=0), device="cuda",
                           precision="fp16", cuda_graphs=True)
    rng = np.random.default_rng(0)
    for _ in range(3):  # replays on new data, not only the captured one
        ins = {k: rng.random(model.config.input_shape(k)).astype(np.float32) for k in model.config.input_names}
        a, b = eager.run(ins), graphed.run(ins)
        np.testing.assert_allclose(a["score_map"], b["score_map"], atol=1e-2)


def test_build_tracker_from_registry_name_checkpoint_and_onnx(tmp_path, caplog):
    rng = np.random.default_rng(7)
    box0 = np.array([100.0, 100.0, 30.0, 30.0])
    ev0, ev1 = square_events(box0, 0, 10, rng), square_events(box0, 10, 20, rng)
    with caplog.at_level(logging.WARNING):
        t_name = build_tracker("had_student_event_edge", **{})
    assert "UNTRAINED" in caplog.text
    assert t_name.model_config.search_size == 256
    # A checkpoint (tiny) on torch and on ONNX Runtime give the same boxes and scores.
    model = create_model("had_student_event_edge", **TINY, init_seed=3).eval()
    save_checkpoint(model, tmp_path / "ckpt")
    onnx_path = tmp_path / "m.onnx"
    export_onnx(model, onnx_path)
    write_sidecar(onnx_path, model.config, 17, False)
    results = []
    for spec, backend in ((tmp_path / "ckpt", "torch"), (str(tmp_path / "ckpt"), "onnx"), (onnx_path, "onnx")):
        tracker = build_tracker(spec, backend=backend, threads=1, lost_threshold=0.0, recover_threshold=0.0)
        tracker.initialize(None, ev0, box0)
        results.append(tracker.track(None, ev1))
    for box, score in results[1:]:
        np.testing.assert_allclose(box, results[0][0], atol=1e-3)
        assert score == pytest.approx(results[0][1], abs=1e-4)
    with pytest.raises(TrackingError, match="backend='onnx'"):
        build_tracker(onnx_path, backend="torch")
    with pytest.raises(TrackingError, match="backend 'tensorrt'"):
        build_tracker(tmp_path / "ckpt", backend="tensorrt")
    with pytest.raises(ModelConfigError, match="neither a checkpoint"):
        build_tracker("nope_model")
    with pytest.raises(TrackingError, match="lost_thresh"):
        build_tracker(tmp_path / "ckpt", lost_thresh=0.1)


def test_untrained_registry_models_are_seeded():
    a = build_tracker("had_student_event_edge")
    b = build_tracker("had_student_event_edge")
    sa, sb = a.backend.model.state_dict(), b.backend.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_torch_backend_leaves_a_shared_training_model_as_it_was():
    model = create_model("had_student_event_edge", **TINY).train()
    be = TorchBackend(model)
    assert be.model is model  # same device and dtype: no copy
    rng = np.random.default_rng(0)
    ins = {k: (rng.random(model.config.input_shape(k)) < 0.1).astype(np.float32) for k in model.config.input_names}
    out1 = be.run(ins)
    assert model.training  # restored after the eval-mode forward
    model.eval()
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in ins.items()})
    np.testing.assert_allclose(out1["score_map"], ref["score_map"].numpy(), atol=1e-6)


class _BrokenSizes(BlobLocator):
    """Confident score but NaN sizes, as a corrupted export might produce."""

    def forward(self, **kw):
        out = super().forward(**kw)
        out["size_map"] = torch.full_like(out["size_map"], float("nan"))
        return out


def test_non_finite_prediction_is_never_accepted():
    rng = np.random.default_rng(8)
    tracker = Tracker(TorchBackend(_BrokenSizes()))
    box0 = np.array([100.0, 100.0, 20.0, 20.0])
    tracker.initialize(None, square_events(box0, 0, 10, rng), box0)
    box, score = tracker.track(None, square_events(box0 + [5, 0, 0, 0], 10, 20, rng))
    assert score > 0.99 and tracker.lost
    np.testing.assert_array_equal(box, box0)


def test_onnx_deployment_path_does_not_import_torch(tmp_path):
    """A robot running an exported .onnx on ONNX Runtime needs no torch (memory, start time)."""
    import subprocess
    import sys

    model = create_model("had_student_event_edge", **TINY).eval()
    path = tmp_path / "s.onnx"
    export_onnx(model, path)
    write_sidecar(path, model.config, 17, False)
    code = (
        "import sys, numpy as np\n"
        "from had_ros.tracking import build_tracker\n"
        "from had_ros.events import Events\n"
        f"t = build_tracker({str(path)!r}, backend='onnx', providers=['CPUExecutionProvider'])\n"
        "ev = Events.from_arrays([10, 11], [10, 12], [0, 5], [1, 0], 64, 48)\n"
        "t.initialize(None, ev, (5, 5, 10, 10))\n"
        "box, score = t.track(None, ev)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok', box.shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ok (4,)" in out.stdout


def test_default_model_is_the_shipped_checkpoint_or_the_untrained_registry_model(tmp_path, monkeypatch):
    from had_ros.models.registry import list_models
    from had_ros.tracking import factory

    monkeypatch.setattr(factory, "DEFAULT_WEIGHTS_DIR", tmp_path / "missing")
    assert factory.default_model() == factory.DEFAULT_REGISTRY_MODEL
    assert factory.DEFAULT_REGISTRY_MODEL in list_models()
    (tmp_path / "student.safetensors").write_bytes(b"")
    monkeypatch.setattr(factory, "DEFAULT_WEIGHTS_DIR", tmp_path)
    assert factory.default_model() == str(tmp_path / "student.safetensors")
