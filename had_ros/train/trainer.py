"""The training loop of `had train` (tracking losses) and `had distill` (tracking + HAD terms).

Run folder ``OUT/``: ``config.yaml`` (the validated config), ``checkpoints/step_*.safetensors|json``
(see had_ros.train.state), ``tb/`` (TensorBoard events), ``scalars.jsonl`` and, at the end,
``student.safetensors`` + ``student.json``: the trained model as a had_ros checkpoint whose config
carries the training record under ``extra.training`` (trained, steps, pairs, data, date, ...).

Determinism: pair i is a pure function of (seed, i) and step s uses pairs s*B .. (s+1)*B - 1, so a
run resumed from a checkpoint sees the same batches as an uninterrupted one; with the optimizer
state and RNG state restored, a CPU run resumes to the same weights.

Scale-out: under ``torchrun --nproc_per_node N`` (WORLD_SIZE > 1) the student and distiller run as
one DistributedDataParallel module (gloo on the CPU, nccl on CUDA); each rank takes every N-th pair
of the global batch, gradients are averaged, rank 0 logs and writes checkpoints.
"""
from __future__ import annotations

import datetime as _dt
import gc
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from had_ros.distill.hierarchical import Distiller
from had_ros.distill.tracking_loss import tracking_losses
from had_ros.errors import HadError, ModelConfigError
from had_ros.train import state as st
from had_ros.train.config import ConfigError
from had_ros.train.data import StepBatches, open_pairs, open_shards, read_shard_index
from had_ros.train.scalars import ScalarLog

INPUT_KEYS = ("template_rgb", "template_events", "search_rgb", "search_events")


class TrainModule(nn.Module):
    """Student (+ distiller) as one module, so DDP, the optimizer and checkpoints see all of it.
    ``forward(batch)`` returns the weighted loss terms (and the monitor ``iou``)."""

    def __init__(self, student: nn.Module, distiller: Distiller | None, teacher: nn.Module | None,
                 loss_weights: dict[str, float]) -> None:
        super().__init__()
        self.student = student
        self.distiller = distiller
        self.loss_weights = dict(loss_weights)
        # The frozen teacher is held outside the module tree: not trained, not saved, not in DDP.
        self._teacher = [teacher] if teacher is not None else []

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s_cfg = self.student.config
        inputs = {k: batch[k] for k in INPUT_KEYS if k.split("_", 1)[1] in s_cfg.modalities}
        distill = self.distiller is not None
        out = self.student(**inputs, return_features=distill)
        terms = tracking_losses(out, batch, self.loss_weights)
        if distill:
            teacher = self._teacher[0]
            with torch.no_grad():
                t_in = {k: batch[k] for k in INPUT_KEYS if k.split("_", 1)[1] in teacher.config.modalities}
                t_out = teacher(**t_in, return_features=True)
            terms.update(self.distiller(self.student, out, t_out, teacher.token_layout(),
                                        teacher.config.modalities, batch))
        return terms


def lr_at(step: int, t: dict[str, Any]) -> float:
    """Learning rate of step ``step``: linear warm-up, then cosine / step decay / constant."""
    base, warm = t["lr"], t["warmup_steps"]
    if warm and step < warm:
        return base * (step + 1) / warm
    if t["schedule"] == "constant":
        return base
    if t["schedule"] == "step":
        return base * t["gamma"] ** sum(1 for m in t["milestones"] if step >= m)
    span = max(1, t["steps"] - warm)
    progress = min(1.0, (step - warm) / span)
    return t["min_lr"] + (base - t["min_lr"]) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or name.endswith(".bias") or "pos_" in name or "_embed" in name.rsplit(".", 1)[-1]:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device: {spec!r} but CUDA is not available")
    return dev


def build_student(cfg: dict[str, Any]):
    from had_ros.models.checkpoint import load_weights
    from had_ros.models.registry import build_model, model_config

    overrides = dict(cfg["model"]["overrides"])
    overrides.setdefault("init_seed", cfg["seed"])
    try:
        mcfg = model_config(cfg["model"]["name"], **overrides)
    except ModelConfigError as exc:
        raise ConfigError(f"model: {exc}") from exc
    student = build_model(mcfg)
    if cfg["model"]["init"]:
        load_weights(student, cfg["model"]["init"])
    return student


