"""lsswm eval reward: AUROC by hand, stream concatenation, the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lsswm.eval.reward import auroc, precision_recall


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
