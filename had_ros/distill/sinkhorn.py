"""Entropy-regularised optimal transport: batched log-domain Sinkhorn.

For a cost ``C`` (B, N, M) and marginals ``a`` (B, N), ``b`` (B, M) (each summing to the same mass),
the plan ``P = diag(u) K diag(v)`` with ``K = exp(-C / eps)`` minimises ``<P, C> - eps H(P)``
subject to ``P 1 = a``, ``P^T 1 = b``. The iterations run on the dual potentials ``f, g`` in the log
domain,

    f = eps * (log a - logsumexp((g - C) / eps, over M))
    g = eps * (log b - logsumexp((f - C) / eps, over N))
    P = exp((f + g - C) / eps),

so nothing under- or overflows at small ``eps`` (the plain ``u, v`` scaling form divides by
``exp(-C / eps)``, which is 0 in float32 once ``C / eps`` exceeds ~100). Every step is a torch op,
so the plan is differentiable with respect to the cost (and so to the features that built it).
"""
from __future__ import annotations

import torch

from had_ros.errors import HadError


def sinkhorn(cost: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float,
             iters: int = 100) -> torch.Tensor:
    """The entropic OT plan (B, N, M) between marginals ``a`` (B, N) and ``b`` (B, M) under
    ``cost`` (B, N, M), with regularisation ``eps`` > 0 and ``iters`` Sinkhorn iterations.
    Unbatched inputs ((N, M), (N,), (M,)) are accepted and give an (N, M) plan."""
    squeeze = cost.ndim == 2
    if squeeze:
        cost, a, b = cost[None], a[None], b[None]
    if cost.ndim != 3 or a.ndim != 2 or b.ndim != 2:
        raise HadError(f"sinkhorn: cost must be (B,N,M), a (B,N), b (B,M); got {tuple(cost.shape)}, "
                       f"{tuple(a.shape)}, {tuple(b.shape)}")
    bsz, n, m = cost.shape
    if tuple(a.shape) != (bsz, n) or tuple(b.shape) != (bsz, m):
        raise HadError(f"sinkhorn: marginals {tuple(a.shape)} and {tuple(b.shape)} do not fit cost "
                       f"{tuple(cost.shape)}")
    if not eps > 0:
        raise HadError(f"sinkhorn: eps must be > 0, got {eps}")
    if iters < 1:
        raise HadError(f"sinkhorn: iters must be >= 1, got {iters}")
    tiny = torch.finfo(cost.dtype).tiny
    log_a = torch.log(a.to(cost.dtype).clamp_min(tiny))
    log_b = torch.log(b.to(cost.dtype).clamp_min(tiny))
    c = cost / eps
    f = torch.zeros_like(log_a)  # potentials divided by eps
    g = torch.zeros_like(log_b)
    for _ in range(int(iters)):
        f = log_a - torch.logsumexp(g[:, None, :] - c, dim=2)
        g = log_b - torch.logsumexp(f[:, :, None] - c, dim=1)
    plan = torch.exp(f[:, :, None] + g[:, None, :] - c)
    return plan[0] if squeeze else plan


def transport_cost(cost: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
    """<plan, cost> per batch element: (B,) (or a scalar for unbatched inputs)."""
    return (plan * cost).sum(dim=(-2, -1))
