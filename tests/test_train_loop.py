"""The world model trainer on CPU: tiny run, exact resume, NaN stop, mismatch errors,
tokenizer training, and the batch pipeline."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from lsswm.worldmodel.checkpoint import (
    latest_checkpoint,
    load_tokenizer,
    load_world_model,
    save_tokenizer,
)
from lsswm.worldmodel.frame_model import FrameWorldModel
from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig
from lsswm.worldmodel.train.checkpoint import load_train_state
from lsswm.worldmodel.train.commands import main
from lsswm.worldmodel.train.config import (
    TrainConfigError,
    apply_overrides,
    tokenizer_preset,
    train_preset,
)
from lsswm.worldmodel.train.data import DataMismatchError, WindowBatches, describe_data
from lsswm.worldmodel.train.loop import train
from lsswm.worldmodel.train.runtime import SimulatedKill, TrainingDiverged
from lsswm.worldmodel.train.skeleton import saved_position
from lsswm.worldmodel.train.synthetic import write_synthetic_dataset
from lsswm.worldmodel.train.tokenizer import train_tokenizer

QUIET = ["log.progress=false", "system.threads=1"]


@pytest.fixture(scope="module")
def pose_dataset(tmp_path_factory):
    """Memory-Maze-style state (agent_pos, agent_dir, maze_layout): data.actions=pose works."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "grid", episodes=3, steps=30)


@pytest.fixture(scope="module")
def small_frames_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data16") / "grid16"
    return write_synthetic_dataset(root, episodes=2, steps=20, image_size=16)


def weights(path):
    return load_file(str(path))


def test_tiny_preset_trains_from_the_command_line(toy_dataset, tmp_path, capsys):
    run_dir = tmp_path / "run"
    code = main(
        [
            "train", "--data", str(toy_dataset), "--preset", "tiny", "--variant", "hybrid",
            "--run-dir", str(run_dir), "--set", "curriculum=6:2:2,8:2:1", "log.video_every=2",
            "log.video_context=3", "log.video_frames=5", *(["--set", *QUIET]),
        ]
    )  # fmt: skip
    assert code == 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"]["variant"] == "hybrid"
    assert config["model"]["latent_height"] == 4 and config["model"]["action_kind"] == "discrete"
    checkpoint = latest_checkpoint(run_dir)
    assert checkpoint.name == "step_00000004"
    assert load_train_state(checkpoint)["position"] == [2, 0, 0]
    assert sorted(p.name for p in (run_dir / "videos").iterdir()) == [
        "step_00000002.gif", "step_00000004.gif",
    ]  # fmt: skip
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    model = load_world_model(run_dir / "world_model.safetensors")
    assert isinstance(model, FrameWorldModel)
    # The exported (EMA) model streams: observe two frames, imagine two.
    stream = model.start_stream(1)
    frames = torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8)
    stream.observe_frames(frames, torch.zeros(1, 2, dtype=torch.long))
    out = stream.imagine(torch.ones(1, 2, dtype=torch.long), denoising_steps=2)
    assert out.frames.shape == (1, 2, 32, 32, 3)
    # Re-running a finished run does nothing and succeeds.
    assert main(["train", "--data", str(toy_dataset), "--run-dir", str(run_dir),
                 "--set", "curriculum=6:2:2,8:2:1", *QUIET]) == 0  # fmt: skip


