"""Model registry: named default configs and the one ``create_model(name, **overrides)`` entry."""
from __future__ import annotations

from typing import Any, Callable

import torch

from had_ros.errors import ModelConfigError
from had_ros.models.config import ModelConfig
from had_ros.models.vit_tracker import OneStreamTracker

_REGISTRY: dict[str, Callable[[], ModelConfig]] = {}


def register_model(fn: Callable[[], ModelConfig]) -> Callable[[], ModelConfig]:
    """Register a function returning a default ModelConfig under the function's name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The registered default config of ``name`` with ``overrides`` applied (validated)."""
    if name not in _REGISTRY:
        raise ModelConfigError(f"unknown model {name!r}; registered models: {list_models()}")
    return _REGISTRY[name]().replace(**overrides)


def build_model(config: ModelConfig) -> OneStreamTracker:
    """The module described by ``config``. With ``config.init_seed`` set, initialisation is
    reproducible and leaves the global RNG untouched."""
    if config.init_seed is None:
        return OneStreamTracker(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.init_seed)
        return OneStreamTracker(config)


def create_model(name: str, **overrides: Any) -> OneStreamTracker:
    """Build a registered model, e.g. ``create_model("had_student_event_edge", depth=2)``."""
    return build_model(model_config(name, **overrides))


# --- registered models --------------------------------------------------------------------------

@register_model
def had_teacher_base() -> ModelConfig:
    """RGB + event teacher, ViT-Base (depth 12, width 768, 12 heads)."""
    return ModelConfig(name="had_teacher_base", modalities=("rgb", "events"), embed_dim=768,
                       depth=12, num_heads=12, head_channels=256, head_layers=3)


@register_model
def had_teacher_small() -> ModelConfig:
    """RGB + event teacher, ViT-Small (depth 12, width 384, 6 heads); override depth/width freely."""
    return ModelConfig(name="had_teacher_small", modalities=("rgb", "events"), embed_dim=384,
                       depth=12, num_heads=6, head_channels=128, head_layers=3)


@register_model
def had_student_event_edge() -> ModelConfig:
    """Event-only student for edge devices, as in the HAD paper: 4 blocks, width 192, 3 heads."""
    return ModelConfig(name="had_student_event_edge", modalities=("events",), embed_dim=192,
                       depth=4, num_heads=3, head_channels=64, head_layers=2)


@register_model
def had_student_rgbe_edge() -> ModelConfig:
    """RGB + event student of the edge size (4 blocks, width 192, 3 heads)."""
    return ModelConfig(name="had_student_rgbe_edge", modalities=("rgb", "events"), embed_dim=192,
                       depth=4, num_heads=3, head_channels=64, head_layers=2)


@register_model
def had_student_event_small() -> ModelConfig:
    """Event-only student, a middle size for GPUs/Jetson Orin: 6 blocks, width 384, 6 heads."""
    return ModelConfig(name="had_student_event_small", modalities=("events",), embed_dim=384,
                       depth=6, num_heads=6, head_channels=128, head_layers=2)
