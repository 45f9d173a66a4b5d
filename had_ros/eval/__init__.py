"""Evaluation: OTB-style metrics, the benchmark runner, plots and the `had eval` command."""
from had_ros.eval.metrics import evaluate

__all__ = ["evaluate"]
