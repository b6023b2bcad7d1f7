"""`lsswm bench stream` runs end to end at a toy setting (a smoke test, no timing asserts)."""

from __future__ import annotations

import argparse
import json

from lsswm.cli.registry import CommandRegistry
from lsswm.worldmodel import commands


def test_bench_stream_command_writes_report(tmp_path, capsys):
    registry = CommandRegistry()
    commands.register(registry)
    (command,) = [c for c in registry.commands if (c.group, c.name) == ("bench", "stream")]
    parser = argparse.ArgumentParser()
    command.configure(parser)
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
