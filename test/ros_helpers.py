"""Shared pieces of the ROS tests: a tiny event-only model (random weights, so its boxes move but
mean nothing: the tests check plumbing, not accuracy) and a small simulated bag."""
from __future__ import annotations

from pathlib import Path

TINY = dict(name="tiny_event", modalities=("events",), patch_size=16, template_size=64, search_size=128,
            embed_dim=32, depth=1, num_heads=2, head_channels=16, head_layers=1, init_seed=0)


def tiny_checkpoint(folder: Path) -> Path:
    from had_ros.models.checkpoint import save_checkpoint
    from had_ros.models.config import ModelConfig
    from had_ros.models.registry import build_model

    save_checkpoint(build_model(ModelConfig(**TINY)), folder)
    return folder


def sim_bag(folder: Path, frames: int = 8) -> tuple[Path, Path]:
    """(sequence folder, its rosbag2 MCAP folder) of one 96x72 simulated sequence."""
    from had_ros import cli

    assert cli.main(["simulate", "--out", str(folder), "--sequences", "1", "--frames", str(frames),
                     "--width", "96", "--height", "72", "--bag", "--overwrite"]) == 0
    seq = sorted(p for p in folder.iterdir() if (p / "meta.json").is_file())[0]
    return seq, sorted(seq.glob("*.mcap"))[0]


def bag_messages(bag: Path):
    from had_ros.ros import replay

    reader, store = replay.open_bag(bag)
    with reader:
        topics = replay.pick_topics(reader, None, None, None)
        return list(replay.read_messages(reader, store, topics))
