"""Hierarchical asymmetric distillation: the terms that align an (event-only) student with a frozen
RGB + event teacher, and the module that owns their learnable parts.

Tokens are always matched through ``token_layout``: a student group ``<crop>_<modality>`` (e.g.
``search_events``) is compared with the teacher's group of the same crop and modality, position by
position on the grid (the teacher's grid is resampled to the student's when patch or crop sizes
differ). Tokens are never repeated to another length, so no student token meets a teacher token of
another crop or modality.

Terms (each has a weight; 0 switches it off):
  feature   token features of student block i vs teacher block j, student widths lifted to the
            teacher's by a learned linear projection per pair, both layer-normalised, MSE
  relation  token-similarity matrices (cosine, within the matched group) of block i vs block j, MSE
  response  KL divergence of the score maps' spatial softmax at temperature T (times T^2)
  temporal  the frame's events as K time-ordered sub-windows: each is embedded by the student's own
            patch embedding and first ``student_depth`` blocks, a GRU runs over the K steps per
            grid cell, and its final state is aligned (MSE after layer norm) with the teacher's
            frame-time search features of block ``teacher_block``
  spatial   entropic optimal transport (log-domain Sinkhorn) between the student's and the
            teacher's search-token sets, cost = feature distance + position_weight * squared grid
            distance; the loss is the transport cost
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from had_ros.distill.sinkhorn import sinkhorn
from had_ros.errors import HadError

DEFAULT_TERMS: dict[str, dict[str, Any]] = {
    "feature": {"weight": 1.0, "pairs": [[1, 1], [3, 3]]},
    "relation": {"weight": 1.0, "pairs": [[3, 3]]},
    "response": {"weight": 1.0, "temperature": 2.0},
    "temporal": {"weight": 1.0, "sub_windows": 4, "student_depth": 1, "teacher_block": 3},
    "spatial": {"weight": 1.0, "student_block": 3, "teacher_block": 3, "eps": 0.05, "iters": 30,
                "position_weight": 1.0},
}


def group_grid(tokens: torch.Tensor, layout: dict[str, slice], name: str) -> torch.Tensor:
    """The tokens of group ``name`` as a (B, D, g, g) map (row-major grid, as PatchEmbed lays it)."""
    if name not in layout:
        raise HadError(f"token group {name!r} is not in this model's layout {sorted(layout)}")
    x = tokens[:, layout[name]]
    b, n, d = x.shape
    g = int(round(n ** 0.5))
    if g * g != n:
        raise HadError(f"token group {name!r} has {n} tokens, not a square grid")
    return x.transpose(1, 2).reshape(b, d, g, g)


def match_grid(t_map: torch.Tensor, g: int) -> torch.Tensor:
    """Resample a teacher map (B, D, gt, gt) to the student's grid g (area average / bilinear)."""
    if t_map.shape[-1] == g:
        return t_map
    if t_map.shape[-1] > g:
        return F.adaptive_avg_pool2d(t_map, g)
    return F.interpolate(t_map, size=(g, g), mode="bilinear", align_corners=False)


def _flat(m: torch.Tensor) -> torch.Tensor:
    return m.flatten(2).transpose(1, 2)  # (B, D, g, g) -> (B, g*g, D)


def _ln(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x.float(), x.shape[-1:])


def grid_positions(g: int, device, dtype=torch.float32) -> torch.Tensor:
    """(g*g, 2) cell-centre coordinates in [0, 1], row-major."""
    c = (torch.arange(g, device=device, dtype=dtype) + 0.5) / g
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def spatial_ot_loss(s_tok: torch.Tensor, s_pos: torch.Tensor, t_tok: torch.Tensor, t_pos: torch.Tensor,
                    eps: float, iters: int, position_weight: float) -> torch.Tensor:
    """Mean entropic transport cost between token sets: features (B,N,D)/(B,M,D) (same width),
    positions (N,2)/(M,2) or batched. Cost = 1 - cosine + position_weight * |p_s - p_t|^2."""
    s = F.normalize(s_tok.float(), dim=-1)
    t = F.normalize(t_tok.float(), dim=-1)
    feat = 1.0 - s @ t.transpose(1, 2)
    if s_pos.ndim == 2:
        s_pos = s_pos[None].expand(s.shape[0], -1, -1)
    if t_pos.ndim == 2:
        t_pos = t_pos[None].expand(t.shape[0], -1, -1)
    pos = torch.cdist(s_pos.float(), t_pos.float()) ** 2
    cost = feat + position_weight * pos
    b, n, m = cost.shape
    a = cost.new_full((b, n), 1.0 / n)
    bb = cost.new_full((b, m), 1.0 / m)
    plan = sinkhorn(cost, a, bb, eps, iters)
    return (plan * cost).sum(dim=(1, 2)).mean()


