"""Inference backends behind one interface: ``backend.run(inputs) -> outputs`` on numpy arrays.

* TorchBackend: a had_ros model in PyTorch, CPU or CUDA, fp32 or fp16, optionally replayed through
  a captured CUDA graph (the tracker's forward has fixed shapes, so one capture serves every frame).
* OnnxBackend: an exported ``.onnx`` graph in ONNX Runtime with execution providers tried in order
  (e.g. TensorRT, CUDA, CPU) and per-provider options; providers this onnxruntime build lacks are
  dropped with a logged warning.
Inputs are named as the model's (``template_rgb``, ``template_events``, ``search_rgb``,
``search_events``, only those of its modalities), float32 (B, C, S, S); outputs are ``score_map``,
``size_map``, ``offset_map`` as float32 numpy arrays.
"""
from __future__ import annotations

import copy
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from had_ros.errors import TrackingError
from had_ros.models.config import ModelConfig

log = logging.getLogger(__name__)

OUTPUT_NAMES = ("score_map", "size_map", "offset_map")
DEFAULT_ORT_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


class Backend(ABC):
    """Runs the tracker network on named numpy inputs."""

    config: ModelConfig
    name: str

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Forward pass: inputs by name -> ``score_map``, ``size_map``, ``offset_map``."""

    def describe(self) -> str:
        return self.name

    def _check_inputs(self, inputs: dict[str, np.ndarray]) -> None:
        for key in self.config.input_names:
            if key not in inputs or inputs[key] is None:
                raise TrackingError(f"backend {self.name}: missing input {key!r} "
                                    f"(model needs {list(self.config.input_names)})")
            batch = inputs[key].shape[0] if inputs[key].ndim else 0
            expected = self.config.input_shape(key, batch)
            if tuple(inputs[key].shape) != expected:
                raise TrackingError(f"backend {self.name}: input {key!r} has shape "
                                    f"{tuple(inputs[key].shape)}, expected {expected}")


# --- torch ---------------------------------------------------------------------------------------

class TorchBackend(Backend):
    """A torch module (a had_ros model, or any module with a ``config`` and the same call) on CPU or
    CUDA. ``precision="fp16"`` and ``cuda_graphs=True`` need CUDA; on the CPU they are refused with a
    logged warning and the backend runs fp32 without graphs."""

    def __init__(self, model: Any, device: str = "cpu", precision: str = "fp32",
                 cuda_graphs: bool = False, threads: int | None = None) -> None:
        import torch

        if not isinstance(getattr(model, "config", None), ModelConfig):
            raise TrackingError(f"TorchBackend needs a model with a ModelConfig `.config`, got {type(model).__name__}")
        if precision not in ("fp32", "fp16"):
            raise TrackingError(f"precision {precision!r}: expected 'fp32' or 'fp16'")
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TrackingError(f"device {device!r} requested but CUDA is not available to torch here")
        if threads:
            torch.set_num_threads(int(threads))
        if dev.type != "cuda":
            if precision == "fp16":
                log.warning("fp16 needs a CUDA device; running fp32 on %s", dev)
                precision = "fp32"
            if cuda_graphs:
                log.warning("CUDA graphs need a CUDA device; running without them on %s", dev)
                cuda_graphs = False
        self.config = model.config
        self.device = dev
        self.precision = precision
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.cuda_graphs = cuda_graphs
        params = list(model.parameters())
        if params and (params[0].device != dev or params[0].dtype != self.dtype):
            # Cast a copy: the caller's model (e.g. one being trained) keeps its device and dtype.
            model = copy.deepcopy(model)
        self.model = model.to(dev).to(self.dtype)
        self._graphs: dict[tuple, tuple[Any, dict, dict]] = {}
        self.name = f"torch-{dev.type}-{precision}" + ("-cudagraph" if cuda_graphs else "")

    def _forward(self, tensors: dict[str, Any]) -> dict[str, Any]:
        # Eval mode for inference, restored after: the model may be shared with a training loop.
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model(**tensors)
        finally:
            self.model.train(was_training)
        return {k: out[k] for k in OUTPUT_NAMES}

    def _graph_for(self, tensors: dict[str, Any]):
        """Capture (once per input-shape set) a CUDA graph of the forward on static buffers."""
        import torch

        key = tuple((k, tuple(v.shape)) for k, v in sorted(tensors.items()))
        if key not in self._graphs:
            static_in = {k: v.clone() for k, v in tensors.items()}
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(3):  # warm-up outside capture: lazy init, cuBLAS handles, autotuning
                    self._forward(static_in)
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_out = self._forward(static_in)
            self._graphs[key] = (graph, static_in, static_out)
        return self._graphs[key]

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        self._check_inputs(inputs)
        with torch.inference_mode():
            tensors = {k: torch.from_numpy(np.ascontiguousarray(inputs[k], dtype=np.float32))
                       .to(self.device, self.dtype, non_blocking=True)
                       for k in self.config.input_names}
            if self.cuda_graphs:
                graph, static_in, static_out = self._graph_for(tensors)
                for k, v in tensors.items():
                    static_in[k].copy_(v)
                graph.replay()
                out = static_out
            else:
                out = self._forward(tensors)
            return {k: v.float().cpu().numpy() for k, v in out.items()}


# --- ONNX Runtime --------------------------------------------------------------------------------

def resolve_providers(requested: Sequence[str] | None,
                      provider_options: dict[str, dict[str, Any]] | None = None,
                      available: Sequence[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Keep the requested execution providers this onnxruntime has, in the order asked.

    Unavailable ones are dropped with a logged warning (silently for the default list). Returns
    (providers, options per provider). Raises TrackingError if none remains.
    """
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    explicit = requested is not None
    requested = list(DEFAULT_ORT_PROVIDERS if requested is None else requested)
    options = dict(provider_options or {})
    unknown_opts = sorted(set(options) - set(requested))
    if unknown_opts:
        raise TrackingError(f"provider options given for {unknown_opts}, which are not among the "
                            f"requested providers {requested}")
    keep = []
    for p in requested:
        if p in available:
            if p not in keep:
                keep.append(p)
        elif explicit:
            log.warning("ONNX Runtime execution provider %s is not available in this onnxruntime "
                        "build (available: %s); dropped", p, ", ".join(available))
    if not keep:
        raise TrackingError(f"none of the requested ONNX Runtime providers {requested} is available "
                            f"(available: {list(available)})")
    return keep, [dict(options.get(p, {})) for p in keep]


