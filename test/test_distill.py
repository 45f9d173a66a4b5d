"""had_ros.distill: Sinkhorn against POT, the spatial term's permutation invariance, token matching by
layout, the temporal GRU (trained, order-sensitive) and the tracking losses."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from had_ros.distill import Distiller, focal_loss, giou_loss, sinkhorn, spatial_ot_loss, transport_cost
from had_ros.distill.hierarchical import DEFAULT_TERMS, grid_positions, group_grid
from had_ros.models.registry import create_model

ot = pytest.importorskip("ot", reason="POT (pot==0.9.7.post1, requirements.txt) is the reference")

MICRO = dict(depth=2, embed_dim=32, num_heads=2, head_channels=16, head_layers=1,
             template_size=32, search_size=64, event_bins=3)


def _problem(rng, n, m):
    cost = rng.random((n, m))
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return cost, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("eps", [0.5, 0.05])
def test_sinkhorn_matches_pot_float64(eps):
    rng = np.random.default_rng(0)
    probs = [_problem(rng, 7, 5) for _ in range(3)]
    cost = torch.tensor(np.stack([p[0] for p in probs]))
    a = torch.tensor(np.stack([p[1] for p in probs]))
    b = torch.tensor(np.stack([p[2] for p in probs]))
    plan = sinkhorn(cost, a, b, eps, iters=3000)
    for k, (c, pa, pb) in enumerate(probs):
        ref = ot.sinkhorn(pa, pb, c, eps, method="sinkhorn_log", numItermax=20000, stopThr=1e-15)
        np.testing.assert_allclose(plan[k].numpy(), ref, atol=1e-5)
        assert abs(float(transport_cost(cost[k], plan[k])) - float((ref * c).sum())) < 1e-5
    # marginals hold
    np.testing.assert_allclose(plan.sum(2).numpy(), a.numpy(), atol=1e-6)
    np.testing.assert_allclose(plan.sum(1).numpy(), b.numpy(), atol=1e-6)


def test_sinkhorn_stable_at_small_eps_and_differentiable():
    torch.manual_seed(0)
    cost = torch.rand(2, 16, 12, requires_grad=True)
    a = torch.full((2, 16), 1 / 16)
    b = torch.full((2, 12), 1 / 12)
    plan = sinkhorn(cost.float(), a, b, eps=1e-3, iters=200)  # exp(-C/eps) underflows float32 here
    assert torch.isfinite(plan).all()
    np.testing.assert_allclose(plan.sum(1).detach().numpy(), b.numpy(), atol=1e-4)
    (plan * cost).sum().backward()
    assert cost.grad is not None and torch.isfinite(cost.grad).all() and cost.grad.abs().sum() > 0


def test_spatial_term_is_not_index_wise_l2():
    torch.manual_seed(1)
    g = 4
    s = torch.randn(2, g * g, 8)
    t = torch.randn(2, g * g, 8)
    pos = grid_positions(g, "cpu")
    perm = torch.randperm(g * g)
    base = spatial_ot_loss(s, pos, t, pos, eps=0.05, iters=300, position_weight=1.0)
    permuted = spatial_ot_loss(s, pos, t[:, perm], pos[perm], eps=0.05, iters=300, position_weight=1.0)
    assert abs(float(base) - float(permuted)) < 1e-5  # the set of tokens (with positions) is what counts
    l2 = ((s - t) ** 2).mean()
    l2_perm = ((s - t[:, perm]) ** 2).mean()
    assert abs(float(l2) - float(l2_perm)) > 1e-3  # an index-wise L2 depends on the order


def test_group_grid_follows_the_layout_not_repetition():
    teacher = create_model("had_teacher_small", init_seed=0, **{**MICRO, "embed_dim": 48})
    layout = teacher.token_layout()
    n = layout["search_rgb"].stop - layout["search_rgb"].start
    tokens = torch.zeros(1, layout["search_events"].stop, 48)
    tokens[:, layout["search_events"]] = 1.0  # only the event search tokens are ones
    grid = group_grid(tokens, layout, "search_events")
    assert grid.shape == (1, 48, 4, 4) and float(grid.min()) == 1.0
    assert float(group_grid(tokens, layout, "search_rgb").abs().max()) == 0.0 and n == 16


def _distill_setup(terms):
    student = create_model("had_student_event_edge", init_seed=0, **MICRO)
    teacher = create_model("had_teacher_small", init_seed=1, **{**MICRO, "embed_dim": 48}).eval()
    distiller = Distiller(student.config, teacher.config, terms)
    torch.manual_seed(0)
    b, k = 2, 4
    c = student.config
    batch = {n: torch.rand(teacher.config.input_shape(n, b)) for n in teacher.config.input_names}
    batch["search_events_sub"] = torch.rand(b, k, c.event_bins, c.search_size, c.search_size) * 3
    return student, teacher, distiller, batch


def _terms(student, teacher, distiller, batch):
    s_in = {k: v for k, v in batch.items() if k.endswith("_events") and not k.endswith("sub")}
    s_out = student(**s_in, return_features=True)
    with torch.no_grad():
        t_out = teacher(**{k: batch[k] for k in teacher.config.input_names}, return_features=True)
    return distiller(student, s_out, t_out, teacher.token_layout(), teacher.config.modalities, batch)


def test_every_term_is_switchable():
    off = {k: {**v, "weight": 0.0} for k, v in DEFAULT_TERMS.items()}
    micro_blocks = {"feature": {"pairs": [[1, 1]]}, "relation": {"pairs": [[1, 1]]},
                    "temporal": {"teacher_block": 1}, "spatial": {"student_block": 1, "teacher_block": 1},
                    "response": {}}
    for name in DEFAULT_TERMS:
        terms = {**off, name: {**DEFAULT_TERMS[name], **micro_blocks[name]}}
        out = _terms(*_distill_setup(terms))
        assert set(out) == {name}, (name, set(out))
        value = float(out[name].detach())
        assert np.isfinite(value) and value > 0


def _temporal_terms():
    terms = {k: {**v, "weight": 0.0} for k, v in DEFAULT_TERMS.items()}
    terms["temporal"] = {**DEFAULT_TERMS["temporal"], "teacher_block": 1}
    return terms


def test_temporal_gru_is_trained_and_order_matters():
    student, teacher, distiller, batch = _distill_setup(_temporal_terms())
    params = list(student.parameters()) + list(distiller.parameters())
    gru = {n: p.detach().clone() for n, p in distiller.gru.named_parameters()}
    assert gru and all(any(p is q for q in params) for p in distiller.gru.parameters())
    opt = torch.optim.AdamW(params, lr=1e-2)
    loss = _terms(student, teacher, distiller, batch)["temporal"]
    loss.backward()
    opt.step()
    changed = [n for n, p in distiller.gru.named_parameters() if not torch.equal(p.detach(), gru[n])]
    assert changed == list(gru)  # every GRU tensor moved

    # the GRU runs over time: reversing the sub-window order changes the loss
    with torch.no_grad():
        a = _terms(student, teacher, distiller, batch)["temporal"]
        shuffled = dict(batch, search_events_sub=batch["search_events_sub"].flip(1))
        b = _terms(student, teacher, distiller, shuffled)["temporal"]
    assert abs(float(a) - float(b)) > 1e-6


def test_tracking_losses_prefer_the_truth():
    g = 8
    target = torch.zeros(1, 1, g, g)
    target[0, 0, 3, 5] = 1.0
    good = torch.full((1, 1, g, g), -6.0)
    good[0, 0, 3, 5] = 6.0
    bad = torch.full((1, 1, g, g), -6.0)
    bad[0, 0, 6, 1] = 6.0
    assert focal_loss(good, target) < 0.1 < focal_loss(bad, target)
    box = torch.tensor([[0.5, 0.5, 0.2, 0.3]])
    loss_same, iou_same = giou_loss(box, box)
    loss_far, iou_far = giou_loss(box, torch.tensor([[0.1, 0.1, 0.1, 0.1]]))
    assert float(loss_same) < 1e-6 and float(iou_same) == pytest.approx(1.0)
    assert float(iou_far) == 0.0 and float(loss_far) > 1.0  # GIoU keeps a gradient when boxes do not overlap
