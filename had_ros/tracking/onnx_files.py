"""Reading exported models' configs without torch: ``<stem>.json`` beside the ``.onnx`` (written by
`had export`), else the ``had_model_config`` entry of the ONNX metadata."""
from __future__ import annotations

import json
from pathlib import Path

from had_ros.errors import ModelConfigError, TrackingError
from had_ros.models.config import ModelConfig

METADATA_KEY = "had_model_config"
# "true" / "false": whether the exported weights came from a trained checkpoint (absent: unknown).
TRAINED_KEY = "had_trained"


def sidecar_path(onnx_path: str | Path) -> Path:
    """The JSON file written beside an exported model: ``model.onnx`` -> ``model.json``."""
    return Path(onnx_path).with_suffix(".json")


def read_onnx_config(onnx_path: str | Path) -> ModelConfig:
    """The model config of an exported file: from ``<stem>.json`` beside it, else its metadata."""
    onnx_path = Path(onnx_path)
    side = sidecar_path(onnx_path)
    if side.is_file():
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelConfigError(f"{side}: not valid JSON ({exc})") from exc
        if not isinstance(info, dict) or "config" not in info:
            raise ModelConfigError(f"{side}: no 'config' entry (expected the file `had export` writes)")
        return ModelConfig.from_dict(info["config"], source=str(side))
    metadata = onnx_metadata(onnx_path)
    if METADATA_KEY in metadata:
        return ModelConfig.from_json(metadata[METADATA_KEY], source=f"{onnx_path} (metadata)")
    raise ModelConfigError(f"{onnx_path}: no model config (neither {side.name} beside it nor "
                           f"'{METADATA_KEY}' in its metadata)")


def read_onnx_trained(onnx_path: str | Path) -> bool | None:
    """Whether `had export` recorded the weights as trained (a checkpoint) or not (a registry
    model's random init); None for files exported elsewhere or before this was recorded."""
    return {"true": True, "false": False}.get(onnx_metadata(onnx_path).get(TRAINED_KEY, ""))


def onnx_metadata(onnx_path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX file as a dict (weights are not loaded)."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise TrackingError(f"ONNX model {onnx_path} does not exist")
    import onnx

    try:
        proto = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ModelConfigError(f"{onnx_path}: not a readable ONNX model ({exc})") from exc
    return {entry.key: entry.value for entry in proto.metadata_props}
