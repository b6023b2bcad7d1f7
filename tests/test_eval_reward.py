"""lsswm eval reward: AUROC by hand, stream concatenation, the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsswm.agents.hit_metrics import auroc, precision_recall


def test_auroc_matches_a_hand_computed_case():
    # Positives score 0.9 and 0.4; negatives 0.8, 0.4, 0.1. Pairs (pos > neg, ties half):
    # 0.9 beats all 3; 0.4 beats 0.1, ties 0.4, loses to 0.8 -> (3 + 1 + 0.5) / 6 = 0.75.
    scores = np.array([0.9, 0.8, 0.4, 0.4, 0.1])
    labels = np.array([1, 0, 1, 0, 0], bool)
    assert auroc(scores, labels) == pytest.approx(0.75)
    assert auroc(-scores, labels) == pytest.approx(0.25)
    assert auroc(np.ones(4), np.array([1, 0, 0, 0], bool)) == pytest.approx(0.5)
    assert np.isnan(auroc(scores, np.zeros(5, bool)))
    precision, recall = precision_recall(scores, labels, 0.5)
    assert (precision, recall) == (0.5, 0.5)  # fires on 0.9 (hit) and 0.8 (miss)


def test_concatenated_streams_equal_selected_rows(tiny_frame_model):
    model = tiny_frame_model(image_size=16, action_size=6, chunk_size=2)
    stream = model.start_stream(1)
    frames = torch.randint(0, 256, (1, 4, 16, 16, 3), dtype=torch.uint8)
    stream.observe_frames(frames, torch.zeros(1, 4, dtype=torch.long))
    joined = type(stream).concat([stream.clone(), stream.clone()])
    for a, b in zip(joined.tensors(), stream.select([0, 0]).tensors(), strict=True):
        assert torch.equal(a, b)
    odd = stream.clone()
    odd.observe_frames(frames[:, :1], torch.zeros(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="chunk cycle"):
        type(stream).concat([stream, odd])


def test_eval_reward_command_writes_json_and_plot(tmp_path, tiny_frame_model):
    from lsswm.cli.main import main
    from lsswm.collect.dataset import open_dataset
    from lsswm.worldmodel.checkpoint import save_world_model
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", episodes=2, steps=24, image_size=16)
    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, tiny_frame_model(image_size=16, action_size=6, chunk_size=2))
    out = tmp_path / "reward"
    argv = ["eval", "reward", "--ckpt", str(ckpt), "--data", str(data), "--episodes", "2"]
    argv += ["--horizon", "3", "--min-context", "4", "--denoising-steps", "1"]
    argv += ["--out", str(out), "--no-progress"]
    assert main(argv) == 0
    saved = json.loads((out / "reward.json").read_text())
    assert saved["suite"] == "reward"
    assert [row["steps_ahead"] for row in saved["curve"]] == [0, 1, 2, 3]
    hits = sum(int((np.asarray(e["rewards"])[4:] > 0).sum()) for e in open_dataset(data))
    assert saved["curve"][0]["hits"] == hits
    # Starts 3..(25-1-3)=21: 19 rows per episode at every k.
    assert all(row["frames"] == 2 * 19 for row in saved["curve"][1:])
    assert (out / "reward_auroc.png").stat().st_size > 0
    # the hybrid's chunks are bidirectional: its results say what that does below the horizon
    assert any("bidirectional inside a chunk" in note for note in saved["notes"])
    save_world_model(ckpt, tiny_frame_model("causal-window", image_size=16, action_size=6))
    assert main(argv) == 0
    saved = json.loads((out / "reward.json").read_text())
    assert not any("bidirectional" in note for note in saved["notes"])


@pytest.mark.parametrize("inputs", ["features", "trajectory"])
def test_eval_reward_scores_a_fitted_reward_head_on_imagined_features(
    tmp_path, tiny_frame_model, inputs
):
    from lsswm.agents.critic import load_critic
    from lsswm.agents.critic_returns import ReturnsCriticOptions, fit_returns_critic
    from lsswm.agents.model_io import load_frame_world_model
    from lsswm.agents.open_loop import open_loop
    from lsswm.collect.dataset import open_dataset
    from lsswm.eval.errors import EvalError
    from lsswm.eval.reward import RewardOptions, run_reward_eval
    from lsswm.worldmodel.checkpoint import save_world_model
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", episodes=2, steps=24, image_size=16)
    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, tiny_frame_model(image_size=16, action_size=6, chunk_size=2))
    fit = ReturnsCriticOptions(ckpt=str(ckpt), data=str(data), out=str(tmp_path / "head"))
    fit.horizon, fit.min_context, fit.targets, fit.epochs, fit.progress = 3, 4, "reward", 2, False
    fit.inputs = inputs
    fit_returns_critic(fit)
    head_path = tmp_path / "head" / "critic.safetensors"
    options = RewardOptions(ckpt=str(ckpt), out=str(tmp_path / "out"), data=str(data))
    options.episodes, options.horizon, options.min_context, options.stride = 2, 3, 4, 1
    options.denoising_steps, options.progress, options.reward_head = 1, False, str(head_path)
    saved = run_reward_eval(options)
    assert saved["settings"]["reward_head"] == str(head_path)

    # The same open-loop rows (the eval's generator, seeded 0, runs over the episodes in
    # order), scored by the head: the eval's means at k = 1 must be these.
    model, head = load_frame_world_model(str(ckpt)), load_critic(head_path)
    generator = torch.Generator().manual_seed(0)
    at_hits, elsewhere = [], []
    for episode in open_dataset(data):
        rewards = np.asarray(episode["rewards"])
        rows = open_loop(
            model,
            np.array(episode["frames"]),
            np.array(episode["actions"]),
            3,
            4,
            1,
            1,
            generator,
            keep="features",
        )
        first = torch.as_tensor(rows.inputs[:, 0])  # (S, D): imagined frame 1
        if inputs == "trajectory":  # the path to frame 1 is frame 1, padded to 3 frames
            first = torch.cat([first, torch.zeros(len(first), 2 * 32 + 3)], 1)
            first[:, 3 * 32] = 1.0  # depth 1, one-hot
        with torch.no_grad():
            probability = head.hit_probability(first).numpy()
        hit = rewards[rows.starts + 1] > 0
        at_hits.append(probability[hit])
        elsewhere.append(probability[~hit])
    row = saved["curve"][1]
    assert row["mean_predicted_elsewhere"] == pytest.approx(np.concatenate(elsewhere).mean())
    if row["hits"]:
        assert row["mean_predicted_at_hits"] == pytest.approx(np.concatenate(at_hits).mean())
    low, high = row["auroc_ci95"]
    assert np.isnan(row["auroc"]) or low <= row["auroc"] <= high
    if inputs == "trajectory":  # a path head cannot score paths longer than its own
        assert head.config.trajectory_frames == 3
        options.horizon = 4
        with pytest.raises(EvalError, match="paths of up to 3 frames: use --horizon 3"):
            run_reward_eval(options)
    else:  # a value critic is not a reward head
        value = ReturnsCriticOptions(ckpt=str(ckpt), data=str(data), out=str(tmp_path / "v"))
        value.horizon, value.min_context, value.epochs = 2, 4, 1
        value.discount, value.progress = 0.5, False
        fit_returns_critic(value)
        options.reward_head = str(tmp_path / "v" / "critic.safetensors")
        with pytest.raises(EvalError, match="not a reward head"):
            run_reward_eval(options)


def test_pooled_interval_resamples_whole_episodes():
    from lsswm.eval.confidence import pooled_statistic_interval

    one = (np.array([0.9, 0.1, 0.2, 0.8]), np.array([1, 0, 0, 0], bool))
    # One episode: every resample is that episode, so the interval is its AUROC exactly.
    low, high = pooled_statistic_interval([one], auroc, resamples=50)
    assert low == high == pytest.approx(auroc(*one))
    perfect = (np.array([0.9, 0.1]), np.array([1, 0], bool))
    wrong = (np.array([0.1, 0.9]), np.array([1, 0], bool))
    low, high = pooled_statistic_interval([perfect, wrong], auroc, resamples=400)
    assert low == 0.0 and high == 1.0  # resamples of only one kind occur both ways
