"""Tracker models: one-stream ViT teacher and students, built from a registry and a JSON config.

Names are loaded on first use (PEP 562), so ``from had_ros.models import ModelConfig`` does not
import torch: an ONNX-only deployment reads configs without it.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelConfig": "config",
    "Attention": "layers", "Block": "layers", "Mlp": "layers", "PatchEmbed": "layers",
    "CenterHead": "heads",
    "OneStreamTracker": "vit_tracker", "normalise_events": "vit_tracker",
    "build_model": "registry", "create_model": "registry", "list_models": "registry",
    "model_config": "registry", "register_model": "registry",
    "is_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "load_weights": "checkpoint",
    "read_checkpoint_config": "checkpoint", "save_checkpoint": "checkpoint",
    "checkpoint_trained": "checkpoint", "training_record": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"had_ros.models.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'had_ros.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
