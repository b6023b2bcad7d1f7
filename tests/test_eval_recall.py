"""The recall suite end to end on CPU: tiny random models, a few frames of real Memory Maze."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lsswm.cli.main import main
from lsswm.eval.episodes import EvalEpisode, env_episodes, reversed_return
from lsswm.eval.errors import EvalError
from lsswm.worldmodel.checkpoint import save_world_model

MAZE = "lsswm/MemoryMaze-9x9-v0"


@pytest.fixture
def save_tiny_model(tiny_frame_model):
    def save(
        path: Path,
        variant: str,
        *,
        image_size: int = 64,
        pose: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> Path:
        """The tests' tiny random world model (conftest.py) for Memory Maze's 6 actions or
        poses, saved with its tokenizer."""
        model = tiny_frame_model(variant, image_size=image_size, action_size=6, pose=pose)
        # AdaLN-Zero starts every model as the same identity map; give the output layer
        # weights so that different variants really generate different frames.
        torch.nn.init.normal_(model.world_model.output.weight, std=0.02)
        save_world_model(path, model, metadata)
        return path

    return save


@pytest.fixture
def save_pose_model(save_tiny_model):
    def save(path: Path, variant: str) -> Path:
        data = json.dumps({"actions": "pose", "frame_stride": 1, "image_size": 32})
        return save_tiny_model(
            path, variant, image_size=32, pose=True, metadata={"train_data": data}
        )

    return save


@pytest.fixture(scope="module")
def maze_episode() -> EvalEpisode:
    """11 frames of a real Memory Maze episode (explore policy), held-out seed."""
    return env_episodes(MAZE, "reasoning", 6, 5, 1, seed_base=1_000_000_123, progress=False)[0]


def write_dataset(root: Path, episode: EvalEpisode, seed_base: int = 7) -> Path:
    from lsswm.collect.episode_store import write_episode
    from lsswm.collect.manifest import Manifest

    arrays = {
        "frames": episode.frames,
        "actions": episode.actions,
        "rewards": np.zeros(len(episode.frames), np.float32),
        "terminated": np.zeros(len(episode.frames), bool),
        "truncated": np.zeros(len(episode.frames), bool),
        **{f"state/{k}": v for k, v in episode.state.items()},
    }
    manifest = Manifest(MAZE, "explore", len(episode.frames) - 1, seed_base, 1)
    spec = {k: {"shape": list(v.shape[1:]), "dtype": v.dtype.str} for k, v in episode.state.items()}
    manifest.set_env_description(episode.frames.shape[1:], {"type": "discrete", "n": 6}, spec)
    manifest.add(
        write_episode(root, 0, arrays, {"seed": seed_base, "env_id": MAZE, "policy": "explore"})
    )
    manifest.save(root)
    return root


def test_recall_from_the_env_compares_checkpoints(tmp_path, capsys, save_tiny_model):
    hybrid = save_tiny_model(tmp_path / "hybrid.safetensors", "hybrid")
    window = save_tiny_model(tmp_path / "window.safetensors", "causal-window")
    out = tmp_path / "recall"
    command = "eval recall --protocol retrieval --context 5 --generate 4 --episodes 1"
    command += " --device cpu --no-progress --video-format gif"
    code = main([*command.split(), "--ckpt", str(hybrid), str(window), "--out", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "Recall: generated frames against ground truth" in printed
    # The LPIPS-skipped note is printed once (with the other notes), not twice.
    assert (captured.out + captured.err).count("LPIPS skipped") == 1
    assert "PSNR by revisit distance" in printed
    results = json.loads((out / "recall_retrieval.json").read_text())
    assert results["suite"] == "recall" and results["protocol"] == "retrieval"
    # Discrete-action models cannot replay poses: the agent drives the path back.
    assert results["episodes"]["retrieval_mode"] == "drive"
    assert results["episodes"]["seed_base"] == 1_000_000_000
    names = [m["name"] for m in results["models"]]
    assert names == ["hybrid", "window"]
    for model in results["models"]:
        generated = results["episodes"]["evaluated"][0]["generate"]
        assert 1 <= generated <= 4
        assert len(model["per_frame"]["psnr"][0]) == generated
        assert len(model["per_frame"]["distance"][0]) == generated
        assert 0 < model["overall"]["psnr"] < 100
        assert -1 <= model["overall"]["ssim"] <= 1
        assert sum(row["count"] for row in model["by_distance"]) == generated
        assert "lpips" not in model["overall"]  # no LPIPS weights on this machine
    first, second = results["models"]
    assert first["per_frame"]["psnr"] != second["per_frame"]["psnr"]
    table = results["tables"][0]
    assert [row[0] for row in table["rows"]] == names
    assert any("LPIPS skipped" in note for note in results["notes"])
    for plot in results["plots"]:
        assert (out / plot).read_bytes()[:4] == b"\x89PNG"
    assert results["plots"]
    assert len(results["videos"]) == 1 and (out / results["videos"][0]).stat().st_size > 0


def test_recall_on_a_dataset_reverses_the_context_for_pose_models(
    tmp_path, maze_episode, capsys, save_pose_model
):
    data = write_dataset(tmp_path / "data", maze_episode)
    # A training run folder whose config names this very dataset: the suite must warn.
    run = tmp_path / "run-hybrid"
    run.mkdir()
    save_pose_model(run / "world_model.safetensors", "hybrid")
    (run / "config.json").write_text(json.dumps({"data": {"path": str(data)}}))
    window = save_pose_model(tmp_path / "window.safetensors", "causal-window")
    out = tmp_path / "recall"
    command = "eval recall --context 6 --generate 6 --device cpu --no-progress --videos 0"
    code = main(
        [*command.split(), "--ckpt", str(run), str(window), "--data", str(data), "--out", str(out)]
    )
    assert code == 0
    assert "not held-out worlds" in capsys.readouterr().err
    results = json.loads((out / "recall_retrieval.json").read_text())
    assert results["episodes"]["retrieval_mode"] == "reverse"
    hybrid, _ = results["models"]
    assert hybrid["name"] == "run-hybrid"
    assert hybrid["inputs"] == {"frame_stride": 1, "image_size": 32, "actions": "pose"}
    assert hybrid["seed_overlap"]["same_dataset"] is True
    # The warning reaches the JSON notes, and the report flags the model and the section.
    warnings = [n for n in results["notes"] if "not held-out worlds" in n]
    assert len(warnings) == 1 and "run-hybrid" in warnings[0]
    from lsswm.eval.report import build_report

    report, _ = build_report([out], tmp_path / "report.md", "r")
    assert "run-hybrid (⚠ evaluated on its training data)" in report
    assert "> **⚠ Not held out:** run-hybrid was trained on" in report
    assert "window (⚠" not in report
    # Generated frame j retraces context frame 5-j: its place was seen 2j+1 frames ago at
    # most (the agent may also have been there later in the context).
    distances = hybrid["per_frame"]["distance"][0]
    assert len(distances) == 6
    assert all(1 <= d <= 2 * j + 1 for j, d in enumerate(distances))


def test_episode_options_choose_the_source_the_mode_and_the_spec(
    tmp_path, maze_episode, save_tiny_model, save_pose_model
):
    from lsswm.eval.episodes import EpisodeOptions, evaluation_episodes

    data = str(write_dataset(tmp_path / "data", maze_episode))
    pose = str(save_pose_model(tmp_path / "pose.safetensors", "hybrid"))
    discrete = str(save_tiny_model(tmp_path / "discrete.safetensors", "hybrid", image_size=32))
    options = EpisodeOptions(env_id=MAZE, data=data, context=6, progress=False)
    assert options.environment() == MAZE  # read from the dataset's manifest
    episodes, spec = evaluation_episodes(options, "retrieval", [pose], (400, 400))
    assert spec.source == "dataset" and spec.data == data and spec.env_id is None
    assert spec.seed_base is None and spec.retrieval_mode == "reverse"
    assert len(episodes) == 1 and (spec.context, spec.generate, spec.episodes) == (6, 400, 1)
    with pytest.raises(EvalError, match="take\\(s\\) recorded actions, not poses"):
        evaluation_episodes(
            EpisodeOptions(data=data, retrieval_mode="reverse"), "retrieval", [discrete], (6, 2)
        )
    with pytest.raises(EvalError, match=r"--data .*nowhere"):
        EpisodeOptions(data=str(tmp_path / "nowhere")).environment()


def test_reversed_return_retraces_the_context(maze_episode):
    episode = reversed_return(maze_episode, context=4, generate=10)
    assert episode.context == 4 and episode.generate == 4  # at most the context length
    np.testing.assert_array_equal(episode.truth, maze_episode.frames[:4][::-1])
    np.testing.assert_array_equal(
        episode.state["agent_pos"][4:], maze_episode.state["agent_pos"][:4][::-1]
    )
    assert np.all(episode.actions[4:] == 0)


def test_reasoning_on_a_dataset_without_state_reports_no_distances(
    tmp_path, maze_episode, save_tiny_model
):
    from lsswm.eval.episodes import EpisodeSpec, dataset_episodes
    from lsswm.eval.recall import RecallOptions, run_recall_suite

    stateless = EvalEpisode("e", maze_episode.frames, maze_episode.actions, 6)
    data = write_dataset(tmp_path / "teco-like", stateless)
    episodes = dataset_episodes(data, "reasoning", context=6, generate=3)
    assert [e.generate for e in episodes] == [3]
    model = save_tiny_model(tmp_path / "m.safetensors", "mamba2")
    spec = EpisodeSpec("dataset", "reasoning", 6, 3, 1, data=str(data))
    results = run_recall_suite(
        [str(model)],
        episodes,
        spec,
        tmp_path / "out",
        options=RecallOptions(videos=0),
        progress=False,
    )
    assert results["models"][0]["by_distance"] is None
    assert any("state/agent_pos" in note for note in results["notes"])
    assert results["plots"] == []


def test_mismatched_model_is_refused(tmp_path, maze_episode, save_tiny_model):
    from lsswm.eval.generation import check_episodes_fit, load_for_eval

    loaded = load_for_eval(save_tiny_model(tmp_path / "m.safetensors", "hybrid", image_size=32))
    with pytest.raises(EvalError, match="32x32 frames"):
        check_episodes_fit(loaded, [maze_episode])
    assert main(["eval", "recall", "--ckpt", str(tmp_path / "nope.safetensors"), "--out", "x"]) == 2


def test_default_seed_base_is_shared_by_the_cli():
    from lsswm.eval import commands, episodes

    assert commands.DEFAULT_EVAL_SEED_BASE == episodes.DEFAULT_EVAL_SEED_BASE


def test_progress_bar_reaches_its_total(tmp_path, monkeypatch, save_tiny_model):
    """The observe+generate bar counts context frames in its total, so it must advance on
    them too (it stopped at context/(context+generate) before)."""
    import tqdm

    from lsswm.eval.generation import generate_episodes, load_for_eval

    bars = []

    class RecordingBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", RecordingBar)
    loaded = load_for_eval(save_tiny_model(tmp_path / "m.safetensors", "hybrid", image_size=32))
    rng = np.random.default_rng(0)
    episodes = [
        EvalEpisode(
            f"e{i}",
            rng.integers(0, 255, (12, 32, 32, 3), np.uint8),
            np.zeros(12, np.int64),
            context,
        )
        for i, context in enumerate((8, 8, 4))
    ]
    generate_episodes(loaded, episodes, batch_size=2, progress=True)
    (bar,) = bars
    assert bar.total == 36
    assert bar.n == bar.total
