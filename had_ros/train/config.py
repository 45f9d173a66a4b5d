"""Training configs: YAML files checked against one schema, with ``--set key=value`` overrides.

The schema is the DEFAULTS tree below: every key a config may hold, with its default. A key that is
not in the tree, or a value of the wrong kind, is refused with a message naming the dotted key
(``train.lr: expected a number, got 'fast'``). Lists of datasets are checked item by item.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from had_ros.distill.hierarchical import DEFAULT_TERMS
from had_ros.errors import HadError


class ConfigError(HadError):
    """A training config that cannot be used; the message names the key."""


REQUIRED = object()  # marker: the key has no default
NUMBER = (int, float)

DEFAULTS: dict[str, Any] = {
    "out": REQUIRED,                 # run folder: OUT/{config.yaml, checkpoints/, tb/, scalars.jsonl}
    "seed": 0,
    "model": {
        "name": "had_student_event_edge",  # registry name
        "overrides": {},                   # ModelConfig fields (geometry lives here too)
        "init": None,                      # checkpoint to start from (weights only)
    },
    "data": {
        "datasets": [],                    # [{path: DIR, weight: 1.0}, ...] any layout the loaders read
        "shards": None,                    # folder(s) of cached pairs (`had pairs`); replace datasets
        "workers": 0,                      # DataLoader processes (0: in the training process)
        "max_cached_sequences": 8,
        "augment": {},                     # PairConfig augmentation fields (jitters, flips, max_gap...)
    },
    "train": {
        "steps": 1000,
        "batch_size": 16,                  # global batch (split over DDP ranks)
        "lr": 4e-4,
        "min_lr": 1e-5,
        "weight_decay": 0.05,
        "betas": [0.9, 0.999],
        "warmup_steps": 50,
        "schedule": "cosine",              # cosine | step | constant
        "milestones": [],                  # step schedule: steps where lr *= gamma
        "gamma": 0.1,
        "grad_clip": 1.0,                  # max global grad norm (0: off)
        "amp": "bf16",                     # CUDA autocast: bf16 | fp16 | off (the CPU runs fp32)
        "checkpoint_every": 100,
        "keep_checkpoints": 2,
        "log_every": 10,
        "threads": None,                   # torch CPU threads (None: torch's default)
        "device": "auto",                  # auto | cpu | cuda | cuda:N
    },
    "loss": {"focal": 1.0, "l1": 5.0, "giou": 2.0},
    "distill": {
        "teacher": None,                   # teacher checkpoint (frozen); required by `had distill`
        **copy.deepcopy(DEFAULT_TERMS),
    },
}

NULLABLE = {"model.init", "data.shards", "train.threads", "distill.teacher"}
CHOICES = {"train.schedule": ("cosine", "step", "constant"), "train.amp": ("bf16", "fp16", "off")}
FREE_DICTS = {"model.overrides", "data.augment"}  # checked by their own owners (ModelConfig, PairConfig)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, NUMBER):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _check(value: Any, default: Any, key: str) -> Any:
    if default is REQUIRED:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value
    if value is None:
        if key in NULLABLE:
            return None
        raise ConfigError(f"{key}: may not be null (expected {_kind(default)})")
    if key in FREE_DICTS:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        out = {}
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            if k not in default:
                raise ConfigError(f"{sub}: unknown key; {key or 'the top level'} has "
                                  f"{', '.join(sorted(default))}")
            out[k] = _check(v, default[k], sub)
        for k, v in default.items():
            if k not in out:
                sub = f"{key}.{k}" if key else str(k)
                if v is REQUIRED:
                    raise ConfigError(f"{sub}: required key is missing")
                out[k] = copy.deepcopy(v)
        return out
    if key == "data.shards":
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise ConfigError(f"{key}: expected a folder or a list of folders, got {value!r}")
        return list(items)
    if key == "data.datasets":
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list of {{path, weight}}, got {value!r}")
        items = []
        for n, item in enumerate(value):
            if isinstance(item, str):
                item = {"path": item}
            if not isinstance(item, dict):
                raise ConfigError(f"{key}[{n}]: expected {{path: DIR, weight: W}}, got {item!r}")
            bad = sorted(set(item) - {"path", "weight"})
            if bad:
                raise ConfigError(f"{key}[{n}].{bad[0]}: unknown key; a dataset has path, weight")
            if not isinstance(item.get("path"), str):
                raise ConfigError(f"{key}[{n}].path: expected a folder path, got {item.get('path')!r}")
            w = item.get("weight", 1.0)
            if isinstance(w, bool) or not isinstance(w, NUMBER) or not w > 0:
                raise ConfigError(f"{key}[{n}].weight: expected a positive number, got {w!r}")
            items.append({"path": item["path"], "weight": float(w)})
        return items
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, NUMBER) or (default is None and key in NULLABLE and key.endswith("threads")):
        if isinstance(value, str):  # YAML 1.1 reads 2e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, NUMBER):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(default, bool) and not float(value).is_integer():
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return type(default)(value) if isinstance(default, NUMBER) else int(value)
    if isinstance(default, str) or default is None:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"{key}: expected one of {list(CHOICES[key])}, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return value
    return value


def validate(raw: Any, source: str = "config") -> dict[str, Any]:
    """The full config (defaults filled in) of a parsed YAML mapping; ConfigError names bad keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a YAML mapping at the top level, got {type(raw).__name__}")
    try:
        cfg = _check(raw, DEFAULTS, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    t = cfg["train"]
    for key in ("steps", "batch_size", "checkpoint_every", "log_every", "keep_checkpoints"):
        if t[key] < 1:
            raise ConfigError(f"{source}: train.{key}: expected a positive integer, got {t[key]}")
    if t["warmup_steps"] < 0 or t["lr"] <= 0 or t["grad_clip"] < 0:
        raise ConfigError(f"{source}: train.warmup_steps / lr / grad_clip out of range")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], YAML-parsed value)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value (e.g. train.lr=1e-4)")
    key, value = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    return key.split("."), yaml.safe_load(value) if value.strip() else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``raw`` with each ``key=value`` set (creating mappings on the way; validate() checks keys)."""
    raw = copy.deepcopy(raw)
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is None:
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"--set {text}: {part} is not a mapping")
            node = nxt
        node[path[-1]] = value
    return raw


def load_config(path: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Read, override and validate a YAML training config."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return validate(apply_overrides(raw, overrides or []), str(path))
