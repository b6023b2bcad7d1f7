"""The Memory Maze memory experiment: views, references, ablations, equal-size models, the
results table, and (slow) a smoke run end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from lsswm.eval.recall import FrameScorer
from lsswm.experiments import maze_recall as recall
from lsswm.experiments.memory import (
    BUDGETS,
    VARIANTS,
    experiment_config,
    resolved_model,
    results_table,
    run_memory_experiment,
    size_matching_overrides,
)
from lsswm.worldmodel.sizing import count_parameters
from lsswm.worldmodel.train.config import apply_overrides


def toy_sequences(episodes: int = 2, per_episode: int = 2, frames: int = 8) -> recall.EvalSequences:
    """Sequences turning in place in cell (1, 1), 90 degrees a frame: a view recurs every 4
    frames. Frame t of sequence i has every pixel = 10 * i + t, so copies are traceable."""
    count = episodes * per_episode
    values = 10 * np.arange(count)[:, None] + np.arange(frames)[None]
    pixels = torch.from_numpy(values.astype(np.uint8))[..., None, None, None]
    headings = np.tile(np.arange(frames) * (math.pi / 2), (count, 1))
    return recall.EvalSequences(
        frames=pixels.expand(count, frames, 12, 12, 3).clone(),
        actions=torch.zeros(count, frames, 4),
        cells=np.ones((count, frames, 2), np.int64),
        headings=headings,
        episodes=np.repeat(np.arange(episodes), per_episode),
    )


def test_last_sighting_copies_the_frame_one_turn_back():
    sequences = toy_sequences()
    distances = sequences.distances(context=5)
    assert distances[0].tolist() == [4, 4, 4]  # frames 5, 6, 7 show views of frames 1, 2, 3
    copied = recall.last_sighting_frames(sequences, context=5)
    assert copied[1, :, 0, 0, 0].tolist() == [11, 12, 13]


def test_far_past_ablations_change_only_what_they_claim():
    sequences = toy_sequences()
    frames, _, observed = recall.with_past(sequences, context=6, window=2, past="window")
    assert observed == 2 and frames[0, :, 0, 0, 0].tolist() == [4, 5, 6, 7]
    shuffled, _, observed = recall.with_past(sequences, context=6, window=2, past="shuffled")
    assert observed == 6
    # The 4 frames before the window come from another episode; the window and targets stay.
    assert recall.other_episode_rows(sequences.episodes).tolist() == [2, 3, 0, 1]
    assert shuffled[0, :, 0, 0, 0].tolist() == [20, 21, 22, 23, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="past must be one of"):
        recall.with_past(sequences, 6, 2, "none")


def test_scores_carry_intervals_over_episodes_and_paired_gains():
    sequences = toy_sequences()
    truth = sequences.frames[:, 5:]
    scorer = FrameScorer(None, "cpu", [])
    perfect = recall.score(truth, sequences, 5, window=2, scorer=scorer)
    worse = recall.score(truth // 2, sequences, 5, window=2, scorer=scorer)
    beyond = recall.window_rows(worse, 2)["beyond"]
    assert beyond["count"] == 12 and beyond["episodes"] == 2
    low, high = beyond["psnr_ci95"]
    assert low <= beyond["psnr"] <= high
    gained = recall.gain(perfect, worse, window=2)
    assert gained["mean"] > 20 and gained["ci95"][0] > 0
    copy = recall.score(truth, sequences, 5, 2, scorer, blank_unseen=True)
    assert copy["by_distance"][-1]["label"] == "unseen" and copy["by_distance"][-1]["psnr"] is None


def test_models_are_matched_to_equal_parameter_counts(tmp_path):
    budget, latents = BUDGETS["full"], (4, 4, 16)
    hybrid = resolved_model(experiment_config(tmp_path, budget, "hybrid", []), latents)
    assert hybrid.ssm_state_size == 64 and hybrid.action_keys
    for variant in VARIANTS[1:]:
        config = experiment_config(tmp_path, budget, variant, [])
        assert config.model.scan_blocks == ()
        fitted = apply_overrides(
            config, size_matching_overrides(hybrid, resolved_model(config, latents))
        )
        target, got = count_parameters(hybrid), count_parameters(resolved_model(fitted, latents))
        assert abs(got - target) / target < 0.01
        assert fitted.model.variant == variant


def test_results_table_shows_bins_probe_and_bars():
    row = {"label": "1-10", "count": 3, "psnr": 20.0, "psnr_ci95": [19.0, 21.0]}
    result = {"by_distance": [row], "by_window": {"1-10": row, ">=11": row, "unseen": row}}
    gain = {"mean": 2.5, "ci95": [1.0, 4.0], "episodes": 4}
    summary = {
        "window_frames": 10,
        "runs": {
            "hybrid": {"parameters": 1000, "steps": 5, "train_seconds": 7.0, "eval_loss": 0.25}
        },
        "imagined": {"hybrid": result},
        "probe": {"hybrid": result},
        "bars": {
            "hybrid_minus_causal_window": gain,
            "hybrid_minus_cut_to_window": gain,
            "hybrid_minus_shuffled_past": None,
            "probe_full_minus_cut_to_window": gain,
            "met": {"gain_at_least_2db_ci_excludes_0": True},
        },
    }
    table = results_table(summary)
    assert "| hybrid | 1,000 | 5 | 7 | 0.2500 | 20.0 [19.0, 21.0] |" in table
    assert "+2.50 dB [+1.00, +4.00]" in table
    assert "gain_at_least_2db_ci_excludes_0: met" in table


@pytest.mark.slow
def test_smoke_budget_runs_end_to_end(tmp_path):
    summary = run_memory_experiment(tmp_path / "exp", "smoke", workers=2, progress=False)
    assert set(summary["imagined"]) == {
        "copy last sighting",
        "tokenizer round trip",
        *VARIANTS,
        "hybrid, context cut to window",
        "hybrid, far past shuffled",
    }
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["runs"]["hybrid"]["steps"] == 6
    for variant in VARIANTS:
        rows = recall.window_rows(saved["imagined"][variant], saved["window_frames"])
        assert rows["within"]["count"] + rows["beyond"]["count"] + rows["unseen"]["count"] > 0
    assert (tmp_path / "exp" / "psnr_by_distance.png").stat().st_size > 0
    assert (tmp_path / "exp" / saved["video"]).stat().st_size > 0