def test_interrupted_and_resumed_run_ends_bitwise_identical(
    tiny_train_config, toy_dataset, tmp_path
):
    straight = tiny_train_config(toy_dataset, tmp_path / "straight", "log.checkpoint_every=2")
    train(straight)
    resumed_dir = tmp_path / "resumed"
    # Killed after step 3: the last checkpoint is step 2 (mid-stage, mid-epoch).
    with pytest.raises(SimulatedKill):
        train(
            tiny_train_config(
                toy_dataset, resumed_dir, "log.checkpoint_every=2", "debug.kill_at_step=3"
            )
        )
    assert latest_checkpoint(resumed_dir).name == "step_00000002"
    result = train(tiny_train_config(toy_dataset, resumed_dir, "log.checkpoint_every=2"))
    assert result.finished and result.step == 5
    for name in ("model.safetensors", "ema.safetensors"):
        a = weights(tmp_path / "straight" / "checkpoints" / "step_00000005" / name)
        b = weights(resumed_dir / "checkpoints" / "step_00000005" / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    state_a = load_train_state(tmp_path / "straight" / "checkpoints" / "step_00000005")
    state_b = load_train_state(resumed_dir / "checkpoints" / "step_00000005")
    for exp_a, exp_b in zip(
        state_a["optimizer"]["state"].values(), state_b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(exp_a["exp_avg_sq"], exp_b["exp_avg_sq"])


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(
    tiny_train_config, toy_dataset, tmp_path
):
    run_dir = tmp_path / "run"
    config = tiny_train_config(
        toy_dataset, run_dir, "log.checkpoint_every=2", "debug.nan_at_step=4"
    )
    with pytest.raises(TrainingDiverged, match="Last good checkpoint") as info:
        train(config)
    assert info.value.user_facing
    assert "step 4" in str(info.value) and "step_00000003" in str(info.value)
    checkpoint = latest_checkpoint(run_dir)  # step 3 ends the first stage: a checkpoint
    assert checkpoint.name == "step_00000003"
    for key, value in weights(checkpoint / "model.safetensors").items():
        assert torch.isfinite(value).all(), key
    # The fix the message suggests (a --set of optim.*) resumes from that checkpoint.
    result = train(
        tiny_train_config(toy_dataset, run_dir, "log.checkpoint_every=2", "optim.lr=5e-4")
    )
    assert result.finished and result.step == 5 and math.isfinite(result.last_loss)


def test_resuming_with_another_dataset_or_config_fails_before_training(
    tiny_train_config, pose_dataset, small_frames_dataset, tmp_path
):
    run_dir = tmp_path / "run"
    train(tiny_train_config(pose_dataset, run_dir, "curriculum=6:2:2"))
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # Frames of another size (no resize): the checkpoint's model was trained on 32x32.
    with pytest.raises(DataMismatchError, match="16x16x3 but the checkpoint") as info:
        train(
            tiny_train_config(
                small_frames_dataset, run_dir, "curriculum=6:2:2", "data.image_size=0"
            )
        )
    assert info.value.user_facing and "--run-dir" in str(info.value)
    # Another action space: pose vectors instead of the 5 discrete moves.
    with pytest.raises(DataMismatchError, match="vectors of shape \\[4\\]"):
        train(tiny_train_config(pose_dataset, run_dir, "curriculum=6:2:2", "data.actions=pose"))
    # A different model on the same run dir.
    with pytest.raises(TrainConfigError, match=r"model\.d_model"):
        train(tiny_train_config(pose_dataset, run_dir, "curriculum=6:2:2", "model.d_model=32"))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_init_checkpoint_and_tokenizer_mismatches_are_refused(
    tiny_train_config, pose_dataset, small_frames_dataset, tmp_path
):
    source = tmp_path / "source"
    train(tiny_train_config(pose_dataset, source, "curriculum=6:1:2", "data.actions=pose"))
    init = f"init={source / 'world_model.safetensors'}"
    with pytest.raises(DataMismatchError, match="5 discrete actions but the --init checkpoint"):
        train(tiny_train_config(pose_dataset, tmp_path / "a", init))
    unresized_poses = ("data.image_size=0", "data.actions=pose")
    with pytest.raises(DataMismatchError, match="16x16x3 but the --init checkpoint"):
        train(tiny_train_config(small_frames_dataset, tmp_path / "b", init, *unresized_poses))
    # Fine-tuning from it with matching data works and keeps its architecture.
    result = train(
        tiny_train_config(
            pose_dataset, tmp_path / "c", init, "data.actions=pose", "curriculum=6:1:2"
        )
    )
    assert result.finished
    # A tokenizer with another latent grid (8x8x48) than the init model's (4x4x192).
    other = tmp_path / "patch4.safetensors"
    save_tokenizer(other, Tokenizer(TokenizerConfig(kind="patchify", image_size=32, downsample=4)))
    with pytest.raises(
        DataMismatchError, match="4x4x192 latent grid but the tokenizer makes 8x8x48"
    ):
        train(
            tiny_train_config(
                pose_dataset, tmp_path / "e", init, "data.actions=pose", f"tokenizer.path={other}"
            )
        )
    # A tokenizer for 32x32 frames on 16x16 frames.
    big_tokenizer = ("data.image_size=0", f"tokenizer.path={source / 'world_model.safetensors'}")
    with pytest.raises(DataMismatchError, match="encodes 32x32 frames but the dataset gives 16x16"):
        train(tiny_train_config(small_frames_dataset, tmp_path / "d", *big_tokenizer))


def test_tokenizer_training_then_world_model_on_its_latents(
    tiny_train_config, toy_dataset, tmp_path
):
    config = apply_overrides(
        tokenizer_preset("tiny"),
        [f"data.path={toy_dataset}", f"run_dir={tmp_path / 'tok'}", "steps=3", "batch_size=4",
         "log.video_every=3", *QUIET],
    )  # fmt: skip
    result = train_tokenizer(config)
    assert result.finished and result.export.is_file()
    assert (tmp_path / "tok" / "samples" / "step_00000003.png").is_file()
    tokenizer = load_tokenizer(result.export)
    assert tokenizer.config.latent_shape == (8, 8, 4)
    assert not torch.equal(tokenizer.latent_std, torch.ones(4))  # calibrated
    on_its_latents = (f"tokenizer.path={result.export}", "curriculum=6:1:2")
    run = train(tiny_train_config(toy_dataset, tmp_path / "wm", *on_its_latents))
    assert run.finished
    assert load_world_model(run.export).config.latent_channels == 4
    wrong = apply_overrides(config, [f"run_dir={tmp_path / 'tok2'}", "tokenizer.image_size=64"])
    with pytest.raises(DataMismatchError, match=r"tokenizer\.image_size=64"):
        train_tokenizer(wrong)


def test_interrupted_and_resumed_tokenizer_ends_bitwise_identical(toy_dataset, tmp_path):
    def run(name, *overrides):
        settings = [f"data.path={toy_dataset}", f"run_dir={tmp_path / name}", "steps=4",
                    "batch_size=4", "log.checkpoint_every=2", *QUIET, *overrides]  # fmt: skip
        return apply_overrides(tokenizer_preset("tiny"), settings)

    straight = train_tokenizer(run("straight"))
    with pytest.raises(SimulatedKill):
        train_tokenizer(run("resumed", "debug.kill_at_step=3"))
    resumed = train_tokenizer(run("resumed"))
    assert resumed.finished and resumed.step == 4
    expected, got = weights(straight.export), weights(resumed.export)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def test_tokenizer_stops_on_nan_like_the_world_model(toy_dataset, tmp_path):
    settings = [f"data.path={toy_dataset}", f"run_dir={tmp_path / 'tok'}", "steps=3",
                "batch_size=4", "debug.nan_at_step=2", *QUIET]  # fmt: skip
    with pytest.raises(TrainingDiverged, match="tokenizer training diverged: loss nan at step 2"):
        train_tokenizer(apply_overrides(tokenizer_preset("tiny"), settings))


def test_tokenizer_checkpoints_of_the_old_two_number_position_resume():
    # Before the trainers shared one loop, a tokenizer checkpoint held (epoch, next batch).
    assert saved_position({"position": [3, 5]}) == (0, 3, 5)
    assert saved_position({"position": [1, 2, 0]}) == (1, 2, 0)


def test_batches_resize_stride_and_pose_actions(pose_dataset):
    config = train_preset("memory").data
    config = apply_overrides(config, [f"path={pose_dataset}", "image_size=16", "frame_stride=2"])
    spec = describe_data(config)
    assert spec.image_shape == (16, 16, 3) and spec.action_space == {"type": "box", "shape": [4]}
    batches = WindowBatches(config, spec, frames=5, batch_size=2, seed=0)
    batch = batches[0]
    assert batch["frames"].shape == (2, 5, 16, 16, 3) and batch["frames"].dtype == torch.uint8
    assert batch["actions"].shape == (2, 5, 4) and batch["actions"].dtype == torch.float32
    assert batch["place"].shape == (2, 5, 3)
    # Positions are scaled to [-1, 1] and headings are unit vectors.
    assert batch["actions"][..., :2].abs().max() <= 1
    assert torch.allclose(batch["actions"][..., 2:].norm(dim=-1), torch.ones(2, 5))
    # Deterministic: the same batch index gives the same batch; sharding splits the windows.
    again = WindowBatches(config, spec, frames=5, batch_size=2, seed=0)[0]
    assert torch.equal(batch["frames"], again["frames"])
    rank0 = WindowBatches(config, spec, 5, 1, seed=0, rank=0, world_size=2)
    rank1 = WindowBatches(config, spec, 5, 1, seed=0, rank=1, world_size=2)
    assert rank0.windows.rank_window_ids()[0] != rank1.windows.rank_window_ids()[0]


def test_memory_preset_trains_on_discrete_and_pose_actions(
    toy_dataset, pose_dataset, tmp_path, capsys
):
    """The recall recipe's Fourier keys serve pose actions; on discrete-action data the
    trainer drops them with a note instead of refusing the preset (and resumes alike)."""
    tiny = ["--set", "curriculum=6:2:2", "model.d_model=32", *QUIET]
    for name, data, extra in (
        ("discrete", toy_dataset, ["data.actions=dataset"]),
        ("pose", pose_dataset, ["data.actions=pose"]),
    ):
        argv = ["train", "--data", str(data), "--preset", "memory"]
        argv += ["--run-dir", str(tmp_path / name), *tiny, *extra]
        assert main(argv) == 0
        assert main(argv) == 0  # the finished run is found again, not refused
    saved = {
        n: json.loads((tmp_path / n / "config.json").read_text())["model"]
        for n in ("discrete", "pose")
    }
    assert saved["discrete"]["action_kind"] == "discrete"
    assert saved["discrete"]["action_key_fourier"] == 0
    assert saved["pose"]["action_kind"] == "continuous"
    assert saved["pose"]["action_key_fourier"] == 256
    assert "discrete actions (data.actions=dataset); dropping" in capsys.readouterr().err


def test_far_view_weights_come_from_the_windows_poses(pose_dataset, toy_dataset):
    from lsswm.collect.revisits import view_distances

    config = apply_overrides(
        train_preset("memory").data, [f"path={pose_dataset}", "far_view_weight=4"]
    )
    batch = WindowBatches(config, describe_data(config), frames=24, batch_size=2, seed=0)[0]
    assert batch["view_distance"].shape == (2, 24)
    # The recall protocol's distances (same cell, heading within 10 degrees), from the
    # batch's own poses.
    for row in range(2):
        cells = batch["place"][row, :, :2].numpy()
        heading = torch.atan2(batch["actions"][row, :, 3], batch["actions"][row, :, 2]).numpy()
        expected = view_distances(cells, heading, 0, reference="all")
        assert batch["view_distance"][row].tolist() == expected.tolist()
    # Data without poses is refused with the fix named.
    with pytest.raises(DataMismatchError, match=r"set data\.far_view_weight=0"):
        describe_data(apply_overrides(config, [f"path={toy_dataset}"]))


def test_frame_weights_weigh_the_diffusion_loss(tiny_config):
    from lsswm.worldmodel.model import WorldModel

    config = tiny_config("hybrid", clean_prefix_prob=0.0)  # every frame noised
    torch.manual_seed(0)
    model = WorldModel(config).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.2)
    shape = (2, 6, config.latent_height, config.latent_width, config.latent_channels)
    latents = torch.randn(shape, dtype=torch.float64)
    actions = torch.randint(0, config.action_size, (2, 6))

    def loss(weights):
        generator = torch.Generator().manual_seed(3)  # the same noise every call
        out = model.training_loss(latents, actions, generator=generator, frame_weights=weights)
        return out.diffusion

    per_frame = torch.stack(
        [loss(torch.nn.functional.one_hot(torch.tensor(i), 12).reshape(2, 6)) for i in range(12)]
    ).reshape(2, 6)
    torch.testing.assert_close(loss(None), per_frame.mean())
    weights = torch.rand(2, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    expected = (weights * per_frame).sum() / weights.sum()
    # The loss is accumulated in float32 whatever the model's dtype.
    torch.testing.assert_close(loss(weights), expected.float(), rtol=1e-6, atol=0)
