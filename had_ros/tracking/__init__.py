"""Tracking runtime: the Tracker, its inference backends (torch, ONNX Runtime) and ONNX export."""
from had_ros.tracking.backends import Backend, OnnxBackend, TorchBackend, resolve_providers
from had_ros.tracking.factory import build_backend, build_tracker, resolve_model
from had_ros.tracking.tracker import Tracker, TrackerConfig, clip_box, decode_box, hann_window

__all__ = [
    "Backend", "OnnxBackend", "TorchBackend", "Tracker", "TrackerConfig", "build_backend",
    "build_tracker", "clip_box", "decode_box", "hann_window", "resolve_model", "resolve_providers",
]
