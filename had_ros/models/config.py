"""The one config schema of every tracker model: a frozen dataclass that round-trips through JSON.

Every architectural choice (sizes, depth, width, modalities, event bins, normalisation, head) is a
field here, so ablations are config switches and a checkpoint's ``config.json`` rebuilds the exact
module that produced its weights.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from had_ros.errors import ModelConfigError

CONFIG_FORMAT = "had_model/1"
MODALITIES = ("rgb", "events")
EVENT_NORMS = ("log1p_rms", "log1p", "none")
EVENT_REPRESENTATIONS = ("voxel_grid",)
STEMS = ("patch", "conv")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a one-stream ViT tracker (OSTrack/CEUTrack line) and its center head.

    ``modalities`` lists the inputs the model consumes, in token order: ``("rgb", "events")`` for a
    teacher or an RGB+event student, ``("events",)`` for the event-only student of the HAD paper.
    ``event_norm`` says how the raw voxel grid is normalised inside the model (see
    ``had_ros.models.vit_tracker.normalise_events``).
    """

    name: str = "custom"
    modalities: tuple[str, ...] = ("rgb", "events")
    patch_size: int = 16
    # How crops become tokens: "patch" = one p x p convolution (plain ViT), "conv" = a stack of
    # stride-2 3x3 convolutions (ConvStem in had_ros.models.layers; patch_size a power of 2).
    stem: str = "patch"
    template_size: int = 128
    search_size: int = 256
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    drop_path_rate: float = 0.0
    event_bins: int = 5
    event_norm: str = "log1p_rms"
    head_channels: int = 256
    head_layers: int = 3
    # Geometry of the inputs (not of the tensors): the one source of truth that training pairs
    # (PairConfig.for_model), the tracker (TrackerConfig) and the export read. Crops are the square of
    # factor * sqrt(w*h) around the box; events are the ``event_representation`` of the events in
    # (t_frame - event_window_ns, t_frame] (None: the frame interval).
    template_factor: float = 2.0
    search_factor: float = 4.0
    event_window_ns: int | None = None
    event_representation: str = "voxel_grid"
    init_seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Accept lists (from JSON) but store tuples so the config stays hashable and frozen.
        object.__setattr__(self, "modalities", tuple(self.modalities))
        self.validate()

    # derived sizes ----------------------------------------------------------------------------
    @property
    def template_grid(self) -> int:
        return self.template_size // self.patch_size

    @property
    def search_grid(self) -> int:
        """Side of the score/size/offset maps (16 for search 256, patch 16)."""
        return self.search_size // self.patch_size

    @property
    def uses_rgb(self) -> bool:
        return "rgb" in self.modalities

    @property
    def uses_events(self) -> bool:
        return "events" in self.modalities

    @property
    def input_names(self) -> tuple[str, ...]:
        """Model inputs in call order, limited to the modalities this model consumes."""
        names = []
        for part in ("template", "search"):
            for mod in ("rgb", "events"):
                if mod in self.modalities:
                    names.append(f"{part}_{mod}")
        return tuple(names)

    def input_shape(self, name: str, batch: int = 1) -> tuple[int, int, int, int]:
        """Shape of one named input at the given batch size."""
        part, mod = name.split("_", 1)
        size = self.template_size if part == "template" else self.search_size
        channels = 3 if mod == "rgb" else self.event_bins
        return (batch, channels, size, size)

    # checks -----------------------------------------------------------------------------------
    def validate(self) -> None:
        def bad(field_name: str, expected: str) -> ModelConfigError:
            return ModelConfigError(
                f"model config {self.name!r}: field {field_name!r} = {getattr(self, field_name)!r}, "
                f"expected {expected}"
            )

        if not self.modalities or any(m not in MODALITIES for m in self.modalities) \
                or len(set(self.modalities)) != len(self.modalities):
            raise bad("modalities", f"a non-empty list of distinct values from {list(MODALITIES)}")
        for name in ("patch_size", "template_size", "search_size", "embed_dim", "depth",
                     "num_heads", "event_bins", "head_channels", "head_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise bad(name, "a positive integer")
        if self.template_size % self.patch_size:
            raise bad("template_size", f"a multiple of patch_size {self.patch_size}")
        if self.search_size % self.patch_size:
            raise bad("search_size", f"a multiple of patch_size {self.patch_size}")
        if self.embed_dim % self.num_heads:
            raise bad("embed_dim", f"divisible by num_heads {self.num_heads}")
        if not (isinstance(self.mlp_ratio, (int, float)) and self.mlp_ratio > 0):
            raise bad("mlp_ratio", "a positive number")
        if not (0.0 <= float(self.drop_path_rate) < 1.0):
            raise bad("drop_path_rate", "a number in [0, 1)")
        for name in ("template_factor", "search_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise bad(name, "a positive number")
        if self.event_window_ns is not None and (
                isinstance(self.event_window_ns, bool) or not isinstance(self.event_window_ns, int)
                or self.event_window_ns <= 0):
            raise bad("event_window_ns", "null (the frame interval) or a positive integer of nanoseconds")
        if self.stem not in STEMS:
            raise bad("stem", f"one of {list(STEMS)}")
        if self.stem == "conv":
            p = self.patch_size
            if p < 2 or p & (p - 1):
                raise bad("patch_size", "a power of 2 (>= 2) with stem 'conv'")
            if self.embed_dim % (p // 2):
                raise bad("embed_dim", f"divisible by patch_size / 2 = {p // 2} with stem 'conv'")
        if self.event_representation not in EVENT_REPRESENTATIONS:
            raise bad("event_representation", f"one of {list(EVENT_REPRESENTATIONS)}")
        if self.event_norm not in EVENT_NORMS:
            raise bad("event_norm", f"one of {list(EVENT_NORMS)}")
        if not isinstance(self.extra, dict):
            raise bad("extra", "a JSON object")

    # (de)serialisation ------------------------------------------------------------------------
    def replace(self, **overrides: Any) -> "ModelConfig":
        """A copy with some fields changed; an unknown field name raises ModelConfigError."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ModelConfigError(
                f"unknown model config field(s) {unknown} for {self.name!r}; known fields: {sorted(known)}"
            )
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["modalities"] = list(self.modalities)
        return {"format": CONFIG_FORMAT, **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "ModelConfig":
        if not isinstance(data, dict):
            raise ModelConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        fmt = data.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise ModelConfigError(f"{source}: format {fmt!r} is not {CONFIG_FORMAT!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelConfigError(f"{source}: unknown model config field(s) {unknown}")
        try:
            return cls(**data)
        except TypeError as exc:  # e.g. a field of the wrong kind that dataclass itself rejects
            raise ModelConfigError(f"{source}: {exc}") from exc
        except ModelConfigError as exc:
            raise ModelConfigError(f"{source}: {exc}") from exc

    @classmethod
    def from_json(cls, text: str, source: str = "config") -> "ModelConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelConfigError(f"{source}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ModelConfigError(f"cannot read model config {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise ModelConfigError(f"model config {path} is not UTF-8 text") from exc
        return cls.from_json(text, source=str(path))

    def diff(self, other: "ModelConfig") -> dict[str, tuple[Any, Any]]:
        """Fields whose values differ: name -> (self's value, other's value)."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b.get(k)}
