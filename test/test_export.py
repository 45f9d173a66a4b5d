"""ONNX export, ONNX Runtime equivalence and the `had export` command (tiny models)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from had_ros.cli import main
from had_ros.errors import ModelConfigError
from had_ros.models import create_model, save_checkpoint
from had_ros.tracking.backends import OnnxBackend
from had_ros.tracking.onnx_files import read_onnx_trained
from had_ros.tracking.export import (
    METADATA_KEY, example_inputs, export_onnx, read_onnx_config, sidecar_path, verify_onnx, write_sidecar,
)

TINY = dict(depth=1, embed_dim=64, num_heads=2, template_size=64, search_size=128,
            head_channels=16, head_layers=1, init_seed=0)


@pytest.fixture(scope="module")
def student():
    return create_model("had_student_event_edge", **TINY).eval()


def test_example_inputs_have_model_shapes_and_sparse_events():
    c = create_model("had_student_rgbe_edge", **TINY).config
    ins = example_inputs(c, batch=2, seed=1)
    assert list(ins) == list(c.input_names)
    assert ins["search_rgb"].shape == (2, 3, 128, 128) and ins["search_rgb"].dtype == np.float32
    assert 0 <= ins["search_rgb"].min() and ins["search_rgb"].max() <= 1
    ev = ins["template_events"]
    assert ev.shape == (2, 5, 64, 64) and 0.02 < float((ev != 0).mean()) < 0.2
    assert np.array_equal(ev, example_inputs(c, batch=2, seed=1)["template_events"])


def test_export_fixed_batch_runs_in_ort_and_matches_torch(student, tmp_path):
    path = tmp_path / "s.onnx"
    data = export_onnx(student, path)
    assert path.read_bytes() == data
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["template_events", "search_events"]
    assert [o.name for o in proto.graph.output] == ["score_map", "size_map", "offset_map"]
    dims = [d.dim_value for d in proto.graph.input[1].type.tensor_type.shape.dim]
    assert dims == [1, 5, 128, 128]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta[METADATA_KEY])["depth"] == 1
    err = verify_onnx(student, data)
    assert set(err) == {"score_map", "size_map", "offset_map"}
    assert max(err.values()) < 1e-4
    # Independent check with the backend on fresh inputs.
    ins = example_inputs(student.config, seed=9)
    ort_out = OnnxBackend(data, student.config, providers=["CPUExecutionProvider"]).run(ins)
    with torch.no_grad():
        ref = student(**{k: torch.from_numpy(v) for k, v in ins.items()})
    np.testing.assert_allclose(ort_out["score_map"], ref["score_map"].numpy(), atol=1e-4)


def test_export_dynamic_batch_and_rgbe_inputs(tmp_path):
    model = create_model("had_student_rgbe_edge", **TINY).eval()
    data = export_onnx(model, dynamic_batch=True)
    proto = onnx.load_from_string(data)
    assert [i.name for i in proto.graph.input] == list(model.config.input_names)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    err = verify_onnx(model, data, batch=3)
    assert max(err.values()) < 1e-4


def test_export_conv_stem_matches_torch_in_ort():
    model = create_model("had_student_event_edge", **{**TINY, "stem": "conv"}).eval()
    err = verify_onnx(model, export_onnx(model), batch=1)
    assert max(err.values()) < 1e-4


def test_export_leaves_the_model_as_it_was(student):
    student.train()
    export_onnx(student)
    assert student.training
    student.eval()


def test_sidecar_and_read_onnx_config(student, tmp_path):
    path = tmp_path / "model.onnx"
    export_onnx(student, path)
    side = write_sidecar(path, student.config, 17, False, {"passed": True})
    assert side == tmp_path / "model.json" == sidecar_path(path)
    info = json.loads(side.read_text())
    assert info["inputs"] == {"template_events": [1, 5, 64, 64], "search_events": [1, 5, 128, 128]}
    assert info["outputs"]["score_map"] == [1, 1, 8, 8] and info["batch"] == 1
    assert read_onnx_config(path) == student.config
    side.unlink()  # falls back to the ONNX metadata
    assert read_onnx_config(path) == student.config
    side.write_text("{not json")
    with pytest.raises(ModelConfigError, match=r"model\.json"):
        read_onnx_config(path)
    side.unlink()
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf at all \xff\xff")
    with pytest.raises(ModelConfigError, match=r"bad\.onnx"):
        read_onnx_config(tmp_path / "bad.onnx")


def test_cli_export_ok_writes_files_and_reports_errors(student, tmp_path, capsys):
    student.config = student.config.replace(extra={"training": {"trained": True, "steps": 1}})
    save_checkpoint(student, tmp_path / "ckpt")  # trained, as its training record says
    out = tmp_path / "exp" / "student.onnx"
    rc = main(["export", "--model", str(tmp_path / "ckpt"), "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert out.is_file() and (tmp_path / "exp" / "student.json").is_file()
    for name in ("score_map", "size_map", "offset_map"):
        assert f"max abs error {name} (batch 1):" in text
    assert "OK: ONNX Runtime matches torch within 0.0001" in text
    info = json.loads((tmp_path / "exp" / "student.json").read_text())
    assert info["verification"]["passed"] is True
    assert read_onnx_trained(out) is True  # exported from a checkpoint
    assert info["verification"]["max_abs_error"]["batch1"]["score_map"] < 1e-4


def test_cli_export_fails_above_tolerance(student, tmp_path, capsys, monkeypatch):
    save_checkpoint(student, tmp_path / "ckpt")
    import had_ros.tracking.export as export_mod

    # Simulate an exporter that produced a wrong graph: the command must exit 1 and say so.
    monkeypatch.setattr(export_mod, "verify_onnx",
                        lambda *a, **k: {"score_map": 0.5, "size_map": 0.0, "offset_map": 0.0})
    rc = main(["export", "--model", str(tmp_path / "ckpt"), "--out", str(tmp_path / "x.onnx")])
    captured = capsys.readouterr()
    assert rc == 1
    assert "FAILED" in captured.err and "5.000e-01" in captured.err
    assert json.loads((tmp_path / "x.json").read_text())["verification"]["passed"] is False


def test_cli_export_bad_arguments(tmp_path, capsys):
    assert main(["export", "--model", "no_such_model", "--out", str(tmp_path / "a.onnx")]) == 1
    assert "no_such_model" in capsys.readouterr().err
    assert main(["export", "--model", "had_student_event_edge", "--out", str(tmp_path / "a.txt")]) == 1
    assert ".onnx" in capsys.readouterr().err


def test_export_records_whether_weights_were_trained(student, tmp_path):
    untrained = tmp_path / "untrained.onnx"
    export_onnx(student, untrained, trained=False)
    assert read_onnx_trained(untrained) is False
    unknown = tmp_path / "unknown.onnx"
    export_onnx(student, unknown)
    assert read_onnx_trained(unknown) is None
    (tmp_path / "junk.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelConfigError, match="junk.onnx"):
        read_onnx_trained(tmp_path / "junk.onnx")
