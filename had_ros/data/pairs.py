"""Template/search training pairs from any loaded sequences, batched by a torch DataLoader.

One sample (every value a torch tensor; sizes are the defaults):

- ``template_rgb`` (3, 128, 128), ``search_rgb`` (3, 256, 256): RGB crops in [0, 1] (template 2x,
  search 4x the box side sqrt(w*h), see had_ros.data.crops), padded with the frame's mean colour.
- ``template_events`` (B, 128, 128), ``search_events`` (B, 256, 256): voxel grid (B = 5 bins) of the
  events in (t_frame - window, t_frame] of each crop's frame, window = the frame interval unless
  ``event_window_ns`` is set. Computed in crop coordinates with the same transform as the RGB crop
  (crops.crop_events_voxel), so a pixel of either modality shows the same place.
- ``search_box``, ``template_box`` (4,): the target's cx, cy, w, h divided by the crop side.
- ``center_map`` (1, 16, 16): Gaussian at the target centre on the search crop's feature grid
  (search_size // patch cells), peak exactly 1 at the cell holding the centre (what a focal loss
  counts as positive), sigma = a sixth of the box's geometric side in cells, at least half a cell.
- ``frames`` (3,) int64: sequence index, template frame, search frame (for debugging).
- ``search_events_sub`` (K, B, 256, 256), only with ``sub_windows = K > 0``: the search crop's event
  window cut into K equal, time-ordered sub-windows, each its own voxel grid (temporal distillation).

Sampling: a sequence uniformly among those with a present frame, the search frame uniformly among
its present frames, the template frame among present frames at most ``max_gap`` frames away.
Geometric augmentation: each crop is centred on a jittered box (size * exp(N(0, scale_jitter)),
centre shifted up to center_jitter * sqrt(w*h) / 2; OSTrack's defaults: template none, search 0.25 and
3) and the pair is flipped horizontally with ``flip_prob`` (RGB, events and boxes together).
Photometric augmentation (RGB only): brightness and contrast factors per crop, grayscale per pair.
Every sample is a pure function of (seed, index): ``PairSampler`` hands out fresh indices each pass,
so epochs differ yet a run is reproducible, also across DataLoader workers.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Iterator, Sequence as TypingSequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from had_ros.data.crops import (CropTransform, apply_crop, crop_events_voxel, crop_transform,
                                normalized_cxcywh)
from had_ros.errors import DatasetError
from had_ros.models.config import ModelConfig

# The geometry defaults are the model config's: ModelConfig owns sizes, patch, bins, crop factors and
# the event window; PairConfig.for_model copies them from the model being trained.
_GEOMETRY = ModelConfig()


@dataclass(frozen=True)
class PairConfig:
    """Sizes and augmentation of training pairs (augmentation defaults follow OSTrack / CEUTrack).

    Build it with :meth:`for_model` so the geometry is the model's; the field defaults are those of
    the default ModelConfig."""

    template_factor: float = _GEOMETRY.template_factor
    search_factor: float = _GEOMETRY.search_factor
    template_size: int = _GEOMETRY.template_size
    search_size: int = _GEOMETRY.search_size
    patch: int = _GEOMETRY.patch_size   # center_map cells = search_size // patch
    bins: int = _GEOMETRY.event_bins
    event_window_ns: int | None = _GEOMETRY.event_window_ns  # None: the frame interval
    sub_windows: int = 0                # > 0: also ``search_events_sub`` (K, bins, S, S), see below
    needs_rgb: bool = True              # the model reads RGB: refuse sequences without real frames
    max_gap: int = 100
    template_scale_jitter: float = 0.0
    template_center_jitter: float = 0.0
    search_scale_jitter: float = 0.25
    search_center_jitter: float = 3.0
    flip_prob: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    gray_prob: float = 0.05

    @classmethod
    def for_model(cls, model: ModelConfig, **augmentation) -> "PairConfig":
        """Pairs shaped for ``model``: its crop factors, sizes, patch, bins and event window;
        ``augmentation`` sets the other fields (sub_windows, jitters, flips, ...)."""
        geometry = {"template_factor": float(model.template_factor),
                    "search_factor": float(model.search_factor),
                    "template_size": model.template_size, "search_size": model.search_size,
                    "patch": model.patch_size, "bins": model.event_bins,
                    "event_window_ns": model.event_window_ns, "needs_rgb": model.uses_rgb}
        clash = sorted(set(geometry) & set(augmentation))
        if clash:
            raise DatasetError(f"PairConfig.for_model: {clash} come from the model config, not from "
                               "the pair options; change them in the model config")
        return cls(**geometry, **augmentation)

    def without_augmentation(self) -> "PairConfig":
        """The same sizes with every jitter, flip and photometric change switched off."""
        return replace(self, template_scale_jitter=0.0, template_center_jitter=0.0,
                       search_scale_jitter=0.0, search_center_jitter=0.0, flip_prob=0.0,
                       brightness=0.0, contrast=0.0, gray_prob=0.0)


def jitter_box(box: np.ndarray, rng: np.random.Generator, scale_jitter: float, center_jitter: float) -> np.ndarray:
    """OSTrack-style jitter: size times exp(N(0, scale_jitter)), centre moved uniformly by up to
    center_jitter * sqrt(w*h) / 2 along each axis."""
    x, y, w, h = (float(v) for v in box)
    scale = math.exp(rng.normal(0.0, scale_jitter)) if scale_jitter > 0 else 1.0
    jw, jh = w * scale, h * scale
    shift = math.sqrt(jw * jh) * center_jitter
    cx = x + w / 2 + (shift * (rng.random() - 0.5) if center_jitter > 0 else 0.0)
    cy = y + h / 2 + (shift * (rng.random() - 0.5) if center_jitter > 0 else 0.0)
    return np.array([cx - jw / 2, cy - jh / 2, jw, jh])


def center_map(box_cxcywh: np.ndarray, cells: int) -> np.ndarray:
    """(1, cells, cells) float32 Gaussian for a normalised cx,cy,w,h box (see module docstring)."""
    cx, cy, w, h = (float(v) for v in box_cxcywh)
    ix = min(max(int(math.floor(cx * cells)), 0), cells - 1)
    iy = min(max(int(math.floor(cy * cells)), 0), cells - 1)
    sigma = max(0.5, math.sqrt(max(w, 0.0) * max(h, 0.0)) * cells / 6.0)
    g = np.arange(cells, dtype=np.float64)
    heat = np.exp(-((g[None, :] - ix) ** 2 + (g[:, None] - iy) ** 2) / (2.0 * sigma * sigma))
    return heat.astype(np.float32)[None]


def _photometric(rgb: np.ndarray, rng: np.random.Generator, cfg: PairConfig, gray: bool) -> np.ndarray:
    """Brightness and contrast factors (and grayscale) on a float RGB crop in [0, 1]."""
    out = rgb
    if cfg.brightness > 0:
        out = out * rng.uniform(max(0.0, 1 - cfg.brightness), 1 + cfg.brightness)
    if cfg.contrast > 0:
        mean = out.mean()
        out = (out - mean) * rng.uniform(max(0.0, 1 - cfg.contrast), 1 + cfg.contrast) + mean
    if gray:
        lum = out @ np.array([0.299, 0.587, 0.114], dtype=out.dtype)
        out = np.repeat(lum[:, :, None], 3, axis=2)
    return np.clip(out, 0.0, 1.0)


def _f32(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


class PairDataset(Dataset):
    """Template/search pairs drawn from ``sequences`` (had_ros.data.loaders.Sequence, or anything
    with its ``name, groundtruth, absent, frame(i), frame_window(i, w), events_between(t0, t1)``).

    ``length`` is the number of samples per pass; any non-negative index is valid and gives the
    same sample for the same ``seed``. ``max_cached_sequences`` bounds how many sequences keep
    their event stream in memory (per worker).
    """

    def __init__(self, sequences: TypingSequence, config: PairConfig | None = None, *,
                 length: int = 1000, seed: int = 0, augment: bool = True,
                 max_cached_sequences: int = 8) -> None:
        self.sequences = list(sequences)
        cfg = config or PairConfig()
        self.config = cfg if augment else cfg.without_augmentation()
        self.length = int(length)
        self.seed = int(seed)
        self.max_cached_sequences = max(1, int(max_cached_sequences))
        self._loaded: OrderedDict[int, None] = OrderedDict()
        if self.config.search_size % self.config.patch:
            raise DatasetError(f"search_size {self.config.search_size} is not a multiple of patch {self.config.patch}")
        no_events = [s.name for s in self.sequences if not getattr(s, "has_events", True)]
        if no_events:
            raise DatasetError(
                f"training pairs need events, but sequences {', '.join(no_events[:5])} have none "
                "(e.g. VisEvent without its .aedat4)"
            )
        no_rgb = [s.name for s in self.sequences if self.config.needs_rgb and not getattr(s, "has_rgb", True)]
        if no_rgb:
            raise DatasetError(
                f"the model uses RGB, but sequences {', '.join(no_rgb[:5])} have no RGB frames "
                "(e.g. EventVOT's img/ are event renderings); train an event-only model on them")
        # present frames with a usable box, per sequence
        self._present = []
        for s in self.sequences:
            getattr(s, "frame_times", None)  # resolving frame times may trim a sequence (AEDAT4)
            gt = np.asarray(s.groundtruth)
            ok = ~np.asarray(s.absent) & np.all(np.isfinite(gt), axis=1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
            self._present.append(np.flatnonzero(ok))
        self._usable = [k for k, p in enumerate(self._present) if len(p)]
        if not self._usable:
            raise DatasetError(
                f"no present target in any of the {len(self.sequences)} sequences "
                f"({', '.join(s.name for s in self.sequences[:5])}); expected frames with a visible box"
            )

    def __len__(self) -> int:
        return self.length

    def sample_frames(self, index: int) -> tuple[int, int, int]:
        """(sequence, template frame, search frame) of sample ``index``."""
        return self._draw_frames(self._rng(index))

    def _rng(self, index: int) -> np.random.Generator:
        if index < 0:
            raise IndexError(f"pair index must be >= 0, got {index}")
        return np.random.default_rng([self.seed, int(index)])

    def _draw_frames(self, rng: np.random.Generator) -> tuple[int, int, int]:
        k = self._usable[int(rng.integers(len(self._usable)))]
        present = self._present[k]
        search = int(present[rng.integers(len(present))])
        near = present[np.abs(present - search) <= self.config.max_gap]
        template = int(near[rng.integers(len(near))])
        return k, template, search

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        cfg = self.config
        k, ti, si = self._draw_frames(rng)
        seq = self.sequences[k]
        flip = rng.random() < cfg.flip_prob
        gray = rng.random() < cfg.gray_prob
        t_rgb, t_ev, t_box = self._crop(seq, ti, rng, cfg.template_factor, cfg.template_size,
                                        cfg.template_scale_jitter, cfg.template_center_jitter)
        s_rgb, s_ev, s_box = self._crop(seq, si, rng, cfg.search_factor, cfg.search_size,
                                        cfg.search_scale_jitter, cfg.search_center_jitter)
        self._touch(k)
        if flip:
            t_rgb, s_rgb = t_rgb[:, ::-1], s_rgb[:, ::-1]
            t_ev, s_ev = t_ev[:, :, ::-1], s_ev[:, :, ::-1]
            t_box = np.array([1.0 - t_box[0], t_box[1], t_box[2], t_box[3]])
            s_box = np.array([1.0 - s_box[0], s_box[1], s_box[2], s_box[3]])
        t_rgb = _photometric(t_rgb, rng, cfg, gray)
        s_rgb = _photometric(s_rgb, rng, cfg, gray)
        extra = {}
        if cfg.sub_windows > 0:
            sub = self._sub_windows(seq, si, self._last_search_tf)
            extra["search_events_sub"] = _f32(sub[:, :, :, ::-1] if flip else sub)
        return {**extra,
            "template_rgb": _f32(t_rgb.transpose(2, 0, 1)),
            "template_events": _f32(t_ev),
            "search_rgb": _f32(s_rgb.transpose(2, 0, 1)),
            "search_events": _f32(s_ev),
            "search_box": _f32(s_box),
            "template_box": _f32(t_box),
            "center_map": torch.from_numpy(center_map(s_box, cfg.search_size // cfg.patch)),
            "frames": torch.tensor([k, ti, si], dtype=torch.int64),
        }

    def _crop(self, seq, i: int, rng: np.random.Generator, factor: float, size: int,
              scale_jitter: float, center_jitter: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """RGB crop (float [0,1], HxWx3), event voxel crop (B,H,W) and the normalised target box."""
        box = np.asarray(seq.groundtruth[i], dtype=np.float64)
        jittered = jitter_box(box, rng, scale_jitter, center_jitter)
        tf: CropTransform = crop_transform(jittered, factor, size)
        frame = seq.frame(i)
        rgb = apply_crop(frame, tf, frame.reshape(-1, 3).mean(axis=0)).astype(np.float32) / 255.0
        span = seq.event_span(i, self.config.event_window_ns)
        voxel = crop_events_voxel(seq.events_between(*span), tf, self.config.bins, *span)
        self._last_search_tf = tf
        return rgb, voxel, normalized_cxcywh(tf.box_to_crop(box), size)

    def _sub_windows(self, seq, i: int, tf: CropTransform) -> np.ndarray:
        """(K, bins, S, S): the frame's event window split into K equal time-ordered slices."""
        k = self.config.sub_windows
        t0, t1 = seq.event_span(i, self.config.event_window_ns)
        edges = np.linspace(t0, t1, k + 1).round().astype(np.int64)
        out = []
        for a, b in zip(edges[:-1].tolist(), edges[1:].tolist()):
            b = max(b, a + 1)
            out.append(crop_events_voxel(seq.events_between(a, b), tf, self.config.bins, a, b))
        return np.stack(out)

    def _touch(self, k: int) -> None:
        """Remember that sequence k holds its events; release the least recently used beyond the cap."""
        self._loaded[k] = None
        self._loaded.move_to_end(k)
        while len(self._loaded) > self.max_cached_sequences:
            old, _ = self._loaded.popitem(last=False)
            release = getattr(self.sequences[old], "release", None)
            if release is not None:
                release()


