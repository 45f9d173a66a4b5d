"""Parameters, FLOPs and batch-1 latency of a tracker model per backend.

FLOPs count multiply-adds as 2 (the convention of torch's FlopCounterMode and most papers' "FLOPs"
tables that say GFLOPs; halve for MACs). Only matmuls and convolutions count: norms, softmax, GELU
and additions are left out, as usual.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from had_ros.models.config import ModelConfig
from had_ros.models.layers import conv_stem_widths


def count_parameters(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def analytic_flops(config: ModelConfig) -> int:
    """FLOPs of one batch-1 forward computed from the config alone (see the module doc)."""
    c = config
    d, p = c.embed_dim, c.patch_size
    flops = 0
    n_tokens = 0
    for name in c.input_names:
        _, ch, s, _ = c.input_shape(name)
        grid = (s // p) ** 2
        if c.stem == "conv":  # stride-2 3x3 stages, then the 1x1 projection
            cin, side = ch, s
            for w in conv_stem_widths(d, p):
                side = (side + 1) // 2
                flops += 2 * 9 * cin * w * side * side
                cin = w
            flops += 2 * cin * d * grid
        else:
            flops += 2 * ch * p * p * d * grid  # patch-embedding convolution
        n_tokens += grid
    hidden = int(d * c.mlp_ratio)
    per_block = (2 * n_tokens * d * 3 * d           # qkv
                 + 2 * 2 * n_tokens * n_tokens * d  # q @ k^T and attn @ v, all heads together
                 + 2 * n_tokens * d * d             # output projection
                 + 2 * 2 * n_tokens * d * hidden)   # MLP
    flops += c.depth * per_block
    cells = c.search_grid ** 2
    for out_ch in (1, 2, 2):  # score, size, offset branches
        cin = d
        for _ in range(c.head_layers):
            flops += 2 * cells * 9 * cin * c.head_channels
            cin = c.head_channels
        flops += 2 * cells * cin * out_ch
    return int(flops)


def count_flops(model: nn.Module, inputs: dict[str, torch.Tensor]) -> int:
    """FLOPs of one forward measured by torch.utils.flop_counter.FlopCounterMode.

    The forward runs with ``return_features=True``, i.e. the explicit attention matmuls: the counter
    does not see inside the fused CPU attention kernel, and the arithmetic is the same.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(**inputs, return_features=True)
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p99_ms: float
    mean_ms: float
    iters: int
    samples_ms: tuple[float, ...] = field(default=(), repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"median_ms": self.median_ms, "p99_ms": self.p99_ms, "mean_ms": self.mean_ms,
                "iters": self.iters}


def measure_latency(fn: Callable[[], Any], iters: int = 50, warmup: int = 5,
                    progress: Any = None) -> Latency:
    """Time ``fn()`` ``iters`` times after ``warmup`` untimed calls (wall clock, ms).

    ``fn`` must return only when its work is done (the backends return numpy arrays, which syncs
    a GPU). p99 is the 99th percentile (linear interpolation; with few iterations close to the max).
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    for _ in range(max(0, warmup)):
        fn()
    times = np.empty(iters)
    for i in range(iters):
        t0 = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - t0) * 1e3
        if progress is not None:
            progress.update(1)
    return Latency(float(np.median(times)), float(np.percentile(times, 99)), float(times.mean()), iters,
                   tuple(times.tolist()))


def profile_backend(backend: Any, iters: int, warmup: int, seed: int = 0,
                    progress: Any = None) -> Latency:
    """Batch-1 latency of ``backend.run`` on random inputs of its model's shapes."""
    from had_ros.tracking.export import example_inputs

    inputs = example_inputs(backend.config, 1, seed)
    return measure_latency(lambda: backend.run(inputs), iters, warmup, progress)
