"""The navigation suite: random, oracle and planner in the real Memory Maze; Crafter scores."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from lsswm.eval.navigation import NavigationOptions, references_for, run_navigation, summarize

MAZE = "lsswm/MemoryMaze-9x9-v0"


def test_references_are_scaled_to_the_episode_length():
    maze = SimpleNamespace(maze_size=9, native_episode_steps=1000)
    references = references_for(maze, 250)
    assert references["human"] == 26.4 and references["oracle_max"] == 34.8
    assert references["human_scaled"] == pytest.approx(6.6)
    assert references["oracle_max_scaled"] == pytest.approx(8.7)
    assert references_for(SimpleNamespace(), 100) is None  # not a maze: no reference


def test_summary_has_a_95_percent_t_interval():
    # 10 scores, mean 1, sample std 1 (ddof=1): half width t_{0.975, 9} / sqrt(10) = 0.7045.
    summary = summarize([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert summary["mean"] == pytest.approx(1.0)
    std = summary["std"]
    assert summary["ci95_high"] - summary["mean"] == pytest.approx(2.262 * std / 10**0.5)
    assert summary["mean"] - summary["ci95_low"] == pytest.approx(2.262 * std / 10**0.5)
    one = summarize([3.0])
    assert one["ci95_low"] == one["ci95_high"] == 3.0


def test_oracle_reaches_targets_and_beats_random(tmp_path):
    # Seed 0's first target is ~47 steps away for the oracle (measured): 60 steps reach it.
    results = run_navigation(
        NavigationOptions(
            agents=["random", "oracle"],
            env_id=MAZE,
            episodes=1,
            max_steps=60,
            seed_base=0,
            out=str(tmp_path),
            progress=False,
        )
    )
    scores = {record["agent"]: record["scores"][0] for record in results["agents"]}
    assert scores["oracle"] >= 1
    assert scores["oracle"] > scores["random"]
    saved = json.loads((tmp_path / "navigation.json").read_text())
    assert saved["suite"] == "navigation" and saved["score_name"] == "targets reached"
    assert saved["references"]["human_scaled"] == pytest.approx(26.4 * 60 / 1000)
    table = saved["tables"][0]
    assert [row[0] for row in table["rows"]] == [
        "random",
        "oracle",
        "human (Memory Maze paper)",
        "oracle max (Memory Maze paper)",
    ]
    assert sorted(saved["videos"]) == ["navigation_oracle.mp4", "navigation_random.mp4"]
    assert all((tmp_path / video).stat().st_size > 0 for video in saved["videos"])
    assert "| oracle |" in (tmp_path / "navigation.md").read_text()


def test_planner_plays_the_real_maze_from_the_cli(tmp_path, tiny_frame_model):
    from lsswm.cli.main import main
    from lsswm.worldmodel.checkpoint import save_world_model

    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, tiny_frame_model(image_size=64, action_size=6, chunk_size=2))
    out = tmp_path / "nav"
    argv = ["eval", "navigation", "--agent", "planner", "--env", MAZE, "--episodes", "1"]
    argv += ["--max-steps", "4", "--ckpt", str(ckpt), "--out", str(out), "--no-progress"]
    argv += ["--horizon", "2", "--population", "3", "--iterations", "1", "--elites", "1"]
    argv += ["--denoising-steps", "1", "--replan-every", "1", "--no-video"]
    assert main(argv) == 0
    record = json.loads((out / "navigation.json").read_text())["agents"][0]
    assert record["agent"] == "planner" and record["episodes"][0]["steps"] == 4
    cost = record["episodes"][0]["agent_info"]
    assert cost["planning_calls"] == 4 and cost["model_passes_per_step"] > 0


def test_planner_without_a_checkpoint_is_refused(tmp_path, capsys):
    from lsswm.cli.main import main

    argv = ["eval", "navigation", "--agent", "planner", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--ckpt" in capsys.readouterr().err


def test_crafter_scores_achievements_unlocked(tmp_path):
    results = run_navigation(
        NavigationOptions(
            agents=["crafter-gather"],
            env_id="lsswm/Crafter-v0",
            episodes=1,
            max_steps=80,
            seed_base=0,
            out=str(tmp_path),
            progress=False,
            video=False,
        )
    )
    assert results["score_name"] == "achievements unlocked" and results["references"] is None
    episode = results["agents"][0]["episodes"][0]
    assert episode["score"] == len(episode["achievements"]) > 0
    assert "collect_wood" in episode["achievements"]
    achievements_table = results["tables"][1]
    assert {row[0] for row in achievements_table["rows"]} == set(episode["achievements"])


def test_plan_video_frame_shows_real_view_beside_the_labelled_plan():
    import numpy as np

    from lsswm.eval.plan_video import PlanVideoOptions, _compose
    from lsswm.eval.videos import CONTEXT_COLOUR, MODEL_COLOUR, STRIP

    real = np.zeros((32, 32, 3), np.uint8)
    plan = np.full((3, 32, 32, 3), 200, np.uint8)
    options = PlanVideoOptions(ckpt="", out="", scale=2)
    image = _compose(real, plan, np.array([0.0, 0.9, 0.1]), 1, 5, 2.0, 1, options)
    panel, gap = 64, 16
    assert image.shape == (STRIP + panel, 4 * panel + 3 * gap, 3)
    # the plan's first step was executed already (grey strip); the rest are model colour
    first, second = panel + gap, 2 * (panel + gap)
    assert tuple(image[STRIP - 1, first + panel - 1]) == CONTEXT_COLOUR
    assert tuple(image[STRIP - 1, second + panel - 1]) == MODEL_COLOUR
    assert image[STRIP:, first : first + panel].min() == 200  # imagined frames, upscaled