class OnnxBackend(Backend):
    """An exported model in an onnxruntime InferenceSession."""

    def __init__(self, model: str | Path | bytes, config: ModelConfig,
                 providers: Sequence[str] | None = None,
                 provider_options: dict[str, dict[str, Any]] | None = None,
                 intra_op_threads: int | None = None) -> None:
        import onnxruntime as ort

        self.config = config
        self.providers, opts = resolve_providers(providers, provider_options)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if intra_op_threads:
            so.intra_op_num_threads = int(intra_op_threads)
            so.inter_op_num_threads = 1
        source = model if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(source, sess_options=so, providers=self.providers,
                                                provider_options=opts)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            where = "the in-memory model" if isinstance(model, bytes) else str(model)
            raise TrackingError(f"ONNX Runtime cannot load {where}: {exc}") from exc
        names = [i.name for i in self.session.get_inputs()]
        if sorted(names) != sorted(config.input_names):
            raise TrackingError(f"ONNX model inputs {names} do not match the config's "
                                f"{list(config.input_names)} (model {config.name!r})")
        self.output_names = [o.name for o in self.session.get_outputs()]
        missing = [o for o in OUTPUT_NAMES if o not in self.output_names]
        if missing:
            raise TrackingError(f"ONNX model lacks outputs {missing} (has {self.output_names})")
        used = self.session.get_providers()
        self.name = f"onnx-{used[0].replace('ExecutionProvider', '').lower()}"

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self._check_inputs(inputs)
        feed = {k: np.ascontiguousarray(inputs[k], dtype=np.float32) for k in self.config.input_names}
        values = self.session.run(list(OUTPUT_NAMES), feed)
        return dict(zip(OUTPUT_NAMES, values))

    def describe(self) -> str:
        return f"{self.name} (providers {self.session.get_providers()})"
