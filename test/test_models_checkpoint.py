"""Checkpoints: safetensors + JSON round trips, mismatch refusals, corrupt files."""
from __future__ import annotations

import json

import pytest
import torch

from had_ros.errors import ModelConfigError
from had_ros.models import (
    create_model, is_checkpoint, load_checkpoint, load_weights, read_checkpoint_config, save_checkpoint,
)
from had_ros.models.checkpoint import describe_checkpoint

TINY = dict(depth=2, embed_dim=64, num_heads=2, template_size=64, search_size=128,
            head_channels=16, head_layers=1)


def _inputs(config):
    g = torch.Generator().manual_seed(3)
    return {n: torch.rand(config.input_shape(n, 1), generator=g) for n in config.input_names}


def _trained_looking(name="had_student_rgbe_edge", **kw):
    model = create_model(name, **{**TINY, **kw})
    # Make BN running stats non-default so the test proves they are saved too.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


def test_save_load_folder_reproduces_outputs_exactly(tmp_path):
    model = _trained_looking()
    weights = save_checkpoint(model, tmp_path / "ckpt")
    assert weights == tmp_path / "ckpt" / "model.safetensors"
    assert (tmp_path / "ckpt" / "config.json").is_file()
    assert is_checkpoint(tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.config == model.config and not loaded.training
    ins = _inputs(model.config)
    with torch.no_grad():
        a, b = model(**ins), loaded(**ins)
    for k in a:
        assert torch.equal(a[k], b[k])


def test_file_layout_and_metadata_only(tmp_path):
    model = _trained_looking("had_student_event_edge")
    save_checkpoint(model, tmp_path / "epoch_3.safetensors")
    assert (tmp_path / "epoch_3.json").is_file()
    cfg = read_checkpoint_config(tmp_path / "epoch_3.safetensors")
    assert cfg == model.config
    # Without the JSON the config is read from the safetensors metadata.
    (tmp_path / "epoch_3.json").unlink()
    loaded = load_checkpoint(tmp_path / "epoch_3.safetensors")
    assert loaded.config == model.config
    info = describe_checkpoint(tmp_path / "epoch_3.safetensors")
    assert info["float_values"] == sum(p.numel() for p in model.parameters()) + sum(
        b.numel() for n, b in model.named_buffers() if b.is_floating_point() and "running" in n)
    assert info["metadata"]["format"] == "had_model/1"


def test_checkpoint_is_safetensors_not_pickle(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path)
    raw = (tmp_path / "model.safetensors").read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    assert "pos_search" in header and header["__metadata__"]["format"] == "had_model/1"
    assert b"\x80\x04" not in raw[:2]  # no pickle protocol marker at the start


def test_config_json_saying_another_depth_is_refused_naming_the_tensor(tmp_path):
    model = _trained_looking("had_student_event_edge")
    save_checkpoint(model, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["depth"] = 3  # a third block the weights do not have
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelConfigError, match=r"missing.*blocks\.2\."):
        load_checkpoint(tmp_path)


def test_shape_mismatch_message_names_tensor_and_both_shapes(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path)
    with pytest.raises(ModelConfigError) as info:
        load_checkpoint(tmp_path, event_bins=7)
    msg = str(info.value)
    assert "patch_embed.events.proj.weight" in msg
    assert "(64, 7, 16, 16)" in msg and "(64, 5, 16, 16)" in msg


def test_load_weights_refuses_a_different_config_naming_the_fields(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path)
    other = create_model("had_student_event_edge", **{**TINY, "embed_dim": 32, "num_heads": 2})
    with pytest.raises(ModelConfigError, match=r"embed_dim: model 32 vs checkpoint 64"):
        load_weights(other, tmp_path)
    # Same architecture under another name / seed / drop-path loads fine.
    same = create_model("had_student_event_edge", **TINY, drop_path_rate=0.1, init_seed=5)
    load_weights(same, tmp_path)
    ref = load_checkpoint(tmp_path)
    assert torch.equal(same.state_dict()["pos_search"], ref.state_dict()["pos_search"])


def test_load_weights_without_config_checks_tensors(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path / "a.safetensors")
    (tmp_path / "a.json").unlink()
    rgbe = create_model("had_student_rgbe_edge", **TINY)
    # Config in metadata differs in modalities -> named field.
    with pytest.raises(ModelConfigError, match="modalities"):
        load_weights(rgbe, tmp_path / "a.safetensors")


def test_truncated_and_garbage_weights_name_the_file(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelConfigError, match=r"model\.safetensors.*not a valid safetensors"):
        load_checkpoint(tmp_path)
    weights.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ModelConfigError, match=r"model\.safetensors"):
        load_checkpoint(tmp_path)


def test_corrupt_or_missing_json_names_the_file(tmp_path):
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path)
    (tmp_path / "config.json").write_text('{"depth": 2,')
    with pytest.raises(ModelConfigError, match=r"config\.json.*not valid JSON"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ModelConfigError, match=r"config\.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text('["a list"]')
    with pytest.raises(ModelConfigError, match=r"config\.json.*JSON object"):
        load_checkpoint(tmp_path)


def test_missing_checkpoint_says_what_was_expected(tmp_path):
    with pytest.raises(ModelConfigError, match=r"config\.json.*model\.safetensors"):
        load_checkpoint(tmp_path / "nothing_here")
    assert not is_checkpoint(tmp_path / "nothing_here")
    (tmp_path / "only_cfg").mkdir()
    save_checkpoint(_trained_looking("had_student_event_edge"), tmp_path / "only_cfg")
    (tmp_path / "only_cfg" / "model.safetensors").unlink()
    with pytest.raises(ModelConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "only_cfg")


def test_save_refuses_a_plain_module(tmp_path):
    with pytest.raises(ModelConfigError, match="Linear"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path)
