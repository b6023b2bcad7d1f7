"""The memory experiment: revisit categories, equal-size models, and (slow) a smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsswm.experiments.memory import (
    BUDGETS,
    CATEGORIES,
    experiment_config,
    last_sighting_frames,
    place_categories,
    resolved_model,
    results_table,
    run_memory_experiment,
    size_matching_overrides,
)
from lsswm.worldmodel.sizing import count_parameters
from lsswm.worldmodel.train.config import apply_overrides


def test_place_categories_follow_the_last_sighting():
    # Places as (x, y, heading); context of 2 frames, window of 2 frames.
    sequence = [(0, 0, 0), (1, 0, 0), (2, 0, 0), (0, 0, 0), (3, 0, 0), (3, 0, 0), (1, 0, 0)]
    places = np.array([sequence])
    categories = place_categories(places, context=2, window=2)
    # t=2 new; t=3 last seen at 0 (3 > 2 ago); t=4 new; t=5 seen at 4; t=6 seen at 1 (5 ago)
    assert categories.tolist() == [[2, 0, 2, 1, 0]]
    frames = np.arange(7)[None, :, None, None, None] * np.ones((1, 7, 2, 2, 3), np.uint8)
    copied = last_sighting_frames(frames, places, context=2)
    assert copied[0, :, 0, 0, 0].tolist() == [2, 0, 4, 4, 1]


def test_models_are_matched_to_equal_parameter_counts(tmp_path):
    budget, latents = BUDGETS["full"], (4, 4, 16)
    hybrid = resolved_model(experiment_config(tmp_path, budget, "hybrid", []), latents)
    window_config = experiment_config(tmp_path, budget, "causal-window", [])
    assert window_config.model.scan_blocks == ()
    fit = size_matching_overrides(hybrid, resolved_model(window_config, latents))
    fitted = apply_overrides(window_config, fit)
    target, got = count_parameters(hybrid), count_parameters(resolved_model(fitted, latents))
    assert abs(got - target) / target < 0.01
    assert fitted.model.variant == "causal-window" and hybrid.variant == "hybrid"


def test_results_table_lists_every_category():
    entry = {"frames": 3, "psnr": 20.0, "ssim": 0.5}
    summary = {
        "window_frames": 10,
        "runs": {"hybrid": {"parameters": 1000, "steps": 5, "eval_loss": 0.25}},
        "results": {"hybrid": dict.fromkeys(CATEGORIES, entry)},
    }
    table = results_table(summary)
    assert "> 10 frames ago" in table
    assert "| hybrid | 1,000 | 5 | 0.2500 | 20.00 / 0.500 (3) |" in table


@pytest.mark.slow
def test_smoke_budget_runs_end_to_end(tmp_path):
    summary = run_memory_experiment(tmp_path / "exp", "smoke", workers=2)
    assert set(summary["results"]) == {
        "copy last sighting",
        "hybrid",
        "hybrid, last 10 context frames only",
        "causal-window",
    }
    saved = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert saved["runs"]["hybrid"]["steps"] == BUDGETS["smoke"].train_steps
    for variant in ("hybrid", "causal-window"):
        assert saved["results"][variant]["all"]["frames"] > 0
        assert torch.isfinite(torch.tensor(saved["results"][variant]["all"]["psnr"]))
    assert (tmp_path / "exp" / "results.md").read_text().count("|") > 10
