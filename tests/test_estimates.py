"""The start-of-run time estimate (lsswm.cli.estimate) and the long commands that print it."""

from __future__ import annotations

import re
import shlex
import types
from pathlib import Path

import pytest

from lsswm.cli.estimate import (
    QUICK_HINT_AFTER_S,
    Part,
    estimate_line,
    format_duration,
    print_estimate,
)

TOY = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"
DURATION = re.compile(r"about \d+(\.\d)? (s|min|h|days) ")
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.3, "about 1 s"),
        (7.4, "about 7 s"),
        (42, "about 40 s"),
        (100, "about 2 min"),
        (45 * 60, "about 45 min"),
        (2.5 * 3600, "about 2.5 h"),
        (30 * 3600, "about 30 h"),
        (5 * 86400, "about 5 days"),
    ],
)
def test_durations_read_as_one_rounded_figure(seconds, text):
    assert format_duration(seconds) == text


def test_the_line_sums_its_parts_and_names_each_rate():
    parts = [
        Part(16000, "env steps", 0.02, parallel=2, where="on 2 workers"),
        Part(3, "models to score", 100, measured=True, per="model"),
    ]
    line = estimate_line(parts, overhead_s=12, quick="--episodes 2", label="collect")
    # 16000 * 0.02 / 2 + 3 * 100 + 12 = 472 s
    assert line == (
        "collect: this will take about 8 min on this machine (16000 env steps at ~0.02 s/step "
        "on 2 workers, assumed; 3 models to score at ~100 s/model, measured; + ~12 s set-up); "
        "for a quick look use --episodes 2"
    )


def test_assumed_rates_say_which_machine_and_short_runs_get_no_quick_hint(capsys):
    seconds = print_estimate([Part(30, "steps", 1.0)], quick="--steps 5", label="x")
    assert seconds == 30 < QUICK_HINT_AFTER_S
    err = capsys.readouterr().err
    assert err == "x: this will take about 30 s on 2 CPU cores (30 steps at ~1 s/step, assumed)\n"


def test_collect_from_the_command_line_prints_its_estimate_first(tmp_path, capsys):
    from lsswm.cli.main import main

    argv = ["collect", "--env", TOY, "--episodes", "2", "--steps", "5", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "data")]) == 0
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("collect: this will take about ") and DURATION.search(first)
    assert "10 env steps at ~" in first and "for a quick look" not in first
    # Resumed with nothing left to record: no estimate.
    assert main([*argv, "--out", str(tmp_path / "data")]) == 0
    assert "this will take" not in capsys.readouterr().err


def test_a_long_collection_shows_the_laptop_sized_flags(capsys):
    from lsswm.collect.collector import CollectConfig, announce_estimate

    config = CollectConfig("lsswm/MemoryMaze-9x9-v0", 100, 1000, "explore", "unused", workers=2)
    seconds = announce_estimate(config, pending=100)
    assert 15 * 60 < seconds < 30 * 60  # 100,000 steps at 50 steps/s on 2 workers
    line = capsys.readouterr().err
    assert "100000 env steps at ~0.02 s/step on 2 workers, assumed" in line
    assert line.rstrip().endswith("for a quick look use --episodes 2 --steps 200")


def _tiny_config(tmp_path, *overrides):
    from lsswm.worldmodel.train.config import apply_overrides, train_preset

    changes = [f"run_dir={tmp_path / 'run'}", "system.device=cpu", *overrides]
    return apply_overrides(train_preset("tiny"), changes)


def test_train_estimate_counts_the_steps_left_after_a_checkpoint(tmp_path, capsys):
    from lsswm.worldmodel.train.commands import announce_train_estimate

    config = _tiny_config(tmp_path)
    announce_train_estimate(config)
    line = capsys.readouterr().err
    # 300 steps of 64 window-frames at 0.4 s per step, + 10 s.
    assert line.startswith("train: this will take about 2 min on 2 CPU cores (300 training")
    step = tmp_path / "run" / "checkpoints" / "step_00000250"
    step.mkdir(parents=True)
    (step / "train_state.pt").write_bytes(b"")
    announce_train_estimate(config)
    assert "(50 training steps at ~0.4 s/step" in capsys.readouterr().err


def test_train_without_a_documented_rate_says_so(tmp_path, capsys):
    from lsswm.worldmodel.train.commands import announce_train_estimate

    announce_train_estimate(_tiny_config(tmp_path, "model.d_model=128"))
    line = capsys.readouterr().err
    assert line.startswith("train: 300 training steps to run; no documented rate")
    assert "the progress bar shows the ETA" in line


def test_navigation_estimate_and_the_planners_measured_rate(capsys):
    from lsswm.agents.planner_config import PlannerConfig
    from lsswm.eval.navigation import NavigationOptions, _StepTimer, announce_estimate

    options = NavigationOptions(
        agents=["random", "planner"], episodes=10, max_steps=500, ckpt="unused"
    )
    seconds = announce_estimate(options)
    line = capsys.readouterr().err
    assert "5000 random steps at ~0.02 s/step, assumed" in line
    assert "5000 planner steps at ~0.18 s/step, assumed" in line
    assert line.rstrip().endswith("for a quick look use --episodes 2 --max-steps 200")
    assert 12 * 60 < seconds < 20 * 60
    # Twice the imagined frames per real step: twice the planning time.
    heavy = PlannerConfig(population=64)
    assert heavy.assumed_seconds_per_step() == pytest.approx(2 * 0.16)

    lines = []
    timer = _StepTimer("planner", options, lines.append, clock=iter([10.0, 10.4]).__next__)
    for _ in range(1 + timer.window + 3):
        timer.step()  # the clock is read at step 1 and at step 1 + window (4)
    # 0.1 s per step after the first, 4995 steps and 9 resets left: about 8 min.
    assert lines == [
        "planner: the rest will take about 8 min on this machine (4995 steps at ~0.1 s/step, "
        "measured; + ~9 s set-up)"
    ]