def load_teacher(path: str, student_config) -> nn.Module:
    """The frozen teacher of a distillation, refused unless it sees the same crops as the student."""
    from had_ros.models.checkpoint import load_checkpoint

    teacher = load_checkpoint(path)
    same = ("template_factor", "search_factor", "template_size", "search_size", "event_bins",
            "event_window_ns", "event_representation")
    diff = {k: (getattr(teacher.config, k), getattr(student_config, k)) for k in same
            if getattr(teacher.config, k) != getattr(student_config, k)}
    if diff:
        raise ConfigError("distill.teacher: teacher and student must see the same pairs; they differ in "
                          + ", ".join(f"{k} (teacher {a!r}, student {b!r})" for k, (a, b) in diff.items()))
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def training_record(cfg: dict[str, Any], mode: str, step: int, wall_s: float, world: int,
                    data_info: dict[str, Any], teacher_record: Any) -> dict[str, Any]:
    return {
        "trained": True,
        "mode": mode,
        "steps": int(step),
        "batch_size": cfg["train"]["batch_size"],
        "pairs_seen": int(step) * cfg["train"]["batch_size"],
        "data": data_info,
        "loss": cfg["loss"],
        "distill": ({k: v for k, v in cfg["distill"].items()} if mode == "distill" else None),
        "teacher": teacher_record,
        "seed": cfg["seed"],
        "processes": world,
        "wall_s": round(wall_s, 1),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__,
    }


