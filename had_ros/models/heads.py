"""The center head of OSTrack-style trackers: score, size and offset maps on the search grid."""
from __future__ import annotations

import math

import torch
from torch import nn


def _branch(in_channels: int, channels: int, layers: int, out_channels: int) -> nn.Sequential:
    """``layers`` conv3x3-BN-ReLU stages then a 1x1 projection to ``out_channels``."""
    mods: list[nn.Module] = []
    c = in_channels
    for _ in range(layers):
        mods += [nn.Conv2d(c, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                 nn.ReLU(inplace=True)]
        c = channels
    mods.append(nn.Conv2d(c, out_channels, 1))
    return nn.Sequential(*mods)


class CenterHead(nn.Module):
    """Three conv branches over the (B, D, G, G) search feature map.

    Returns ``score_map`` (B,1,G,G) logits of "the target center is in this cell",
    ``size_map`` (B,2,G,G) box w,h as fractions of the search crop side (sigmoid, in [0,1]) and
    ``offset_map`` (B,2,G,G) sub-cell x,y offsets of the center (sigmoid, in [0,1]).
    """

    def __init__(self, in_channels: int, channels: int, layers: int,
                 score_prior: float = 0.01) -> None:
        super().__init__()
        self.score = _branch(in_channels, channels, layers, 1)
        self.size = _branch(in_channels, channels, layers, 2)
        self.offset = _branch(in_channels, channels, layers, 2)
        # Start the score logits at a low prior (as in focal-loss detectors) so an untrained
        # model is not confidently wrong everywhere and early training is stable.
        nn.init.constant_(self.score[-1].bias, -math.log((1 - score_prior) / score_prior))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "score_map": self.score(x),
            "size_map": torch.sigmoid(self.size(x)),
            "offset_map": torch.sigmoid(self.offset(x)),
        }
