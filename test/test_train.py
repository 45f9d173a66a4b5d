"""had_ros.train: YAML validation, one geometry config, checkpoints (strict, no pickle), resume after
SIGKILL to the same weights, DDP (torchrun, gloo) against one process, pair shards, distillation."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from had_ros.data.loaders import open_dataset
from had_ros.data.pairs import PairConfig, PairDataset
from had_ros.errors import DatasetError, ModelConfigError
from had_ros.models.checkpoint import load_checkpoint
from had_ros.models.registry import create_model, model_config
from had_ros.tracking.factory import build_tracker
from had_ros.train.config import ConfigError, load_config
from had_ros.train.data import ShardPairs, StepBatches
from had_ros.train.state import strict_load

sys.path.insert(0, str(Path(__file__).parent))
from test_pairs import write_target_sequence  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MICRO = {"depth": 2, "embed_dim": 32, "num_heads": 2, "head_channels": 16, "head_layers": 1,
         "template_size": 32, "search_size": 64, "event_bins": 3}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    write_target_sequence(root, "a", n=8)
    write_target_sequence(root, "b", n=8)
    return root


def micro_config(tmp: Path, data: Path, **train) -> Path:
    cfg = {"out": str(tmp / "run"), "seed": 3,
           "model": {"name": "had_student_event_edge", "overrides": MICRO},
           "data": {"datasets": [{"path": str(data), "weight": 1.0}]},
           "train": {"steps": 6, "batch_size": 4, "warmup_steps": 2, "checkpoint_every": 2,
                     "log_every": 1, "threads": 1, **train}}
    path = tmp / "micro.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def had(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "had_ros.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240, **kw)


# --- config ----------------------------------------------------------------------------------------

def test_config_errors_name_the_bad_key(tmp_path, tiny_data):
    path = micro_config(tmp_path, tiny_data)
    cfg = load_config(path, ["train.lr=2e-4", "distill.response.temperature=3"])
    assert cfg["train"]["lr"] == 2e-4 and cfg["distill"]["response"]["temperature"] == 3.0
    assert cfg["loss"]["giou"] == 2.0  # defaults filled in
    with pytest.raises(ConfigError, match=r"train\.lrr: unknown key"):
        load_config(path, ["train.lrr=1"])
    with pytest.raises(ConfigError, match=r"train\.lr: expected a number"):
        load_config(path, ["train.lr=fast"])
    with pytest.raises(ConfigError, match=r"train\.schedule: expected one of"):
        load_config(path, ["train.schedule=linear"])
    with pytest.raises(ConfigError, match=r"data\.datasets\[0\]\.weight"):
        load_config(path, ["data.datasets=[{path: x, weight: -1}]"])
    with pytest.raises(ConfigError, match=r"train\.steps: expected an integer"):
        load_config(path, ["train.steps=2.5"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="out: required key is missing"):
        load_config(bad)


# --- one geometry config -------------------------------------------------------------------------

def test_geometry_lives_in_the_model_config(tiny_data):
    seqs = open_dataset(tiny_data)
    base = model_config("had_student_event_edge", **MICRO)
    changed = base.replace(search_size=96, template_size=48, search_factor=3.0, event_bins=2)
    for mc in (base, changed):
        pairs = PairDataset(seqs, PairConfig.for_model(mc, sub_windows=2), length=4, seed=0)
        sample = pairs[0]
        assert sample["search_events"].shape == (mc.event_bins, mc.search_size, mc.search_size)
        assert sample["template_rgb"].shape == (3, mc.template_size, mc.template_size)
        assert sample["center_map"].shape == (1, mc.search_grid, mc.search_grid)
        assert sample["search_events_sub"].shape == (2, mc.event_bins, mc.search_size, mc.search_size)
        tracker = build_tracker(mc.replace(init_seed=0))
        assert tracker.config.search_factor == mc.search_factor
        assert tracker.config.template_factor == mc.template_factor
        seq = seqs[0]
        span = seq.event_span(0)
        tracker.initialize(None, seq.events_between(*span), seq.groundtruth[0], window=span)
        span = seq.event_span(1)
        tracker.track(None, seq.events_between(*span), window=span)
        tf = tracker.last_info["search_transform"]
        assert tf.out_size == mc.search_size
        assert tf.side == int(np.ceil(np.sqrt(np.prod(seq.groundtruth[0][2:])) * mc.search_factor))
    with pytest.raises(DatasetError, match="come from the model config"):
        PairConfig.for_model(base, search_size=128)


# --- the trainer ---------------------------------------------------------------------------------

def test_train_writes_run_folder_and_a_recorded_checkpoint(tmp_path, tiny_data):
    cfg = micro_config(tmp_path, tiny_data, steps=4)
    r = had("train", "--config", str(cfg), "--no-progress")
    assert r.returncode == 0, r.stderr
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "tb").is_dir()
    rows = [json.loads(line) for line in (run / "scalars.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert {"loss/focal", "loss/l1", "loss/giou", "train/lr", "train/pairs_per_s"} <= set(rows[0])
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())
    record = json.loads((run / "student.json").read_text())["extra"]["training"]
    assert record["trained"] is True and record["steps"] == 4 and record["pairs_seen"] == 16
    assert record["data"]["datasets"][0]["path"] == str(tiny_data)
    model = load_checkpoint(run / "student.safetensors")
    assert model.config.search_size == 64
    # the second run into the same folder refuses instead of mixing checkpoints
    again = had("train", "--config", str(cfg), "--no-progress")
    assert again.returncode == 1 and "--resume" in again.stderr


def test_strict_loading_names_missing_and_unexpected_keys():
    model = create_model("had_student_event_edge", init_seed=0, **MICRO)
    tensors = {f"student.{k}": v for k, v in model.state_dict().items()}
    dropped = next(iter(tensors))
    del tensors[dropped]
    tensors["student.extra.weight"] = torch.zeros(1)
    with pytest.raises(ModelConfigError) as err:
        strict_load(model, tensors, "student", "ckpt")
    assert dropped.split(".", 1)[1] in str(err.value) and "extra.weight" in str(err.value)


def test_no_pickle_in_the_package():
    offenders = [str(p) for p in (REPO / "had_ros").rglob("*.py") if "torch.load(" in p.read_text()]
    assert offenders == []


def test_resume_after_sigkill_gives_the_same_weights(tmp_path, tiny_data):
    steps = 40
    ref_cfg = micro_config(tmp_path / "ref", tiny_data, steps=steps, checkpoint_every=4) \
        if (tmp_path / "ref").mkdir() is None else None
    r = had("train", "--config", str(ref_cfg), "--no-progress")
    assert r.returncode == 0, r.stderr
    (tmp_path / "kill").mkdir()
    cfg = micro_config(tmp_path / "kill", tiny_data, steps=steps, checkpoint_every=4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "had_ros.cli", "train", "--config", str(cfg),
                             "--no-progress"], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    ckpts = tmp_path / "kill" / "run" / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpts.glob("step_0000008.json")) and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (tmp_path / "kill" / "run" / "student.safetensors").exists()
    r = had("train", "--config", str(cfg), "--resume", "--no-progress")
    assert r.returncode == 0, r.stderr
    a = load_checkpoint(tmp_path / "ref" / "run" / "student.safetensors").state_dict()
    b = load_checkpoint(tmp_path / "kill" / "run" / "student.safetensors").state_dict()
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= 1e-6, worst
    record = json.loads((tmp_path / "kill" / "run" / "student.json").read_text())["extra"]["training"]
    assert record["steps"] == steps


def test_ddp_two_processes_follow_one_process_with_the_doubled_batch(tmp_path, tiny_data):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = micro_config(tmp_path / "one", tiny_data, steps=4, batch_size=8)
    two = micro_config(tmp_path / "two", tiny_data, steps=4, batch_size=8)
    r = had("train", "--config", str(one), "--no-progress")
    assert r.returncode == 0, r.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                        "--master_port", str(29500 + os.getpid() % 1000), "-m", "had_ros.cli", "train",
                        "--config", str(two), "--no-progress"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = lambda d: [json.loads(x) for x in (d / "run" / "scalars.jsonl").read_text().splitlines()]  # noqa: E731
    a, b = rows(tmp_path / "one"), rows(tmp_path / "two")
    assert [x["step"] for x in a] == [x["step"] for x in b] == [1, 2, 3, 4]
    record = json.loads((tmp_path / "two" / "run" / "student.json").read_text())["extra"]["training"]
    assert record["processes"] == 2
    # Tolerance: the head's BatchNorm normalises each rank's half batch with its own statistics
    # (SyncBatchNorm does not run on gloo/CPU), so the two runs see slightly different activations;
    # everything else (pair split, gradient averaging, schedule) is identical.
    for x, y in zip(a, b):
        assert abs(x["loss/loss"] - y["loss/loss"]) <= 0.05 * abs(x["loss/loss"]), (x, y)


def test_step_batches_split_like_a_distributed_sampler():
    one = list(StepBatches(2, 4, 8))
    r0 = list(StepBatches(2, 4, 8, rank=0, world=2))
    r1 = list(StepBatches(2, 4, 8, rank=1, world=2))
    assert one == [list(range(16, 24)), list(range(24, 32))]
    for full, x, y in zip(one, r0, r1):
        assert sorted(x + y) == full and not set(x) & set(y)


def test_pair_shards_round_trip_and_refuse_another_geometry(tmp_path, tiny_data):
    cfg = micro_config(tmp_path, tiny_data)
    r = had("pairs", "--config", str(cfg), "--out", str(tmp_path / "shards"), "--pairs", "10",
            "--set", "data.augment={sub_windows: 2}")
    assert r.returncode == 0, r.stderr
    mc = model_config("had_student_event_edge", **MICRO)
    cache = ShardPairs(tmp_path / "shards", mc, seed=0, sub_windows=2)
    live = PairDataset(open_dataset(tiny_data), PairConfig.for_model(mc, sub_windows=2), length=10,
                       seed=3)  # the MixedPairs seed of dataset 0 is the run seed
    got = cache[0]
    want = live[int(got.pop("pair_index"))]  # rows are stored grouped by sequence, with their index
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), atol=2e-3 * max(1.0, float(want[key].abs().max())))
    assert sorted(cache.cache_index(i) for i in range(10)) == list(range(10))  # one pass = a permutation
    # a run without the temporal term does not read the sub-windows
    plain = ShardPairs(tmp_path / "shards", mc, seed=0)[0]
    assert set(plain) == set(want) - {"search_events_sub"} | {"pair_index"}
    with pytest.raises(DatasetError, match="search_size"):
        ShardPairs(tmp_path / "shards", mc.replace(search_size=96), seed=0)
    with pytest.raises(DatasetError, match="sub-windows"):
        ShardPairs(tmp_path / "shards", mc, seed=0, sub_windows=4)


def test_distill_trains_student_and_distiller_from_a_teacher(tmp_path, tiny_data):
    (tmp_path / "t").mkdir()
    tcfg = micro_config(tmp_path / "t", tiny_data, steps=2)
    raw = yaml.safe_load(tcfg.read_text())
    raw["model"] = {"name": "had_teacher_small", "overrides": {**MICRO, "embed_dim": 48}}
    tcfg.write_text(yaml.safe_dump(raw))
    assert had("train", "--config", str(tcfg), "--no-progress").returncode == 0
    (tmp_path / "s").mkdir()
    scfg = micro_config(tmp_path / "s", tiny_data, steps=3)
    raw = yaml.safe_load(scfg.read_text())
    raw["distill"] = {"teacher": str(tmp_path / "t" / "run" / "student.safetensors"),
                      "feature": {"pairs": [[0, 0], [1, 1]]}, "relation": {"pairs": [[1, 1]]},
                      "temporal": {"teacher_block": 1, "sub_windows": 2},
                      "spatial": {"student_block": 1, "teacher_block": 1}}
    scfg.write_text(yaml.safe_dump(raw))
    r = had("distill", "--config", str(scfg), "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in (tmp_path / "s" / "run" / "scalars.jsonl").read_text().splitlines()]
    assert {"loss/feature", "loss/relation", "loss/response", "loss/temporal", "loss/spatial"} <= set(rows[0])
    from had_ros.train.state import list_checkpoints, read_state
    ck = tmp_path / "s" / "run" / "checkpoints"
    tensors, meta = read_state(ck / f"step_{list_checkpoints(ck)[-1]:07d}.json")
    assert any(k.startswith("distiller.gru.") for k in tensors)       # the GRU is saved
    assert any(k.startswith("optim.") for k in tensors)
    record = json.loads((tmp_path / "s" / "run" / "student.json").read_text())["extra"]["training"]
    assert record["mode"] == "distill" and record["teacher"]["training"]["trained"] is True
    # a teacher cut for other crops is refused, naming the field
    raw["model"]["overrides"] = {**MICRO, "search_size": 96}
    scfg.write_text(yaml.safe_dump(raw))
    r = had("distill", "--config", str(scfg), "--no-progress", "--set", f"out={tmp_path / 's2'}")
    assert r.returncode == 1 and "search_size" in r.stderr


def test_eval_without_model_uses_the_default_and_says_which(tmp_path, tiny_data, monkeypatch, capsys):
    from had_ros.cli import main
    from had_ros.models.checkpoint import save_checkpoint
    from had_ros.tracking import factory

    weights = tmp_path / "weights"
    model = create_model("had_student_event_edge", init_seed=0,
                         **{**MICRO, "extra": {"training": {"trained": True, "steps": 5}}})
    save_checkpoint(model, weights / "student.safetensors")
    monkeypatch.setattr(factory, "DEFAULT_WEIGHTS_DIR", weights)
    rc = main(["eval", "--dataset", str(tiny_data), "--out", str(tmp_path / "out"), "--no-progress",
               "--threads", "1"])
    assert rc == 0
    report = json.loads((tmp_path / "out" / "results.json").read_text())
    assert report["checkpoint"] == str((weights / "student.safetensors").resolve())
    assert report["trained"] is True and report["training"]["steps"] == 5
    assert str(weights / "student.safetensors") in capsys.readouterr().err