def run(cfg: dict[str, Any], mode: str = "train", resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train per ``cfg`` (a validated config); returns a summary (final step, losses, paths)."""
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    t = cfg["train"]
    device = _device(t["device"])
    if world > 1:
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if t["threads"]:
        torch.set_num_threads(int(t["threads"]))
    out = Path(cfg["out"])
    ckpt_dir = out / "checkpoints"
    main = rank == 0
    torch.manual_seed(cfg["seed"])

    student = build_student(cfg)
    teacher = distiller = None
    teacher_record = None
    if mode == "distill":
        if not cfg["distill"]["teacher"]:
            raise ConfigError("distill.teacher: `had distill` needs a teacher checkpoint")
        teacher = load_teacher(cfg["distill"]["teacher"], student.config).to(device)
        teacher_record = {"checkpoint": str(cfg["distill"]["teacher"]),
                          "model": teacher.config.name,
                          "training": teacher.config.extra.get("training")}
        terms = {k: v for k, v in cfg["distill"].items() if k != "teacher"}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg["seed"] + 1)
            distiller = Distiller(student.config, teacher.config, terms)
    module = TrainModule(student, distiller, teacher, cfg["loss"]).to(device)
    opt = torch.optim.AdamW(_param_groups(module, t["weight_decay"]), lr=t["lr"], betas=tuple(t["betas"]))

    start = 0
    if resume:
        steps_done = st.list_checkpoints(ckpt_dir)
        if steps_done:
            tensors, meta = st.read_state(ckpt_dir / f"step_{steps_done[-1]:07d}.json")
            st.strict_load(module.student, tensors, "student", str(ckpt_dir))
            if module.distiller is not None:
                st.strict_load(module.distiller, tensors, "distiller", str(ckpt_dir))
            elif any(k.startswith("distiller.") for k in tensors):
                raise ModelConfigError(f"checkpoint in {ckpt_dir} has distiller tensors but this run has none")
            st.load_optimizer(opt, tensors, meta["optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
            start = int(meta["step"])
    elif main and st.list_checkpoints(ckpt_dir):
        raise HadError(f"{ckpt_dir} already holds checkpoints: pass --resume to continue that run, or "
                       "choose another out folder")
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    sub_windows = distiller.needs_sub_windows if distiller is not None else 0
    data_cfg = cfg["data"]
    if data_cfg["shards"]:
        dataset = open_shards(data_cfg["shards"], student.config, cfg["seed"], sub_windows)
        indexes = [read_shard_index(Path(f)) for f in data_cfg["shards"]]
        data_info = {"shards": data_cfg["shards"], "cached_pairs": [i["count"] for i in indexes],
                     "source": [i.get("source") for i in indexes]}
    else:
        augment = dict(data_cfg["augment"])
        if sub_windows:
            augment["sub_windows"] = sub_windows
        dataset = open_pairs(data_cfg["datasets"], student.config, augment, cfg["seed"],
                             data_cfg["max_cached_sequences"])
        data_info = {"datasets": data_cfg["datasets"], "augment": augment}
    loader = DataLoader(dataset, batch_sampler=StepBatches(start, t["steps"], t["batch_size"], rank, world),
                        num_workers=data_cfg["workers"], persistent_workers=False)

    model = module
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None)
    model.train()
    if teacher is not None:
        teacher.eval()
    amp = t["amp"] if device.type == "cuda" else "off"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
    log = ScalarLog(out, enabled=main)
    bar = tqdm(total=t["steps"], initial=start, desc=f"{mode} {out.name}", unit="step",
               disable=not (main and progress), dynamic_ncols=True)
    t0 = time.perf_counter()
    last_t, last_step = t0, start
    history: list[dict[str, float]] = []
    step = start
    wall_before = 0.0
    if resume and start:
        wall_before = float(meta.get("wall_s", 0.0))
    try:
        for step, batch in enumerate(loader, start):
            lr = lr_at(step, t)
            for g in opt.param_groups:
                g["lr"] = lr
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                terms = model(batch)
            loss = sum(v for k, v in terms.items() if k != "iou")
            if not torch.isfinite(loss):
                raise HadError(f"step {step}: loss is {loss.item()} ({ {k: float(v) for k, v in terms.items()} }); "
                               "lower train.lr or check the data")
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
            else:
                loss.backward()
            gnorm = (nn.utils.clip_grad_norm_(module.parameters(), t["grad_clip"])
                     if t["grad_clip"] > 0 else torch.tensor(0.0))
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            done = step + 1
            values = {k: v.detach().float() for k, v in terms.items()}
            values["loss"] = loss.detach().float()
            if world > 1:
                keys = sorted(values)
                vec = torch.stack([values[k] for k in keys]).to(device)
                dist.all_reduce(vec)
                values = {k: v / world for k, v in zip(keys, vec)}
            row = {k: float(v) for k, v in values.items()}
            history.append(row)
            bar.update(1)
            if main and (done % t["log_every"] == 0 or done == t["steps"]):
                now = time.perf_counter()
                pairs_s = (done - last_step) * t["batch_size"] / max(now - last_t, 1e-9)
                last_t, last_step = now, done
                log.log(done, {**{f"loss/{k}": v for k, v in row.items() if k not in ("iou",)},
                               "train/iou": row.get("iou", 0.0), "train/lr": lr,
                               "train/grad_norm": float(gnorm), "train/pairs_per_s": pairs_s})
                bar.set_postfix(loss=f"{row['loss']:.3f}", iou=f"{row.get('iou', 0):.2f}",
                                pairs_s=f"{pairs_s:.1f}")
            if done % t["checkpoint_every"] == 0 or done == t["steps"]:
                if main:
                    info = {"config": cfg, "mode": mode, "world_size": world,
                            "wall_s": wall_before + time.perf_counter() - t0}
                    mods = {"student": module.student}
                    if module.distiller is not None:
                        mods["distiller"] = module.distiller
                    st.save_state(ckpt_dir, done, mods, opt, info, keep=t["keep_checkpoints"])
                if world > 1:
                    dist.barrier()
        step = max(step + 1, start) if t["steps"] > start else start
    finally:
        bar.close()
        log.close()
    final = t["steps"] if start <= t["steps"] else start
    wall = wall_before + time.perf_counter() - t0
    summary = {"steps": final, "start": start, "history": history, "out": str(out), "log": log.backend}
    if main:
        record = training_record(cfg, mode, final, wall, world, data_info, teacher_record)
        summary["student"] = str(export_student(module.student, out / "student.safetensors", record))
    if world > 1:
        dist.barrier()
        # Drop the DDP wrapper (its reducer holds gloo work objects) and the loader before the process
        # group goes, so no gloo thread still references Python objects at interpreter exit (a rare
        # SIGABRT, "terminate called without an active exception", seen here under load).
        del model, loader
        gc.collect()
        dist.destroy_process_group()
    return summary


def export_student(student: nn.Module, path: Path, record: dict[str, Any]) -> Path:
    """The trained student as a had_ros checkpoint (safetensors + JSON) whose config records how it
    was trained (``extra.training``)."""
    from had_ros.models.checkpoint import save_checkpoint

    cfg = student.config
    extra = dict(cfg.extra)
    extra["training"] = record
    student.config = cfg.replace(extra=extra, init_seed=None)
    try:
        return save_checkpoint(student, path, metadata={"trained": "true",
                                                        "training": json.dumps(record)})
    finally:
        student.config = cfg


__all__ = ["TrainModule", "build_student", "export_student", "load_teacher", "lr_at", "run"]
