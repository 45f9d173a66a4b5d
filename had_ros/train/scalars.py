"""Scalar logging: TensorBoard event files (through tensorboardX, which writes the TensorBoard
format without TensorFlow or the tensorboard server package) and always a plain
``scalars.jsonl`` (one JSON object per logged step) that tests, plots and humans can read."""
from __future__ import annotations

import json
from pathlib import Path


class ScalarLog:
    def __init__(self, out: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self._tb = None
        self.backend = "jsonl"
        self._jsonl = None
        if not enabled:
            return
        (out / "tb").mkdir(parents=True, exist_ok=True)
        self._jsonl = open(out / "scalars.jsonl", "a", encoding="utf-8")
        try:
            from tensorboardX import SummaryWriter
        except ImportError:  # optional: the JSONL file is the record
            SummaryWriter = None
        if SummaryWriter is not None:
            self._tb = SummaryWriter(str(out / "tb"))
            self.backend = "tensorboard+jsonl"

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({"step": int(step), **{k: float(v) for k, v in values.items()}}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for k, v in values.items():
                self._tb.add_scalar(k, float(v), int(step))

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
