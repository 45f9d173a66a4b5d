"""Model definitions, registry and config (tiny sizes keep these fast)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from had_ros.errors import ModelConfigError
from had_ros.models import (
    Attention, Block, ModelConfig, PatchEmbed, build_model, create_model, list_models, model_config,
    normalise_events,
)
from had_ros.models.layers import ConvStem, DropPath

TINY = dict(depth=2, embed_dim=64, num_heads=2, template_size=64, search_size=128,
            head_channels=16, head_layers=1)


def inputs_for(config: ModelConfig, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name in config.input_names:
        shape = config.input_shape(name, batch)
        if name.endswith("rgb"):
            out[name] = torch.rand(shape, generator=g)
        else:
            out[name] = torch.randint(-2, 3, shape, generator=g).float() * (torch.rand(shape, generator=g) < 0.2)
    return out


def test_registry_lists_the_contract_models():
    names = list_models()
    for required in ("had_teacher_base", "had_teacher_small", "had_student_event_edge",
                     "had_student_rgbe_edge"):
        assert required in names
    assert names == sorted(names)


def test_registered_sizes_match_the_paper_settings():
    base = model_config("had_teacher_base")
    assert (base.depth, base.embed_dim, base.num_heads) == (12, 768, 12)
    assert base.modalities == ("rgb", "events")
    edge = model_config("had_student_event_edge")
    assert (edge.depth, edge.embed_dim, edge.num_heads) == (4, 192, 3)
    assert edge.modalities == ("events",)
    rgbe = model_config("had_student_rgbe_edge")
    assert (rgbe.depth, rgbe.embed_dim, rgbe.num_heads, rgbe.modalities) == (4, 192, 3, ("rgb", "events"))
    for name in list_models():
        c = model_config(name)
        assert (c.patch_size, c.template_size, c.search_size, c.event_bins) == (16, 128, 256, 5)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_gives_the_contract_output_shapes(name):
    model = create_model(name, **TINY).eval()
    c = model.config
    assert c.name == name and c.search_grid == 8
    with torch.no_grad():
        out = model(**inputs_for(c))
    assert out["score_map"].shape == (2, 1, 8, 8)
    assert out["size_map"].shape == (2, 2, 8, 8)
    assert out["offset_map"].shape == (2, 2, 8, 8)
    for key in ("size_map", "offset_map"):
        assert float(out[key].min()) >= 0.0 and float(out[key].max()) <= 1.0
    assert set(out) == {"score_map", "size_map", "offset_map"}


def test_event_only_student_accepts_none_for_rgb_and_refuses_missing_events():
    model = create_model("had_student_event_edge", **TINY).eval()
    ins = inputs_for(model.config, batch=1)
    with torch.no_grad():
        out = model(template_rgb=None, search_rgb=None, **ins)
    assert out["score_map"].shape == (1, 1, 8, 8)
    with pytest.raises(ModelConfigError, match="search_events"):
        model(template_events=ins["template_events"], search_events=None)


def test_wrong_input_shape_is_refused_with_the_input_name():
    model = create_model("had_student_rgbe_edge", **TINY).eval()
    ins = inputs_for(model.config, batch=1)
    ins["template_events"] = torch.zeros(1, 3, 64, 64)  # 3 bins instead of 5
    with pytest.raises(ModelConfigError, match=r"template_events.*\(1, 5, 64, 64\)"):
        model(**ins)


def test_features_and_attentions_per_block_and_token_layout():
    model = create_model("had_student_rgbe_edge", **TINY).eval()
    c = model.config
    with torch.no_grad():
        out = model(**inputs_for(c, batch=1), return_features=True)
        plain = model(**inputs_for(c, batch=1))
    layout = model.token_layout()
    n_template, n_search = 4 * 4, 8 * 8
    assert list(layout) == ["template_rgb", "template_events", "search_rgb", "search_events"]
    assert layout["search_events"] == slice(2 * n_template + n_search, 2 * n_template + 2 * n_search)
    n = 2 * n_template + 2 * n_search
    assert len(out["features"]) == c.depth and len(out["attentions"]) == c.depth
    assert out["features"][0].shape == (1, n, c.embed_dim)
    assert out["attentions"][1].shape == (1, c.num_heads, n, n)
    # Attention rows are probability distributions.
    torch.testing.assert_close(out["attentions"][0].sum(-1), torch.ones(1, c.num_heads, n))
    assert out["search_features"].shape == (1, c.embed_dim, 8, 8)
    # The explicit-attention path computes the same maps as the fused one.
    torch.testing.assert_close(out["score_map"], plain["score_map"], atol=1e-5, rtol=1e-5)


def test_modalities_change_the_token_sequence_and_the_embeddings():
    rgbe = create_model("had_student_rgbe_edge", **TINY)
    ev = create_model("had_student_event_edge", **TINY)
    assert set(rgbe.patch_embed) == {"rgb", "events"} and set(ev.patch_embed) == {"events"}
    assert rgbe.modality_embed.shape[0] == 2 and ev.modality_embed.shape[0] == 1
    assert rgbe.patch_embed["events"].proj.in_channels == 5
    ev7 = create_model("had_student_event_edge", event_bins=7, **TINY)
    assert ev7.patch_embed["events"].proj.in_channels == 7
    assert ev7.config.input_shape("search_events") == (1, 7, 128, 128)


def test_rgb_is_imagenet_normalised_inside_the_model():
    model = create_model("had_student_rgbe_edge", **TINY).eval()
    x = torch.full((1, 3, 64, 64), 0.5)
    # The patch embedding sees (x - mean) / std: compare with a manual computation.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    tokens = model._embed("rgb", x, model.pos_template, 0)
    expected = (model.patch_embed["rgb"]((x - mean) / std) + model.pos_template
                + model.modality_embed[0] + model.segment_embed[0])
    torch.testing.assert_close(tokens, expected)


def test_normalise_events_modes():
    v = torch.zeros(2, 5, 8, 8)
    v[0, 0, 0, 0] = 3.0
    v[0, 1, 0, 1] = -1.0
    v[1] = 50.0  # dense
    none = normalise_events(v, "none")
    assert torch.equal(none, v)
    log = normalise_events(v, "log1p")
    assert log[0, 0, 0, 0] == pytest.approx(np.log1p(3.0))
    assert log[0, 1, 0, 1] == pytest.approx(-np.log1p(1.0))
    rms = normalise_events(v, "log1p_rms")
    # Sample 0: RMS of active entries sqrt((log1p(3)^2 + log1p(1)^2) / 2) > 1 -> divided by it.
    r0 = np.sqrt((np.log1p(3.0) ** 2 + np.log1p(1.0) ** 2) / 2)
    assert rms[0, 0, 0, 0] == pytest.approx(np.log1p(3.0) / r0, rel=1e-5)
    # Dense sample: every active entry equal -> scaled to 1.
    assert torch.allclose(rms[1], torch.ones(5, 8, 8))
    # Sparse unit events (RMS log 2 < 1) are not amplified; empty grids stay zero.
    sparse = torch.zeros(1, 5, 8, 8)
    sparse[0, 2, 3, 3] = 1.0
    assert normalise_events(sparse, "log1p_rms")[0, 2, 3, 3] == pytest.approx(np.log(2.0))
    assert torch.equal(normalise_events(torch.zeros(1, 5, 4, 4), "log1p_rms"), torch.zeros(1, 5, 4, 4))


def test_config_json_round_trip_and_replace():
    c = model_config("had_student_event_edge", depth=3, extra={"note": "x"})
    text = c.to_json()
    data = json.loads(text)
    assert data["format"] == "had_model/1" and data["modalities"] == ["events"]
    back = ModelConfig.from_json(text)
    assert back == c and back.modalities == ("events",)
    assert c.replace(depth=5).depth == 5
    assert c.diff(c.replace(depth=5, embed_dim=96)) == {"depth": (3, 5), "embed_dim": (192, 96)}


@pytest.mark.parametrize("field,value,expected", [
    ("embed_dim", 100, "divisible by num_heads"),
    ("search_size", 250, "multiple of patch_size"),
    ("modalities", ("rgb", "depth"), "modalities"),
    ("modalities", (), "modalities"),
    ("depth", 0, "positive integer"),
    ("event_norm", "zscore", "event_norm"),
    ("drop_path_rate", 1.5, "drop_path_rate"),
    ("stem", "resnet", "stem"),
])
def test_invalid_config_field_is_named(field, value, expected):
    with pytest.raises(ModelConfigError, match=expected) as info:
        model_config("had_student_event_edge", **{field: value})
    assert repr(field) in str(info.value)


def test_unknown_model_and_unknown_field_and_bad_json():
    with pytest.raises(ModelConfigError, match="had_student_event_edge"):
        create_model("no_such_model")
    with pytest.raises(ModelConfigError, match="widht"):
        create_model("had_student_event_edge", widht=3)
    with pytest.raises(ModelConfigError, match="my.json.*not valid JSON"):
        ModelConfig.from_json("{ nope", source="my.json")
    with pytest.raises(ModelConfigError, match="unknown model config field"):
        ModelConfig.from_dict({"depth": 2, "colour": "red"})
    with pytest.raises(ModelConfigError, match="format"):
        ModelConfig.from_dict({"format": "other/9"})


def test_init_seed_makes_weights_reproducible_without_touching_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = create_model("had_student_event_edge", init_seed=7, **TINY)
    after = torch.rand(1)
    assert torch.equal(before, after)  # global RNG stream unaffected
    b = create_model("had_student_event_edge", init_seed=7, **TINY)
    c = create_model("had_student_event_edge", init_seed=8, **TINY)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["pos_search"], sc["pos_search"])


def test_build_model_from_config_equals_create_model():
    c = model_config("had_teacher_small", **TINY, init_seed=1)
    m1, m2 = build_model(c), create_model("had_teacher_small", **TINY, init_seed=1)
    assert m1.config == m2.config
    assert all(torch.equal(v, m2.state_dict()[k]) for k, v in m1.state_dict().items())


def test_score_head_starts_at_a_low_prior():
    model = create_model("had_student_event_edge", **TINY).eval()
    with torch.no_grad():
        out = model(**inputs_for(model.config, batch=1))
    # Bias -log(99): mean probability near 0.01, far from a confident 0.5.
    assert float(torch.sigmoid(out["score_map"]).mean()) < 0.1


# --- blocks -------------------------------------------------------------------------------------

def test_patch_embed_tokens_are_row_major_patches():
    pe = PatchEmbed(1, 1, 4)
    with torch.no_grad():
        pe.proj.weight.fill_(1.0)
        pe.proj.bias.zero_()
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4:8, 0:4] = 1.0  # bottom-left patch -> token index 2 in row-major order
    tokens = pe(x)
    assert tokens.shape == (1, 4, 1)
    assert tokens[0, :, 0].tolist() == [0.0, 0.0, 16.0, 0.0]


def test_conv_stem_gives_the_patch_grid_and_sees_only_its_neighbourhood():
    torch.manual_seed(0)
    stem = ConvStem(5, 48, 16).eval()
    assert [m.out_channels for m in stem.proj if isinstance(m, torch.nn.Conv2d)] == [6, 12, 24, 48, 48]
    x = torch.zeros(1, 5, 128, 128)
    base = stem(x)
    assert base.shape == (1, 64, 48)
    x[0, :, 0:16, 112:128] = 1.0  # the top-right patch: token 7 in row-major order
    changed = (stem(x) - base).abs().sum(-1)[0]
    # Receptive field of 4 stride-2 3x3 stages: the patch's own token and its direct neighbours.
    assert changed[7] > 0
    assert set(torch.nonzero(changed > 1e-6).flatten().tolist()) <= {6, 7, 14, 15}
    assert changed[[0, 1, 2, 3, 63]].abs().max() == 0


def test_conv_stem_config_needs_a_power_of_two_patch():
    with pytest.raises(ModelConfigError, match="power of 2"):
        model_config("had_student_event_edge", stem="conv", patch_size=12, template_size=60, search_size=120)
    model = create_model("had_student_event_edge", stem="conv", depth=1, init_seed=0)
    assert isinstance(model.patch_embed["events"], ConvStem)
    out = model(template_events=torch.zeros(2, 5, 128, 128), search_events=torch.zeros(2, 5, 256, 256))
    assert out["score_map"].shape == (2, 1, 16, 16)


def test_attention_fused_and_explicit_paths_agree():
    torch.manual_seed(0)
    attn = Attention(32, 4).eval()
    x = torch.randn(2, 10, 32)
    fused, none = attn(x)
    explicit, maps = attn(x, return_attention=True)
    assert none is None and maps.shape == (2, 4, 10, 10)
    torch.testing.assert_close(fused, explicit, atol=1e-5, rtol=1e-5)
    # Reference computation by hand.
    q, k, v = attn.qkv(x).reshape(2, 10, 3, 4, 8).permute(2, 0, 3, 1, 4)
    ref = torch.softmax(q @ k.transpose(-1, -2) / np.sqrt(8), -1) @ v
    ref = attn.proj(ref.transpose(1, 2).reshape(2, 10, 32))
    torch.testing.assert_close(explicit, ref, atol=1e-5, rtol=1e-5)


def test_block_is_residual_and_drop_path_only_in_training():
    torch.manual_seed(0)
    block = Block(16, 2, drop_path=0.5)
    for p in block.parameters():
        torch.nn.init.zeros_(p)
    x = torch.randn(3, 5, 16)
    y, _ = block.eval()(x)
    torch.testing.assert_close(y, x)  # zero branches: the block is the identity
    dp = DropPath(0.5).train()
    torch.manual_seed(1)
    out = dp(torch.ones(1000, 1, 1))
    assert set(out.flatten().tolist()) <= {0.0, 2.0}
    assert 0.35 < float((out == 0).float().mean()) < 0.65
    assert torch.equal(DropPath(0.5).eval()(torch.ones(4, 2)), torch.ones(4, 2))


def test_training_gradients_reach_every_parameter():
    model = create_model("had_student_rgbe_edge", **TINY).train()
    out = model(**inputs_for(model.config))
    (out["score_map"].sum() + out["size_map"].sum() + out["offset_map"].sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_normalise_events_in_half_precision_does_not_overflow():
    dense = torch.full((1, 5, 256, 256), 30.0)
    dense[0, 0, :8] = -200.0
    ref = normalise_events(dense, "log1p_rms")
    half = normalise_events(dense.half(), "log1p_rms")
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), ref, atol=2e-3, rtol=2e-3)
