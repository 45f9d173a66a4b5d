"""Checkpoints: weights in safetensors plus the model config in JSON. Never pickle.

Layouts written and read:
  * a folder ``DIR/`` holding ``model.safetensors`` and ``config.json`` (the default), or
  * a file ``NAME.safetensors`` with ``NAME.json`` beside it (several checkpoints in one folder).
The config is also stored in the safetensors metadata, so a lone weights file still loads.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from had_ros.errors import ModelConfigError
from had_ros.models.config import ModelConfig
from had_ros.models.registry import build_model
from had_ros.models.vit_tracker import OneStreamTracker

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# Fields that do not change the set or shape of tensors; a checkpoint may differ in them.
NON_ARCHITECTURE_FIELDS = frozenset({"name", "init_seed", "extra", "drop_path_rate"})


def checkpoint_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights file, config file) for a checkpoint folder or a ``.safetensors`` file path."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return path, path.with_suffix(".json")
    if path.suffix == ".json":
        if path.name == CONFIG_NAME:
            return path.parent / WEIGHTS_NAME, path
        return path.with_suffix(".safetensors"), path
    return path / WEIGHTS_NAME, path / CONFIG_NAME


def save_checkpoint(model: OneStreamTracker, path: str | Path,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write the model's weights and config; returns the weights file path."""
    if not hasattr(model, "config") or not isinstance(model.config, ModelConfig):
        raise ModelConfigError(f"save_checkpoint needs a had_ros model with a ModelConfig, got {type(model).__name__}")
    from safetensors.torch import save_file

    weights, config_path = checkpoint_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "had_model/1", "config": model.config.to_json()}
    meta.update(metadata or {})
    save_file(tensors, str(weights), metadata=meta)
    config_path.write_text(model.config.to_json() + "\n", encoding="utf-8")
    return weights


def _read_tensors(weights: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    if not weights.is_file():
        raise ModelConfigError(f"checkpoint weights file {weights} does not exist")
    try:
        with safe_open(str(weights), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises SafetensorError or OSError/ValueError variants
        raise ModelConfigError(
            f"cannot read checkpoint weights {weights}: not a valid safetensors file ({exc})"
        ) from exc
    return tensors, meta


def read_checkpoint_config(path: str | Path) -> ModelConfig:
    """The config of a checkpoint: its JSON file, or the weights' metadata if the JSON is absent."""
    weights, config_path = checkpoint_paths(path)
    if config_path.is_file():
        return ModelConfig.load(config_path)
    if weights.is_file():
        _, meta = _read_tensors(weights)
        if "config" in meta:
            return ModelConfig.from_json(meta["config"], source=f"{weights} (metadata)")
    raise ModelConfigError(
        f"no checkpoint at {path}: expected {config_path} (model config) and {weights} (weights)"
    )


def check_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Refuse (ModelConfigError) unless ``tensors`` has exactly the model's tensor names and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    problems = []
    for k in expected:
        if k in tensors and tuple(tensors[k].shape) != tuple(expected[k].shape):
            problems.append(
                f"tensor {k!r}: model expects shape {tuple(expected[k].shape)}, "
                f"{source} has {tuple(tensors[k].shape)}"
            )
    if missing:
        problems.append(f"tensor(s) missing from {source}: {missing[:8]}" + (" ..." if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected tensor(s) in {source}: {unexpected[:8]}" + (" ..." if len(unexpected) > 8 else ""))
    if problems:
        raise ModelConfigError("checkpoint does not match the model: " + "; ".join(problems))


def _config_mismatch(model_config: ModelConfig, ckpt_config: ModelConfig, source: str) -> None:
    diff = {k: v for k, v in model_config.diff(ckpt_config).items()
            if k not in NON_ARCHITECTURE_FIELDS and k != "format"}
    if diff:
        fields = ", ".join(f"{k}: model {a!r} vs checkpoint {b!r}" for k, (a, b) in sorted(diff.items()))
        raise ModelConfigError(f"checkpoint {source} was saved for a different model config ({fields})")


def load_weights(model: OneStreamTracker, path: str | Path) -> OneStreamTracker:
    """Load a checkpoint's weights into an existing model, refusing any config or tensor mismatch."""
    weights, config_path = checkpoint_paths(path)
    tensors, meta = _read_tensors(weights)
    ckpt_config = None
    if config_path.is_file():
        ckpt_config = ModelConfig.load(config_path)
    elif "config" in meta:
        ckpt_config = ModelConfig.from_json(meta["config"], source=f"{weights} (metadata)")
    if ckpt_config is not None and isinstance(getattr(model, "config", None), ModelConfig):
        _config_mismatch(model.config, ckpt_config, str(path))
    check_state_dict(model, tensors, str(weights))
    ref = next(iter(model.state_dict().values()))
    model.load_state_dict({k: v.to(ref.device) for k, v in tensors.items()}, strict=True)
    return model


def load_checkpoint(path: str | Path, **overrides: Any) -> OneStreamTracker:
    """Rebuild a model from a checkpoint's config (with optional overrides) and load its weights."""
    config = read_checkpoint_config(path)
    if overrides:
        config = config.replace(**overrides)
    weights, _ = checkpoint_paths(path)
    tensors, _ = _read_tensors(weights)
    model = build_model(config)
    check_state_dict(model, tensors, str(weights))
    model.load_state_dict(tensors, strict=True)
    return model.eval()


def training_record(config: ModelConfig) -> dict[str, Any] | None:
    """The training record `had train` / `had distill` wrote into a checkpoint's config
    (``extra.training``), or None when the checkpoint records none."""
    record = config.extra.get("training") if isinstance(config.extra, dict) else None
    return record if isinstance(record, dict) else None


def checkpoint_trained(path: str | Path) -> bool | None:
    """Whether a checkpoint's weights were trained, read from its training record: True/False as
    recorded, None when the checkpoint carries no record (never guessed from the file name)."""
    record = training_record(read_checkpoint_config(path))
    if record is None or not isinstance(record.get("trained"), bool):
        return None
    return record["trained"]


def is_checkpoint(path: str | Path) -> bool:
    """True if ``path`` looks like a checkpoint (folder or file) on disk."""
    weights, config_path = checkpoint_paths(path)
    return weights.is_file() or config_path.is_file()


def describe_checkpoint(path: str | Path) -> dict[str, Any]:
    """Config, tensor count and number of float values (parameters and BN statistics) of a checkpoint."""
    config = read_checkpoint_config(path)
    weights, _ = checkpoint_paths(path)
    tensors, meta = _read_tensors(weights)
    return {"config": json.loads(config.to_json()), "tensors": len(tensors),
            "float_values": int(sum(t.numel() for t in tensors.values() if t.is_floating_point())),
            "metadata": {k: v for k, v in meta.items() if k != "config"}}
