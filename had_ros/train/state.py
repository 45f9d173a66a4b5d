"""Training checkpoints: safetensors for every tensor (student, distiller, optimizer state, RNG
state), JSON for the rest (step, config, optimizer hyper-parameters, training record). No pickle.

Files per checkpoint: ``OUT/checkpoints/step_NNNNNNN.safetensors`` and ``.json``. The JSON is written
last, both through a temporary file and an atomic rename, so a run killed at any moment leaves
either a complete checkpoint or none: ``latest_checkpoint`` only trusts steps whose JSON exists and
whose safetensors file is readable.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from had_ros.errors import ModelConfigError

STEP_RE = re.compile(r"^step_(\d{7})\.json$")
FORMAT = "had_train_state/1"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as flat tensors ``optim.<param index>.<name>`` plus its JSON-able rest."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, extra in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def strict_load(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, source: str) -> None:
    """Load the ``prefix.*`` tensors into ``module``, refusing (naming them) missing, unexpected or
    mis-shaped tensors."""
    own = module.state_dict()
    got = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    missing = sorted(set(own) - set(got))
    unexpected = sorted(set(got) - set(own))
    shapes = [f"{k}: {tuple(got[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in got and tuple(got[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {prefix} tensors {missing[:8]}")
        if unexpected:
            parts.append(f"unexpected {prefix} tensors {unexpected[:8]}")
        if shapes:
            parts.append(f"mis-shaped {prefix} tensors {shapes[:4]}")
        raise ModelConfigError(f"checkpoint {source} does not match the run: " + "; ".join(parts))
    ref = next(iter(own.values()), None)
    module.load_state_dict({k: v.to(ref.device if ref is not None else "cpu") for k, v in got.items()},
                           strict=True)


def save_state(folder: Path, step: int, modules: dict[str, nn.Module], opt: torch.optim.Optimizer,
               info: dict[str, Any], keep: int = 2) -> Path:
    """Write checkpoint ``step`` into ``folder``; keep the newest ``keep`` checkpoints."""
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().cpu().contiguous()
    opt_tensors, opt_meta = optimizer_tensors(opt)
    tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    stem = folder / f"step_{step:07d}"
    _atomic_write_bytes(stem.with_suffix(".safetensors"), save(tensors, metadata={"format": FORMAT}))
    meta = {"format": FORMAT, "step": int(step), "optimizer": opt_meta, **info}
    _atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(meta, indent=1) + "\n").encode())
    for old in list_checkpoints(folder)[:-keep]:
        for suffix in (".json", ".safetensors"):
            (folder / f"step_{old:07d}{suffix}").unlink(missing_ok=True)
    return stem.with_suffix(".safetensors")


def list_checkpoints(folder: Path) -> list[int]:
    """Steps of the complete checkpoints in ``folder``, ascending."""
    if not folder.is_dir():
        return []
    steps = []
    for p in folder.iterdir():
        m = STEP_RE.match(p.name)
        if m and p.with_suffix(".safetensors").is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, JSON) of a checkpoint given its .safetensors or .json path."""
    from safetensors.torch import load_file

    path = Path(path)
    weights, meta_path = path.with_suffix(".safetensors"), path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelConfigError(f"cannot read training checkpoint {meta_path}: {exc}") from exc
    if meta.get("format") != FORMAT:
        raise ModelConfigError(f"{meta_path}: format {meta.get('format')!r} is not {FORMAT!r}")
    try:
        tensors = load_file(str(weights))
    except Exception as exc:  # SafetensorError, OSError
        raise ModelConfigError(f"cannot read training checkpoint {weights}: {exc}") from exc
    return tensors, meta
