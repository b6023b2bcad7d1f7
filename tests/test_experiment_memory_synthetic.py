"""The synthetic recall task and the memory-synthetic experiment.

The fast test trains a hybrid for a few hundred steps and checks that it recalls views seen
beyond its attention window, and that the recall goes when the far past is cut or replaced:
it fails if the scan cannot carry a view across a full turn. The slow test runs the documented
comparison (hybrid vs causal-window) at its full budget.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from lsswm.experiments.memory_synthetic import (
    binned,
    budget_config,
    probe_psnr,
    quick,
    run_synthetic_memory,
    seed_script_args,
    train_model,
)
from lsswm.worldmodel.sizing import count_parameters
from lsswm.worldmodel.synthetic_memory import (
    CHANCE_PSNR,
    LATENT_CAP_DB,
    NEVER_SEEN,
    TurnTask,
    drifting_views,
    frames_since_last_seen,
    latent_psnr,
    make_batch,
)


def test_views_recur_one_turn_later_and_batches_are_reproducible():
    task = TurnTask(n_views=12, frames=30)
    batch = make_batch(task, 3, torch.Generator().manual_seed(5))
    again = make_batch(task, 3, torch.Generator().manual_seed(5))
    torch.testing.assert_close(batch.latents, again.latents, rtol=0, atol=0)
    assert (batch.last_seen[:, :12] == NEVER_SEEN).all()  # the first turn shows new views
    assert (batch.last_seen[:, 12:] == 12).all()  # then each view again, a turn later
    torch.testing.assert_close(batch.latents[:, 12:], batch.latents[:, :-12], rtol=0, atol=0)
    angle = batch.headings.float() * 2 * math.pi / 12
    torch.testing.assert_close(batch.actions[..., 0], angle.cos())
    turning = make_batch(
        TurnTask(action_kind="discrete"), 2, torch.Generator().manual_seed(0)
    ).actions
    assert turning.dtype == torch.long and set(turning[:, 1:].unique().tolist()) <= {0, 1}


def test_drifting_views_shift_by_the_drift_each_turn():
    views = torch.randn(2, 6, 2, 3, 4, generator=torch.Generator().manual_seed(0))
    turned = torch.arange(3, 22)[None].repeat(2, 1)  # three turns from heading 3
    exact, columns = drifting_views(views, turned, 0.0)
    torch.testing.assert_close(exact, views[:, turned[0] % 6], rtol=0, atol=0)
    assert columns[0, 3].item() == 0.0  # heading 0 (6 mod 6) is column 0 without drift
    # One token of drift per turn: a turn later the window starts one column further on.
    shifted, _ = drifting_views(views, turned, 1.0)
    torch.testing.assert_close(shifted[:, 6:, :, :2], shifted[:, :-6, :, 1:], rtol=0, atol=1e-6)
    # Half a token per turn: after one turn the window lies halfway between the exact one and
    # the one a column on.
    half, _ = drifting_views(views, turned, 0.5)
    one_turn = turned[0] == 9
    halfway = (exact[:, one_turn] + shifted[:, one_turn]) / 2
    torch.testing.assert_close(half[:, one_turn], halfway, atol=1e-6, rtol=0)
    task = TurnTask(n_views=12, frames=36, view_drift=1 / 3)
    batch = make_batch(task, 4, torch.Generator().manual_seed(2))
    assert (batch.last_seen[:, 12:] == 12).all()  # a third of a token: still the same view
    assert not torch.allclose(batch.latents[:, 12:], batch.latents[:, :-12])


def test_the_view_keys_row_matches_the_panorama_and_the_hybrid_size():
    run = quick(variants=("hybrid", "hybrid-view-keys"), view_drift=1 / 3)
    configs = run.model_configs()
    assert configs["hybrid-view-keys"].action_key_view_degrees == 15.0  # 360 / (12 x 2)
    assert configs["hybrid"].action_key_view_degrees == 0.0
    hybrid, keyed = (count_parameters(c) for c in configs.values())
    assert abs(hybrid - keyed) < 0.01 * hybrid


def test_every_row_the_command_offers_builds_at_the_hybrids_size():
    from lsswm.experiments.commands import SYNTHETIC_VARIANTS

    configs = quick(variants=SYNTHETIC_VARIANTS).model_configs()
    assert list(configs) == list(SYNTHETIC_VARIANTS)
    assert (configs["hybrid-delta"].ssm_update, configs["hybrid-delta"].ssm_write_gate) == (
        "delta",
        "signal",
    )
    assert configs["hybrid"].ssm_update == "add"
    sizes = [count_parameters(config) for config in configs.values()]
    assert max(sizes) - min(sizes) < 0.01 * sizes[0]


def test_frames_since_last_seen_on_a_hand_made_sequence():
    keys = torch.tensor([[0, 1, 0, 0, 2, 1]])
    assert frames_since_last_seen(keys).tolist() == [[-1, -1, 2, 1, -1, 4]]


def test_latent_psnr_of_the_mean_view_is_chance():
    views = make_batch(TurnTask(), 64, torch.Generator().manual_seed(1)).latents
    score = latent_psnr(torch.zeros_like(views), views).mean()
    assert abs(float(score) - CHANCE_PSNR) < 0.2


def test_hybrid_recalls_beyond_its_window_and_loses_it_without_the_far_past():
    run = quick(steps=450, batch_size=16, eval_episodes=32, channels=4, threads=1, progress=False)
    config = run.model_configs()["hybrid"]
    model, losses = train_model(config, run)
    window = config.window_frames

    def far_past(past: str) -> float:
        return binned(*probe_psnr(model, run, past), window=window)["far-past-only"]["psnr"]

    full, cut, shuffled = far_past("full"), far_past("window"), far_past("shuffled")
    assert full > CHANCE_PSNR + 1.0, (full, losses[-10:])
    assert cut < CHANCE_PSNR + 0.3 < full - 0.7
    assert shuffled < full - 0.7


def test_smoke_run_writes_results(tmp_path):
    run = budget_config("smoke", variants=("hybrid", "causal-window"), threads=1, progress=False)
    summary = run_synthetic_memory(run, tmp_path)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert set(saved["models"]) == {"hybrid", "causal-window"} == set(summary["models"])
    assert (tmp_path / "psnr_by_model.png").stat().st_size > 1000
    assert "| hybrid |" in (tmp_path / "results.md").read_text()
    counts = {name: entry["parameters"] for name, entry in saved["models"].items()}
    assert abs(counts["hybrid"] - counts["causal-window"]) < 0.01 * counts["hybrid"]
    # Views recur exactly, so copying the last sighting is perfect (the PSNR cap).
    assert saved["copy_last_sighting"]["beyond-window"]["psnr"] == pytest.approx(LATENT_CAP_DB)
    # A re-run with the same settings resumes: nothing is trained again.
    again = run_synthetic_memory(run, tmp_path)
    assert again["models"]["hybrid"]["train_seconds"] == saved["models"]["hybrid"]["train_seconds"]


@pytest.mark.slow
def test_full_budget_hybrid_recalls_far_above_causal_window(tmp_path):
    run = budget_config("full", variants=("hybrid", "causal-window"), threads=2, progress=False)
    summary = run_synthetic_memory(run, tmp_path)
    hybrid = summary["models"]["hybrid"]["imagine"]["beyond-window"]
    window = summary["models"]["causal-window"]["imagine"]["beyond-window"]
    # The bar: at least 10 dB above causal-window on views last seen beyond the
    # window, with confidence intervals over held-out episodes that do not overlap.
    assert hybrid["ci95"][0] > window["ci95"][1] + 10.0, (hybrid, window)


def test_cli_sets_the_maze_geometry(tmp_path, monkeypatch):
    from lsswm.cli.main import main
    from lsswm.experiments import memory_synthetic

    runs = []
    monkeypatch.setattr(memory_synthetic, "run_synthetic_memory", lambda run, out: runs.append(run))
    argv = ["experiment", "memory-synthetic", "--out", str(tmp_path), "--budget", "smoke"]
    argv += ["--views", "20", "--latent", "4x4x16", "--scan-blocks", "2x2,4x4", "--frames", "48"]
    argv += ["--context", "24", "--batch-size", "8", "--eval-episodes", "32"]
    argv += ["--actions", "discrete", "--view-drift", "0.25"]
    assert main([*argv, "--variants", "hybrid"]) == 0
    run = runs[0]
    assert (run.task.n_views, run.task.latent_shape, run.task.frames) == (20, (4, 4, 16), 48)
    assert (run.task.action_kind, run.task.view_drift) == ("discrete", 0.25)
    assert run.base_model().action_kind == "discrete"
    assert (run.context, run.batch_size, run.eval_episodes) == (24, 8, 32)
    assert run.base_model().scan_blocks == ((2, 2), (4, 4), (2, 2), (4, 4))
    # Without --scan-blocks: 1x1 and whole-frame blocks in turn.
    assert budget_config("smoke", height=4, width=4).base_model().scan_blocks[:2] == (
        (1, 1),
        (4, 4),
    )
    with pytest.raises(SystemExit, match="--latent '4x4': expected 3 positive integers"):
        main(["experiment", "memory-synthetic", "--out", str(tmp_path), "--latent", "4x4"])


def test_seed_script_args_parse_and_refuse_bad_input():
    usage = "script.py a|b SEEDS [THREADS]"
    assert seed_script_args(["a", "0,1,2"], usage, {"a": {}, "b": {}}) == ("a", [0, 1, 2], 2)
    assert seed_script_args(["7", "3", "1"], usage) == ("7", [3], 1)
    with pytest.raises(SystemExit, match=r"usage: script\.py"):
        seed_script_args(["a"], usage)
    with pytest.raises(SystemExit, match="unknown change 'c'; use one of a, b"):
        seed_script_args(["c", "0"], usage, {"a": {}, "b": {}})
    with pytest.raises(SystemExit, match="must be integers"):
        seed_script_args(["a", "0;1"], usage)


def test_train_seeds_from_argv_trains_the_named_change(monkeypatch, tmp_path):
    import lsswm.experiments.memory_synthetic as experiment

    calls = []
    monkeypatch.setattr(experiment, "train_seeds", lambda *args, **kw: calls.append((args, kw)))
    changes = {"delta": {"ssm_update": "delta"}, "add": {}}
    experiment.train_seeds_from_argv(["delta", "0,1", "1"], "usage", changes, tmp_path)
    assert calls == [(("delta", {"ssm_update": "delta"}, [0, 1], tmp_path), {"threads": 1})]
    with pytest.raises(SystemExit, match="unknown change"):
        experiment.train_seeds_from_argv(["mul", "0"], "usage", changes, tmp_path)
