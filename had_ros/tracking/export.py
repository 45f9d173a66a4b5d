"""ONNX export of a tracker model and the check that ONNX Runtime reproduces torch.

The graph's inputs are the model's (``config.input_names``: e.g. ``template_events``,
``search_events`` for the event-only student), float32 NCHW; outputs ``score_map``, ``size_map``,
``offset_map``. Batch is fixed to 1 unless ``dynamic_batch``. The config travels twice: in the ONNX
``metadata_props`` (key ``had_model_config``) and in ``<stem>.json`` beside the file (``model.json``
for ``model.onnx``), which also lists inputs, outputs, opset and the verification result.

Exporter: torch 2.13's default (dynamo) exporter needs the ``onnxscript`` package, which this project
does not depend on; the TorchScript-based exporter (``dynamo=False``) handles this plain-ViT graph
(SDPA, GELU, LayerNorm, BatchNorm folded at export) and is used here.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from had_ros.errors import ModelConfigError
from had_ros.models.config import ModelConfig
from had_ros.tracking.backends import OUTPUT_NAMES
from had_ros.tracking.onnx_files import METADATA_KEY, TRAINED_KEY, read_onnx_config, sidecar_path

__all__ = [
    "DEFAULT_OPSET", "DEFAULT_TOLERANCE", "METADATA_KEY", "example_inputs", "export_onnx",
    "read_onnx_config", "sidecar_path", "verify_onnx", "write_sidecar",
]

DEFAULT_OPSET = 17
# fp32 tolerance of the ORT-vs-torch check: max abs difference of the score logits and of the
# (sigmoid) size and offset maps. Reordered float sums in fused kernels stay well below it.
DEFAULT_TOLERANCE = 1e-4


class _NamedInputs(nn.Module):
    """Positional-input wrapper: ONNX graphs take inputs by position, the model by name."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.names = model.config.input_names

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(**dict(zip(self.names, inputs)))
        return tuple(out[k] for k in OUTPUT_NAMES)


def example_inputs(config: ModelConfig, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs of the right shapes: RGB uniform in [0,1], events sparse signed counts."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in config.input_names:
        shape = config.input_shape(name, batch)
        if name.endswith("rgb"):
            out[name] = rng.random(shape, dtype=np.float32)
        else:
            # Event voxels are mostly zero with small signed counts; test the normalisation too.
            mask = rng.random(shape) < 0.1
            out[name] = (rng.integers(-3, 4, size=shape) * mask).astype(np.float32)
    return out


def export_onnx(model: nn.Module, out: str | Path | None = None, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = False, trained: bool | None = None) -> bytes:
    """Export ``model`` (eval mode, fp32, CPU copy) to ONNX; write it to ``out`` if given and
    return the serialised model. ``trained`` (weights from a checkpoint or a random init) is
    recorded in the metadata so evaluations of the file can say so."""
    import onnx

    config = getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise ModelConfigError(f"export needs a had_ros model with a ModelConfig, got {type(model).__name__}")
    was_training = model.training
    model = model.eval()
    params = list(model.parameters())
    device, dtype = (params[0].device, params[0].dtype) if params else (torch.device("cpu"), torch.float32)
    model.to("cpu", torch.float32)
    try:
        wrapper = _NamedInputs(model).eval()
        args = tuple(torch.from_numpy(v) for v in example_inputs(config).values())
        axes = {n: {0: "batch"} for n in (*config.input_names, *OUTPUT_NAMES)} if dynamic_batch else None
        buf = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter announces its own deprecation; nothing the user can act on.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", message=".*feature will be removed.*")
            torch.onnx.export(wrapper, args, buf, dynamo=False, opset_version=int(opset),
                              input_names=list(config.input_names), output_names=list(OUTPUT_NAMES),
                              dynamic_axes=axes, do_constant_folding=True)
    finally:
        model.to(device, dtype)
        model.train(was_training)
    proto = onnx.load_from_string(buf.getvalue())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, config.to_json()
    if trained is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = TRAINED_KEY, "true" if trained else "false"
    data = proto.SerializeToString()
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    return data


def verify_onnx(model: nn.Module, onnx_model: str | Path | bytes, batch: int = 1, seed: int = 0,
                providers: list[str] | None = None) -> dict[str, float]:
    """Max abs difference per output between torch (fp32, CPU) and ONNX Runtime on random inputs."""
    from had_ros.tracking.backends import OnnxBackend

    inputs = example_inputs(model.config, batch, seed)
    params = list(model.parameters())
    device, dtype = params[0].device, params[0].dtype
    model = model.to("cpu", torch.float32).eval()
    try:
        with torch.inference_mode():
            ref = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    finally:
        model.to(device, dtype)
    ort_out = OnnxBackend(onnx_model, model.config, providers=providers or ["CPUExecutionProvider"]).run(inputs)
    return {k: float(np.max(np.abs(ort_out[k] - ref[k].numpy()))) for k in OUTPUT_NAMES}


def write_sidecar(onnx_path: str | Path, config: ModelConfig, opset: int, dynamic_batch: bool,
                  verification: dict[str, Any] | None = None) -> Path:
    path = sidecar_path(onnx_path)
    info = {
        "format": "had_onnx/1",
        "onnx": Path(onnx_path).name,
        "config": config.to_dict(),
        "inputs": {n: list(config.input_shape(n, 1)) for n in config.input_names},
        "outputs": {"score_map": [1, 1, config.search_grid, config.search_grid],
                    "size_map": [1, 2, config.search_grid, config.search_grid],
                    "offset_map": [1, 2, config.search_grid, config.search_grid]},
        "batch": "dynamic" if dynamic_batch else 1,
        "opset": opset,
        "verification": verification or {},
    }
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return path
