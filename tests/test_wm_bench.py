"""`lsswm bench stream` and `lsswm bench train` run end to end at toy settings (no timing
asserts: speed is reported by the commands, never tested)."""

from __future__ import annotations

import argparse
import json

from lsswm.cli.registry import CommandRegistry
from lsswm.worldmodel import commands
from lsswm.worldmodel.train import commands as train_commands


def _bench_command(name: str):
    registry = CommandRegistry()
    commands.register(registry)
    train_commands.register(registry)
    (command,) = [c for c in registry.commands if (c.group, c.name) == ("bench", name)]
    parser = argparse.ArgumentParser()
    command.configure(parser)
    return command, parser


def test_bench_stream_command_writes_report(tmp_path, capsys):
    command, parser = _bench_command("stream")
    out = tmp_path / "stream.json"
    argv = "--variants hybrid causal --contexts 5 20 --repeats 1 --denoising-steps 1"
    args = parser.parse_args([*argv.split(), "--out", str(out)])
    assert command.run(args) == 0
    report = json.loads(out.read_text())
    hybrid, causal = report["variants"]["hybrid"], report["variants"]["causal"]
    assert hybrid["bytes_ratio"] == 1.0  # constant state
    assert causal["bytes_ratio"] > 1.0  # growing KV cache
    assert set(hybrid["points"]) == {"5", "20"}
    assert "| hybrid |" in capsys.readouterr().out


def test_bench_train_sizes_variants_from_a_checkpoint(tmp_path, capsys, tiny_config):
    from lsswm.worldmodel.checkpoint import save_world_model
    from lsswm.worldmodel.model import WorldModel

    config = tiny_config("hybrid")
    checkpoint = tmp_path / "model.safetensors"
    save_world_model(checkpoint, WorldModel(config))
    command, parser = _bench_command("train")
    out = tmp_path / "train.json"
    argv = "--variants hybrid causal-window --modes eager --repeats 1 --frames 4 --batch-size 2"
    args = parser.parse_args([*argv.split(), "--checkpoint", str(checkpoint), "--out", str(out)])
    assert command.run(args) == 0
    report = json.loads(out.read_text())
    tokens = 2 * 4 * config.latent_height * config.latent_width
    assert report["tokens_per_step"] == tokens
    hybrid, window = report["variants"]["hybrid"], report["variants"]["causal-window"]
    # The other variant is resized to the saved model's parameter count.
    assert abs(window["parameters"] - hybrid["parameters"]) / hybrid["parameters"] < 0.05
    eager = hybrid["modes"]["eager"]
    assert len(eager["step_s"]) == 1
    assert eager["tokens_per_s"] == tokens / eager["median_step_s"]
    assert "| causal-window |" in capsys.readouterr().out


def test_bench_train_refuses_a_checkpoint_without_a_world_model(tmp_path):
    import pytest

    from lsswm.worldmodel.bench import BenchmarkError
    from lsswm.worldmodel.checkpoint import save_tokenizer
    from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig
    from lsswm.worldmodel.train.bench import TrainBenchOptions, run_train_benchmark

    path = tmp_path / "tokenizer.safetensors"
    save_tokenizer(path, Tokenizer(TokenizerConfig(kind="patchify", image_size=32, downsample=4)))
    with pytest.raises(BenchmarkError, match=r"not a world model.*--checkpoint"):
        run_train_benchmark(TrainBenchOptions(checkpoint=str(path)))
    with pytest.raises(BenchmarkError, match="--modes"):
        run_train_benchmark(TrainBenchOptions(checkpoint=str(path), modes=("jit",)))