class Distiller(nn.Module):
    """The learnable parts of the distillation (projections, the temporal GRU) and the loss terms.

    A plain nn.Module, so the trainer hands its parameters to the optimizer, wraps it in DDP and
    saves it in the checkpoint like the student's.
    """

    def __init__(self, student_config, teacher_config, terms: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.terms = {k: dict(v) for k, v in terms.items()}
        ds, dt = student_config.embed_dim, teacher_config.embed_dim
        self.student_depth, self.teacher_depth = student_config.depth, teacher_config.depth
        if not student_config.uses_events:
            raise HadError("distillation: the student must use events (the teacher's RGB has no "
                           "student counterpart to align otherwise)")
        if not teacher_config.uses_events:
            raise HadError("distillation: the teacher must use events, so its event tokens can be "
                           "matched with the student's")
        self.student_groups = [f"{p}_events" for p in ("template", "search")]
        self.feature_proj = nn.ModuleList()
        if self.weight("feature") > 0:
            for i, j in self._pairs("feature"):
                self.feature_proj.append(nn.Linear(ds, dt))
        self.spatial_proj = nn.Linear(ds, dt) if self.weight("spatial") > 0 else None
        if self.weight("spatial") > 0:
            self._check_block("spatial", self.terms["spatial"]["student_block"],
                              self.terms["spatial"]["teacher_block"])
        self.gru = None
        if self.weight("temporal") > 0:
            tcfg = self.terms["temporal"]
            if not 0 <= int(tcfg["student_depth"]) <= self.student_depth:
                raise HadError(f"distill.temporal.student_depth = {tcfg['student_depth']}: expected "
                               f"0 .. {self.student_depth} (student blocks)")
            self._check_block("temporal", 0, tcfg["teacher_block"])
            self.gru = nn.GRU(ds, dt, batch_first=True)
        if self.weight("relation") > 0:
            self._pairs("relation")

    def weight(self, term: str) -> float:
        return float(self.terms.get(term, {}).get("weight", 0.0))

    def _check_block(self, term: str, i: int, j: int) -> None:
        if not (0 <= int(i) < self.student_depth and 0 <= int(j) < self.teacher_depth):
            raise HadError(f"distill.{term}: block pair [{i}, {j}] out of range (student blocks "
                           f"0..{self.student_depth - 1}, teacher blocks 0..{self.teacher_depth - 1})")

    def _pairs(self, term: str) -> list[tuple[int, int]]:
        pairs = [tuple(int(v) for v in p) for p in self.terms[term].get("pairs", [])]
        if not pairs or any(len(p) != 2 for p in pairs):
            raise HadError(f"distill.{term}.pairs: expected a list of [student_block, teacher_block] pairs")
        for i, j in pairs:
            self._check_block(term, i, j)
        return pairs

    @property
    def needs_sub_windows(self) -> int:
        return int(self.terms["temporal"]["sub_windows"]) if self.weight("temporal") > 0 else 0

    # ------------------------------------------------------------------------------------------
    def _matched(self, s_tokens, s_layout, t_tokens, t_layout, group):
        """Student and teacher tokens of one group on the student's grid: (B, n, Ds), (B, n, Dt)."""
        s_map = group_grid(s_tokens, s_layout, group)
        t_map = match_grid(group_grid(t_tokens, t_layout, group), s_map.shape[-1])
        return _flat(s_map), _flat(t_map)

    def teacher_search(self, t_tokens, t_layout, modalities, g: int) -> torch.Tensor:
        """The teacher's frame-time search features (modalities averaged, as its head sees them)
        on a g x g grid: (B, g*g, Dt)."""
        maps = [match_grid(group_grid(t_tokens, t_layout, f"search_{m}"), g) for m in modalities]
        return _flat(torch.stack(maps, 0).mean(0))

    def forward(self, student: nn.Module, s_out: dict, t_out: dict, t_layout: dict, t_modalities,
                batch: dict) -> dict[str, torch.Tensor]:
        """The weighted distillation terms (only those switched on)."""
        s_layout = student.token_layout()
        sf, tf = s_out["features"], t_out["features"]
        terms: dict[str, torch.Tensor] = {}
        if self.weight("feature") > 0:
            loss = 0.0
            for proj, (i, j) in zip(self.feature_proj, self._pairs("feature")):
                for group in self.student_groups:
                    s, t = self._matched(sf[i], s_layout, tf[j], t_layout, group)
                    loss = loss + F.mse_loss(_ln(proj(s)), _ln(t))
            terms["feature"] = self.weight("feature") * loss / (len(self.feature_proj) * len(self.student_groups))
        if self.weight("relation") > 0:
            loss = 0.0
            pairs = self._pairs("relation")
            for i, j in pairs:
                s, t = self._matched(sf[i], s_layout, tf[j], t_layout, "search_events")
                s, t = F.normalize(s.float(), dim=-1), F.normalize(t.float(), dim=-1)
                loss = loss + F.mse_loss(s @ s.transpose(1, 2), t @ t.transpose(1, 2))
            terms["relation"] = self.weight("relation") * loss / len(pairs)
        if self.weight("response") > 0:
            temp = float(self.terms["response"].get("temperature", 1.0))
            s_score = s_out["score_map"].float()
            t_score = match_grid(t_out["score_map"].float(), s_score.shape[-1])
            log_p_s = F.log_softmax(s_score.flatten(1) / temp, dim=1)
            p_t = F.softmax(t_score.flatten(1) / temp, dim=1)
            terms["response"] = self.weight("response") * F.kl_div(log_p_s, p_t, reduction="batchmean") * temp ** 2
        g = student.config.search_grid
        if self.weight("temporal") > 0:
            terms["temporal"] = self.weight("temporal") * self.temporal_loss(
                student, batch["search_events_sub"],
                self.teacher_search(tf[int(self.terms["temporal"]["teacher_block"])], t_layout, t_modalities, g))
        if self.weight("spatial") > 0:
            sc = self.terms["spatial"]
            s_map = group_grid(sf[int(sc["student_block"])], s_layout, "search_events")
            t_full = group_grid(tf[int(sc["teacher_block"])], t_layout, "search_events")
            s_tok = self.spatial_proj(_flat(s_map))
            t_tok = _flat(t_full)
            pos_s = grid_positions(s_map.shape[-1], s_tok.device)
            pos_t = grid_positions(t_full.shape[-1], s_tok.device)
            terms["spatial"] = self.weight("spatial") * spatial_ot_loss(
                s_tok, pos_s, t_tok, pos_t, float(sc["eps"]), int(sc["iters"]), float(sc["position_weight"]))
        return terms

    def temporal_features(self, student: nn.Module, sub: torch.Tensor) -> torch.Tensor:
        """GRU state after the K sub-windows ``sub`` (B, K, bins, S, S): (B, g*g, Dt)."""
        b, k = sub.shape[:2]
        x = sub.flatten(0, 1)
        tok = student._embed("events", x, student.pos_search, 1)
        for block in student.blocks[: int(self.terms["temporal"]["student_depth"])]:
            tok, _ = block(tok)
        n, d = tok.shape[1:]
        seq = tok.reshape(b, k, n, d).permute(0, 2, 1, 3).reshape(b * n, k, d)
        _, h = self.gru(seq)
        return h[-1].reshape(b, n, -1)

    def temporal_loss(self, student: nn.Module, sub: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(_ln(self.temporal_features(student, sub)), _ln(target))