class PairSampler(Sampler[int]):
    """Indices for one pass over a PairDataset: ``length`` fresh indices per pass (pass p yields
    p*length .. (p+1)*length-1, shuffled with the seed), so each epoch sees new pairs and a run
    is reproducible. ``set_epoch`` jumps to a pass (to resume)."""

    def __init__(self, length: int, seed: int = 0, shuffle: bool = True) -> None:
        self.length, self.seed, self.shuffle = int(length), int(seed), shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        base = self.epoch * self.length
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
                 if self.shuffle else np.arange(self.length))
        self.epoch += 1
        return iter((base + order).tolist())



def make_loader(dataset: PairDataset, batch_size: int, workers: int = 0, *, shuffle: bool = True,
                seed: int = 0, drop_last: bool = False, multiprocessing_context: str | None = None) -> DataLoader:
    """A DataLoader over ``dataset`` with ``workers`` processes and a PairSampler (new pairs each
    pass, reproducible from ``seed``). Batches are dicts of stacked tensors.

    Workers are forked by default (``multiprocessing_context`` picks "spawn" or "forkserver").
    They leave OpenCV's thread count alone: cv2.setNumThreads in a forked child hangs once the
    parent has rebuilt OpenCV's pool (the simulator does), so there is no worker_init_fn; torch
    already runs one thread per worker."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=PairSampler(len(dataset), seed=seed, shuffle=shuffle),
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=drop_last,
        multiprocessing_context=multiprocessing_context if workers > 0 else None,
    )