def test_recall_generation_estimate_is_measured_on_the_first_chunk():
    from lsswm.eval.generation import _GenerationTimer

    def episode(context, generate):
        return types.SimpleNamespace(
            context=context, generate=generate, frames=[None] * (context + generate)
        )

    batches = [[episode(20, 10)] * 2, [episode(20, 10)]]
    lines = []
    timer = _GenerationTimer("tiny", batches, chunk=5, write=lines.append)
    timer.observed(4.0)  # 2 episodes x 20 frames: 0.1 s per observed frame and episode
    timer.imagined_chunk(1.0)  # 0.5 s per chunk and episode
    timer.imagined_chunk(1.0)  # reported once
    # 3 episodes x (20 x 0.1 + 2 chunks x 0.5) = 9 s over 90 frames
    assert lines == [
        "tiny: observe+generate: this will take about 9 s on this machine "
        "(90 frames at ~0.1 s/frame, measured)"
    ]


def test_train_in_imagination_estimate(capsys):
    from lsswm.agents.train_imagination import ImaginationTrainingOptions, announce_estimate

    announce_estimate(ImaginationTrainingOptions(ckpt="", out=""), "lsswm/MemoryMaze-9x9-v0")
    line = capsys.readouterr().err
    assert line.startswith("train-in-imagination: this will take about ")
    assert "20000 imagined steps at ~0.03 s/step, assumed" in line
    assert "3000 real env steps" in line
    assert "for a quick look use --timesteps 2048" in line


def test_memory_synthetic_prints_its_estimate_before_running(tmp_path, capsys, monkeypatch):
    from lsswm.cli.main import main
    from lsswm.experiments import memory_synthetic

    ran = []
    monkeypatch.setattr(memory_synthetic, "run_synthetic_memory", lambda run, out: ran.append(1))
    out = str(tmp_path / "synthetic")
    assert main(["experiment", "memory-synthetic", "--out", out]) == 0
    line = capsys.readouterr().err
    # 3000 steps of each model at 0.149 + 0.084 + 0.081 s, and 3 x 30 s of scoring: ~17 min.
    assert line.startswith("memory-synthetic: this will take about 17 min on 2 CPU cores")
    assert "3000 hybrid training steps at ~0.15 s/step" in line
    assert line.rstrip().endswith("for a quick look use --budget smoke")
    assert main(["experiment", "memory-synthetic", "--out", out, "--budget", "smoke"]) == 0
    assert re.match(r"memory-synthetic: this will take about \d+ s ", capsys.readouterr().err)
    # The maze geometry: 4 times the tokens per step, 4 times the rate.
    argv = ["experiment", "memory-synthetic", "--out", out, "--latent", "4x4x16"]
    assert main([*argv, "--variants", "hybrid"]) == 0
    assert "3000 hybrid training steps at ~0.6 s/step" in capsys.readouterr().err
    assert ran == [1, 1, 1]


def readme_commands() -> list[tuple[list[str], str]]:
    """The README's command block as (argv, comment) per command; continuation lines and
    comment-only lines belong to the command above them."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## The commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands: list[list[str]] = []
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        if line.startswith("lsswm "):
            commands.append([code, comment])
        elif commands:
            commands[-1][0] += " " + code
            commands[-1][1] += " " + comment
    return [(shlex.split(code.replace("\\", " ")), comment) for code, comment in commands]


def test_every_readme_command_parses_and_says_how_long_it_takes():
    from lsswm.cli.main import build_parser, build_registry

    parser = build_parser(build_registry())
    commands = readme_commands()
    assert len(commands) > 15
    timed = re.compile(r"\d+(\.\d+)?(-\d+)? ?(s|min)\b|seconds|minutes")
    for argv, comment in commands:
        assert argv[0] == "lsswm"
        parser.parse_args(argv[1:])  # a wrong flag exits (SystemExit fails the test)
        if argv[1] != "play":  # interactive: runs until closed
            assert timed.search(comment), f"no duration for: {shlex.join(argv)}"


def test_memory_experiment_prints_its_estimate_before_running(tmp_path, capsys, monkeypatch):
    from lsswm.cli.main import main
    from lsswm.experiments import memory

    ran = []
    monkeypatch.setattr(memory, "run_memory_experiment", lambda *a, **k: ran.append(1) or {})
    assert main(["experiment", "memory", "--out", str(tmp_path / "maze")]) == 0
    line = capsys.readouterr().err.splitlines()[0]
    # 2400 steps of three models side by side at ~1.95 s/step, plus data and scoring: ~85 min.
    assert re.match(r"experiment memory: this will take about (8\d|9\d) min", line), line
    assert "--budget smoke" in line and ran == [1]
