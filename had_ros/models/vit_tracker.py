"""One-stream ViT tracker (OSTrack / CEUTrack line) for RGB, events, or both.

Template and search crops of every modality are cut into 16x16 patches, embedded per modality (one
patch projection, or a small convolutional stem with ``stem: conv``), given
learned positional embeddings (one table for the template grid, one for the search grid, shared by the
modalities) plus a learned modality embedding and a template/search segment embedding, then
concatenated into one token sequence and processed jointly by a plain ViT. The search tokens of the
modalities are averaged, laid back on the search grid and decoded by a center head.

Token order: ``template_<m>`` for each modality m in ``config.modalities``, then ``search_<m>`` for
each m (see ``OneStreamTracker.token_layout``).
"""
from __future__ import annotations

import torch
from torch import nn

from had_ros.errors import ModelConfigError
from had_ros.models.config import ModelConfig
from had_ros.models.heads import CenterHead
from had_ros.models.layers import Block, ConvStem, PatchEmbed

# ImageNet statistics: RGB arrives in [0, 1] and is standardised inside the model so every caller
# (trainer, tracker, exported ONNX graph) feeds the same thing.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise_events(voxels: torch.Tensor, mode: str) -> torch.Tensor:
    """Normalise a raw signed voxel grid (B, bins, H, W).

    ``log1p``: signed log1p, sign(v) * log(1 + |v|), which compresses the heavy tail of per-pixel
    event counts (a fast edge fires tens of events per pixel, background noise one).
    ``log1p_rms``: the same, then each sample is divided by the RMS of its non-zero entries when that
    RMS exceeds 1. Dense windows (fast motion, large crops squeezed into 256 px) are brought to a
    common scale, while sparse windows (one event per pixel, RMS <= log 2) are left as they are so
    that noise is never amplified. An all-zero grid stays zero.
    ``none``: passed through.
    """
    if mode == "none":
        return voxels
    # In float32 even when the model runs fp16: the sum of squares over a 256x256x5 grid
    # overflows fp16's 65504 for dense windows.
    dtype = voxels.dtype
    v = voxels.float()
    y = torch.sign(v) * torch.log1p(v.abs())
    if mode == "log1p_rms":
        active = (y != 0).float().sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
        rms = torch.sqrt((y * y).sum(dim=(1, 2, 3), keepdim=True) / active)
        y = y / rms.clamp_min(1.0)
    return y.to(dtype)


class OneStreamTracker(nn.Module):
    """The tracker network. ``forward`` returns the center-head maps, and on request the token
    features and attention maps of every block (for hierarchical distillation)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        d = c.embed_dim
        self.patch_embed = nn.ModuleDict()
        stem = ConvStem if c.stem == "conv" else PatchEmbed
        if c.uses_rgb:
            self.patch_embed["rgb"] = stem(3, d, c.patch_size)
        if c.uses_events:
            self.patch_embed["events"] = stem(c.event_bins, d, c.patch_size)
        self.pos_template = nn.Parameter(torch.zeros(1, c.template_grid ** 2, d))
        self.pos_search = nn.Parameter(torch.zeros(1, c.search_grid ** 2, d))
        self.modality_embed = nn.Parameter(torch.zeros(len(c.modalities), 1, d))
        self.segment_embed = nn.Parameter(torch.zeros(2, 1, d))  # 0 = template, 1 = search
        rates = torch.linspace(0, c.drop_path_rate, c.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(d, c.num_heads, c.mlp_ratio, c.qkv_bias, drop_path=r) for r in rates
        )
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.head = CenterHead(d, c.head_channels, c.head_layers)
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        for p in (self.pos_template, self.pos_search, self.modality_embed, self.segment_embed):
            nn.init.trunc_normal_(p, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # layout -----------------------------------------------------------------------------------
    def token_layout(self) -> dict[str, slice]:
        """Where each input's tokens sit in the joint sequence (for feature distillation)."""
        c = self.config
        layout: dict[str, slice] = {}
        start = 0
        for part, n in (("template", c.template_grid ** 2), ("search", c.search_grid ** 2)):
            for mod in c.modalities:
                layout[f"{part}_{mod}"] = slice(start, start + n)
                start += n
        return layout

    # forward ----------------------------------------------------------------------------------
    def _check_input(self, name: str, x: torch.Tensor | None) -> torch.Tensor:
        if x is None:
            raise ModelConfigError(
                f"model {self.config.name!r} (modalities {list(self.config.modalities)}) needs input {name!r}"
            )
        if not (torch.jit.is_tracing() or torch.compiler.is_compiling()):
            expected = self.config.input_shape(name, batch=x.shape[0] if x.ndim else 1)
            if tuple(x.shape) != expected:
                raise ModelConfigError(
                    f"input {name!r} of model {self.config.name!r} has shape {tuple(x.shape)}, "
                    f"expected {expected}"
                )
        return x

    def _embed(self, mod: str, x: torch.Tensor, pos: torch.Tensor, segment: int) -> torch.Tensor:
        if mod == "rgb":
            x = (x - self.rgb_mean) / self.rgb_std
        else:
            x = normalise_events(x, self.config.event_norm)
        index = self.config.modalities.index(mod)
        return self.patch_embed[mod](x) + pos + self.modality_embed[index] + self.segment_embed[segment]

    def forward(self, template_rgb: torch.Tensor | None = None,
                template_events: torch.Tensor | None = None,
                search_rgb: torch.Tensor | None = None,
                search_events: torch.Tensor | None = None,
                return_features: bool = False) -> dict[str, object]:
        """Inputs: rgb (B,3,S,S) in [0,1], events (B,bins,S,S) raw voxel grids; only the
        modalities in ``config.modalities`` are needed (others may be None and are ignored).

        Returns ``score_map``, ``size_map``, ``offset_map`` (see CenterHead). With
        ``return_features``: also ``features`` (list per block of (B,N,D) tokens after the block),
        ``attentions`` (list per block of (B,heads,N,N) softmax maps) and ``search_features``
        (B,D,G,G), the map the head reads.
        """
        c = self.config
        inputs = {"template_rgb": template_rgb, "template_events": template_events,
                  "search_rgb": search_rgb, "search_events": search_events}
        tokens = []
        for part, pos, segment in (("template", self.pos_template, 0), ("search", self.pos_search, 1)):
            for mod in c.modalities:
                name = f"{part}_{mod}"
                tokens.append(self._embed(mod, self._check_input(name, inputs[name]), pos, segment))
        x = torch.cat(tokens, dim=1)

        features: list[torch.Tensor] = []
        attentions: list[torch.Tensor] = []
        for block in self.blocks:
            x, attn = block(x, return_features)
            if return_features:
                features.append(x)
                attentions.append(attn)
        x = self.norm(x)

        layout = self.token_layout()
        search = [x[:, layout[f"search_{m}"]] for m in c.modalities]
        fused = search[0] if len(search) == 1 else torch.stack(search, 0).mean(0)
        b, n, d = fused.shape
        g = c.search_grid
        fmap = fused.transpose(1, 2).reshape(b, d, g, g)
        out: dict[str, object] = dict(self.head(fmap))
        if return_features:
            out["features"] = features
            out["attentions"] = attentions
            out["search_features"] = fmap
        return out
