"""``build_tracker``: one entry from a model, a checkpoint, an exported .onnx or a registry name."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from had_ros.errors import ModelConfigError, TrackingError
from had_ros.models.config import ModelConfig
from had_ros.tracking.backends import Backend, OnnxBackend, TorchBackend
from had_ros.tracking.tracker import Tracker, TrackerConfig

if TYPE_CHECKING:
    from torch import nn

# torch is imported only where a torch model is involved: an exported .onnx on the ONNX Runtime
# backend runs without it (small robots need not install or load it).

log = logging.getLogger(__name__)

UNTRAINED_SEED = 0
# The model used wherever none is named (had eval, make demo, the ROS node): the shipped student
# weights in had_ros/weights/ once they exist, else this registry model (untrained, with a warning).
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_REGISTRY_MODEL = "had_student_event_edge"


def default_model() -> str:
    """The one answer to "which model when none is named": the shipped checkpoint if the package has
    one (``had_ros/weights/<name>.safetensors`` + ``.json``), otherwise the untrained registry model."""
    shipped = sorted(DEFAULT_WEIGHTS_DIR.glob("*.safetensors")) if DEFAULT_WEIGHTS_DIR.is_dir() else []
    return str(shipped[0]) if shipped else DEFAULT_REGISTRY_MODEL


def resolve_model(spec: Any, seed: int = UNTRAINED_SEED) -> "nn.Module":
    """A torch model from a module, a ModelConfig, a checkpoint path or a registry name.

    A registry name builds a randomly initialised model (seeded, so runs are reproducible) and logs
    a warning that it is untrained.
    """
    from torch import nn

    from had_ros.models.checkpoint import is_checkpoint, load_checkpoint
    from had_ros.models.registry import build_model, create_model, list_models

    if isinstance(spec, nn.Module):
        return spec
    if isinstance(spec, ModelConfig):
        return build_model(spec)
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        if path.suffix == ".onnx":
            raise TrackingError(f"{path} is an ONNX file: use backend='onnx' for it")
        if path.exists() or is_checkpoint(path):
            return load_checkpoint(path)
        if str(spec) in list_models():
            log.warning("model %r has no checkpoint: using UNTRAINED random weights (seed %d); "
                        "its tracking results mean nothing", str(spec), seed)
            return create_model(str(spec), init_seed=seed)
        raise ModelConfigError(f"model {str(spec)!r} is neither a checkpoint on disk, an .onnx file, "
                               f"nor a registered model {list_models()}")
    raise TrackingError(f"cannot build a model from a {type(spec).__name__}")


def build_backend(model: Any, backend: str = "torch", device: str = "cpu", precision: str = "fp32",
                  cuda_graphs: bool = False, providers: Sequence[str] | None = None,
                  provider_options: dict[str, dict[str, Any]] | None = None,
                  threads: int | None = None, seed: int = UNTRAINED_SEED) -> Backend:
    """The inference backend for ``model`` (see build_tracker)."""
    if backend == "torch":
        return TorchBackend(resolve_model(model, seed), device=device, precision=precision,
                            cuda_graphs=cuda_graphs, threads=threads)
    if backend == "onnx":
        if isinstance(model, (str, Path)) and Path(model).suffix == ".onnx":
            from had_ros.tracking.onnx_files import read_onnx_config

            return OnnxBackend(Path(model), read_onnx_config(model), providers, provider_options, threads)
        from had_ros.tracking.export import export_onnx

        module = resolve_model(model, seed)
        return OnnxBackend(export_onnx(module), module.config, providers, provider_options, threads)
    raise TrackingError(f"backend {backend!r}: expected 'torch' or 'onnx'")


def build_tracker(model: Any, backend: str = "torch", device: str = "cpu", precision: str = "fp32",
                  cuda_graphs: bool = False, providers: Sequence[str] | None = None,
                  provider_options: dict[str, dict[str, Any]] | None = None,
                  threads: int | None = None, config: TrackerConfig | None = None,
                  seed: int = UNTRAINED_SEED, **tracker_options: Any) -> Tracker:
    """A ready Tracker.

    ``model``: a had_ros model, a ModelConfig, a checkpoint (folder or .safetensors), an exported
    ``.onnx`` (backend "onnx"), or a registry name (untrained, seeded weights, with a warning).
    ``backend``: "torch" (``device``, ``precision`` fp32/fp16, ``cuda_graphs``) or "onnx"
    (``providers`` in order of preference, ``provider_options`` per provider; a torch model is
    exported in memory). ``threads``: CPU threads (torch intra-op / ORT intra_op_num_threads).
    ``tracker_options``: TrackerConfig fields (e.g. lost_threshold=0.3).
    """
    be = build_backend(model, backend, device, precision, cuda_graphs, providers, provider_options,
                       threads, seed)
    cfg = (config or TrackerConfig()).replace(**tracker_options) if tracker_options else config
    return Tracker(be, cfg)
