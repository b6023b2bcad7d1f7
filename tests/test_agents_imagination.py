"""The world model as an environment: SB3 env checks, VecEnv contract, PPO inside it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import gymnasium
import numpy as np
import pytest

from lsswm.agents.contexts import DatasetContexts, LiveEnvContexts
from lsswm.agents.errors import AgentError
from lsswm.agents.imagination import ImaginedBatch
from lsswm.agents.imagination_env import ImaginationEnv, ImaginationVecEnv

TOY_ENV = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"  # 32x32 frames, 5 actions, no MuJoCo


@pytest.fixture(scope="module")
def model(tiny_frame_model):
    # chunk_size 2: the stream has a pending frame every other step, which restarts must match.
    return tiny_frame_model(image_size=32, action_size=5, chunk_size=2)


@pytest.fixture(scope="module")
def contexts():
    source = LiveEnvContexts(TOY_ENV)
    yield source
    source.close()


def test_single_env_view_passes_sb3_check_env(model, contexts):
    from stable_baselines3.common.env_checker import check_env

    env = ImaginationEnv(model, contexts, context_length=3, horizon=4, denoising_steps=1)
    check_env(env, warn=False)
    first, _ = env.reset(seed=7)
    again, _ = env.reset(seed=7)
    np.testing.assert_array_equal(first, again)
    frame, reward, _, _, info = env.step(1)
    assert env.observation_space.contains(frame)
    assert isinstance(reward, float) and 0.0 <= info["termination_prob"] <= 1.0


def test_vec_env_truncates_at_horizon_and_restarts_with_terminal_observation(model, contexts):
    venv = ImaginationVecEnv(
        model,
        contexts,
        3,
        context_length=3,
        horizon=3,
        denoising_steps=1,
        termination_threshold=1.0,  # never terminate: only the horizon ends episodes
        seed=0,
    )
    observations = venv.reset()
    assert observations.shape == (3, 32, 32, 3) and observations.dtype == np.uint8
    for step in range(3):
        observations, rewards, dones, infos = venv.step(np.array([0, 1, 2]))
        assert rewards.shape == (3,) and rewards.dtype == np.float32
        assert dones.tolist() == [step == 2] * 3
    for row, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        terminal = info["terminal_observation"]
        assert terminal.shape == (32, 32, 3)
        # The returned observation is the new episode's first (real) frame, not the last one.
        assert not np.array_equal(terminal, observations[row])
    assert venv.world.steps.tolist() == [0, 0, 0]


def test_horizon_ends_as_terminal_with_the_last_frames_value(model, contexts):
    """horizon_ends='terminate': the horizon ends the row as a terminal state (PPO does not
    bootstrap there), and the shaping keeps the last frame's value, so the return is the
    imagined rewards plus the critic's value of where the row ended (the planner's
    objective); the model's own predicted termination still zeroes the potential."""
    import torch

    class FirstFeature(torch.nn.Module):
        config = SimpleNamespace(inputs="features")

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features[..., 0]

    def run(horizon_ends: str):
        batch = ImaginedBatch(
            model,
            contexts,
            2,
            context_length=2,
            horizon=2,
            horizon_ends=horizon_ends,
            denoising_steps=1,
            seed=4,
            termination_threshold=1.0,
            observation="features",
            shaping=FirstFeature(),
            shaping_weight=2.0,
            shaping_discount=0.9,
        )
        observations = [batch.start_all()]
        steps = [batch.step(np.array([1, 2])) for _ in range(2)]
        return observations + [s.observations for s in steps], steps

    observations, cut = run("truncate")
    same, ended = run("terminate")
    assert cut[1].truncated.all() and not cut[1].terminated.any()
    assert ended[1].terminated.all() and not ended[1].truncated.any()
    assert not ended[0].terminated.any()
    for t in range(2):  # same frames, same rewards: the last frame's value is not dropped
        np.testing.assert_array_equal(observations[t + 1], same[t + 1])
        np.testing.assert_allclose(ended[t].rewards, cut[t].rewards, rtol=0, atol=1e-6)
    # ... and dropping it would have shown: the last frame's shaped value is not zero.
    assert np.abs(2.0 * 0.9 * observations[2][:, 0]).min() > 1e-4
    with pytest.raises(AgentError, match="horizon_ends 'stop' is not one of"):
        run("stop")


def test_restarting_one_row_leaves_the_others_unchanged(model, contexts):
    def run(restart: bool) -> np.ndarray:
        venv = ImaginationVecEnv(
            model,
            contexts,
            2,
            context_length=2,
            horizon=None,
            denoising_steps=1,
            termination_threshold=1.0,
            seed=3,
        )
        venv.reset()
        venv.step(np.array([1, 1]))  # one frame into a chunk of 2: a pending frame
        if restart:
            venv.world.restart([1])  # row 1 gets a 3-frame context to stay chunk-aligned
            assert venv.world.steps.tolist() == [1, 0]
        frames, *_ = venv.step(np.array([2, 3]))
        return frames[0]

    np.testing.assert_array_equal(run(restart=False), run(restart=True))


def test_vec_env_seed_reproduces_contexts_and_frames(model, contexts):
    venv = ImaginationVecEnv(model, contexts, 2, context_length=2, horizon=5, denoising_steps=1)

    def rollout() -> list[np.ndarray]:
        venv.seed(11)
        out = [venv.reset()]
        for _ in range(2):
            out.append(venv.step(np.array([1, 4]))[0])
        return out

    for first, second in zip(rollout(), rollout(), strict=True):
        np.testing.assert_array_equal(first, second)


def test_ppo_runs_inside_the_imagination_env(model, contexts):
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    venv = VecMonitor(
        ImaginationVecEnv(model, contexts, 2, context_length=2, horizon=3, denoising_steps=1)
    )
    agent = PPO(
        "MlpPolicy",
        venv,
        n_steps=4,
        batch_size=8,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs={"net_arch": [16]},
    )
    agent.learn(8)
    assert agent.num_timesteps >= 8
    real_frame, _ = contexts.env.reset(seed=0)
    action, _ = agent.predict(real_frame)  # the policy acts on real frames unchanged
    assert contexts.env.action_space.contains(int(action))


def test_contexts_are_resized_to_the_model_frame_size(contexts, tiny_frame_model):
    # A model trained on 16x16 frames (the trainer's data.image_size) gets 32x32 toy frames
    # area-averaged to 16x16, in its contexts and observations alike.
    small = tiny_frame_model(image_size=16, action_size=5, chunk_size=2)
    venv = ImaginationVecEnv(small, contexts, 2, context_length=2, horizon=2, denoising_steps=1)
    assert venv.observation_space.shape == (16, 16, 3)
    assert venv.reset().shape == (2, 16, 16, 3)
    assert venv.step(np.array([0, 1]))[0].shape == (2, 16, 16, 3)


def test_contexts_that_do_not_fit_the_model_are_refused(contexts, tiny_frame_model):
    six_actions = tiny_frame_model(image_size=32, action_size=6, chunk_size=2)
    with pytest.raises(AgentError, match="actions"):
        ImaginedBatch(six_actions, contexts, 2, context_length=2)
    fits = tiny_frame_model(image_size=32, action_size=5, chunk_size=2)
    with pytest.raises(AgentError, match="context-length 2"):
        ImaginedBatch(fits, contexts, 2, context_length=1)  # the cache holds 2 frames


@pytest.fixture(scope="module")
def toy_dataset(tmp_path_factory):
    from lsswm.collect.collector import CollectConfig, collect

    root = tmp_path_factory.mktemp("toy_data")
    collect(CollectConfig(TOY_ENV, 2, 12, "random", str(root), progress=False))
    return root


def test_dataset_contexts_are_real_windows(toy_dataset, model):
    from lsswm.collect.dataset import open_dataset

    source = DatasetContexts(toy_dataset, max_length=6)
    batch = source.sample(3, 4, np.random.default_rng(0))
    assert batch.frames.shape == (3, 4, 32, 32, 3) and batch.actions.shape == (3, 4)
    episodes = [np.asarray(e["frames"]) for e in open_dataset(toy_dataset)]
    for frames in batch.frames:  # every context is a run of consecutive dataset frames
        assert any(
            np.array_equal(frames, episode[start : start + 4])
            for episode in episodes
            for start in range(len(episode) - 3)
        )
    venv = ImaginationVecEnv(model, source, 2, context_length=4, horizon=2, denoising_steps=1)
    assert venv.reset().shape == (2, 32, 32, 3)


def test_contexts_can_start_shortly_before_a_reward(tmp_path, toy_dataset):
    from lsswm.collect.collector import CollectConfig, collect
    from lsswm.collect.dataset import open_dataset

    with pytest.raises(AgentError, match="holds no reward"):  # 24 random steps: no reward
        DatasetContexts(toy_dataset, max_length=4, near_reward_fraction=0.5)
    rewarded = tmp_path / "rewarded"
    collect(CollectConfig(TOY_ENV, 4, 500, "random", str(rewarded), progress=False))
    episodes = [(np.asarray(e["frames"]), np.asarray(e["rewards"])) for e in open_dataset(rewarded)]
    assert sum(int((rewards != 0).sum()) for _, rewards in episodes) >= 2

    def reward_ahead(context: np.ndarray, within: int) -> bool:
        """Whether the episode holding this context has a reward 1..within frames after it."""
        for frames, rewards in episodes:
            for end in range(len(context) - 1, len(frames)):
                if np.array_equal(frames[end - len(context) + 1 : end + 1], context):
                    return bool(np.any(rewards[end + 1 : end + 1 + within] != 0))
        raise AssertionError("the context is not a run of dataset frames")

    near = DatasetContexts(rewarded, max_length=4, near_reward_fraction=1.0, near_reward_within=2)
    batch = near.sample(6, 3, np.random.default_rng(0))
    assert all(reward_ahead(frames, 2) for frames in batch.frames)
    # A plain source draws what it drew before near-reward sampling existed.
    plain = DatasetContexts(rewarded, max_length=4)
    again = DatasetContexts(rewarded, max_length=4, near_reward_fraction=0.0)
    first, second = (s.sample(6, 3, np.random.default_rng(1)).frames for s in (plain, again))
    np.testing.assert_array_equal(first, second)
    # Pooled datasets: contexts come from both, and near-reward ones from where rewards are.
    pooled = DatasetContexts(f"{toy_dataset},{rewarded}", max_length=4)
    drawn = pooled.sample(600, 3, np.random.default_rng(2)).frames
    small = [np.asarray(e["frames"]) for e in open_dataset(toy_dataset)]

    def in_small(context: np.ndarray) -> bool:
        return any(
            np.array_equal(frames[i : i + 3], context)
            for frames in small
            for i in range(len(frames) - 2)
        )

    from_small = sum(in_small(context) for context in drawn)
    assert 0 < from_small < 30  # 20 of the pool's 2,012 windows: about 6 of 600
    near_pool = DatasetContexts(
        [toy_dataset, rewarded], max_length=4, near_reward_fraction=1.0, near_reward_within=2
    )
    assert all(reward_ahead(c, 2) for c in near_pool.sample(6, 3, np.random.default_rng(0)).frames)
    with pytest.raises(AgentError, match="near_reward_fraction must lie in"):
        DatasetContexts(rewarded, max_length=4, near_reward_fraction=1.5)


def train_tiny_policy(tmp_path, model, *extra: str):
    """Run `lsswm agents train-in-imagination` for 8 steps on the toy env; returns the saved
    model checkpoint and the run folder."""
    from lsswm.cli.main import main
    from lsswm.worldmodel.checkpoint import save_world_model

    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, model)
    out = tmp_path / "run"
    argv = ["agents", "train-in-imagination", "--ckpt", str(ckpt), "--env", TOY_ENV]
    argv += ["--out", str(out), "--timesteps", "8", "--num-envs", "2", "--n-steps", "4"]
    argv += ["--batch-size", "8", "--n-epochs", "1", "--horizon", "3", "--context-length", "2"]
    argv += ["--denoising-steps", "1", "--eval-episodes", "2", "--eval-max-steps", "5"]
    assert main([*argv, "--no-progress", *extra]) == 0
    return ckpt, out


def test_train_in_imagination_cli_saves_a_policy_and_scores_it_for_real(tmp_path, model):
    _, out = train_tiny_policy(tmp_path, model)
    assert (out / "policy.zip").is_file()
    summary = json.loads((out / "train_in_imagination.json").read_text())
    assert summary["settings"]["policy"] == "MlpPolicy"  # 32 px is below the CNN's minimum
    real = summary["real_env"]
    assert real["score_name"] == "return"
    assert len(real["trained in imagination"]["scores"]) == 2
    assert len(real["random"]["scores"]) == 2


def test_motion_drive_adds_the_heads_prediction_to_the_reward(model, contexts):
    # Same seed, same frames: the reward with the drive is the model's reward plus
    # motion_weight times the head's output on the generated frame's features.
    import torch

    class ConstantMotion(torch.nn.Module):
        config = SimpleNamespace(inputs="features")

        def __init__(self) -> None:
            super().__init__()
            self.level = torch.nn.Parameter(torch.tensor(0.25))  # a head with weights

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features.sum(-1) * 0 + self.level

    def rewards(**motion) -> np.ndarray:
        batch = ImaginedBatch(
            model, contexts, 2, context_length=2, denoising_steps=1, seed=3, **motion
        )
        batch.start_all()
        return batch.step(np.array([1, 4])).rewards

    np.testing.assert_allclose(
        rewards(motion=ConstantMotion(), motion_weight=2.0), rewards() + 0.5, rtol=0, atol=1e-6
    )


def test_reward_head_replaces_the_models_reward_by_its_expected_reward(model, contexts):
    # A fresh reward head outputs logit 0 (its last layer starts at zero): with an offset of
    # -1 and a hit's reward of 2, every imagined frame is worth 2 * sigmoid(-1), whatever the
    # world model's own head predicts.
    import torch

    from lsswm.agents.critic import Critic, CriticConfig

    dim = model.config.d_model
    config = CriticConfig(dim, output="hit-logit", hit_logit_offset=-1.0, reward_at_hit=2.0)
    batch = ImaginedBatch(
        model, contexts, 2, context_length=2, denoising_steps=1, seed=3, reward_head=Critic(config)
    )
    batch.start_all()
    expected = 2.0 * torch.sigmoid(torch.tensor(-1.0)).item()
    np.testing.assert_allclose(batch.step(np.array([1, 4])).rewards, expected, rtol=1e-6)
    # --reward-weight scales the predicted reward (here the head's)
    weighted = ImaginedBatch(
        model,
        contexts,
        2,
        context_length=2,
        denoising_steps=1,
        seed=3,
        reward_head=Critic(config),
        reward_weight=3.0,
    )
    weighted.start_all()
    np.testing.assert_allclose(weighted.step(np.array([1, 4])).rewards, 3 * expected, rtol=1e-6)
    value = Critic(CriticConfig(feature_dim=model.config.d_model))
    with pytest.raises(AgentError, match="the reward head is a value critic"):
        ImaginedBatch(model, contexts, 2, context_length=2, reward_head=value)
    other = Critic(CriticConfig(dim + 1, output="hit-logit"))
    with pytest.raises(AgentError, match="it was fitted on another model"):
        ImaginedBatch(model, contexts, 2, context_length=2, reward_head=other)


def test_feature_observations_are_the_models_features_of_the_same_frames(model, contexts):
    # Same seed, same contexts and frames: the feature rows observe exactly what the frame
    # rows show, and their observations are the stream's pooled features of those frames.
    def run(observation: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
        batch = ImaginedBatch(
            model, contexts, 2, context_length=2, denoising_steps=1, seed=5, observation=observation
        )
        observations, frames = [batch.start_all()], [batch.frames.copy()]
        for _ in range(2):
            step = batch.step(np.array([1, 3]))
            observations.append(step.observations)
            frames.append(step.frames)
        return observations, frames

    pixels, frames = run("frames")
    features, same_frames = run("features")
    for a, b in zip(frames, same_frames, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pixels[0], frames[0])
    dim = model.config.d_model
    assert all(f.shape == (2, dim) and f.dtype == np.float32 for f in features)
    assert np.isfinite(np.stack(features)).all()
    venv = ImaginationVecEnv(
        model, contexts, 2, context_length=2, horizon=2, denoising_steps=1, observation="features"
    )
    assert venv.observation_space.shape == (dim,)
    assert venv.reset().shape == (2, dim) and venv.step(np.array([0, 1]))[0].shape == (2, dim)
    assert venv.get_images()[0].shape == (32, 32, 3)  # renders stay frames
    with pytest.raises(AgentError, match="observation"):
        ImaginedBatch(model, contexts, 2, context_length=2, observation="pixels")


def test_feature_policy_reads_its_own_streams_features_of_the_real_episode(model, contexts):
    # In the real env the agent observes every frame with the action that led to it, in one
    # stream for the whole episode: the features it hands its policy are exactly those of a
    # stream fed the same frames and actions in one go.
    import torch

    from lsswm.agents.feature_policy import FeaturePolicyAgent
    from lsswm.agents.model_io import to_model_frames

    class Recorder:
        def __init__(self) -> None:
            self.seen: list[np.ndarray] = []

        def reset(self, seed, obs, info) -> None:
            self.seen = [obs]

        def act(self, obs, info) -> int:
            if len(self.seen) == 0 or obs is not self.seen[-1]:
                self.seen.append(obs)
            return len(self.seen) % 5

        def episode_info(self) -> dict:
            return {}

    env = contexts.env
    agent = FeaturePolicyAgent(model, Recorder())
    obs, info = env.reset(seed=3)
    frames, actions = [obs], [0]
    agent.reset(3, obs, info)
    for _ in range(4):
        action = agent.act(obs, info)
        obs, _, _, _, info = env.step(action)
        frames.append(obs)
        actions.append(action)
    agent.act(obs, info)  # observes the last frame
    stream = model.start_stream(1)
    model_frames = to_model_frames(np.stack(frames), model)
    with torch.no_grad():
        out = stream.observe_frames(
            torch.as_tensor(model_frames)[None], torch.tensor([actions], dtype=torch.long)
        )
    expected = out.features[0].float().numpy()
    seen = np.stack(agent.inner.seen)
    assert seen.shape == expected.shape
    np.testing.assert_allclose(seen, expected, rtol=1e-4, atol=1e-5)


def test_train_in_imagination_on_features_evaluates_through_the_model(tmp_path, model):
    from lsswm.agents.agent_factory import make_agent

    ckpt, out = train_tiny_policy(tmp_path, model, "--observe", "features", "--no-eval-random")
    summary = json.loads((out / "train_in_imagination.json").read_text())
    assert summary["settings"]["observation"] == "features"
    assert len(summary["real_env"]["trained in imagination"]["scores"]) == 2
    # Away from its summary, the policy needs to be told its model.
    alone = tmp_path / "alone" / "policy.zip"
    alone.parent.mkdir()
    alone.write_bytes((out / "policy.zip").read_bytes())
    source = LiveEnvContexts(TOY_ENV)
    try:
        with pytest.raises(AgentError, match="--ckpt"):
            make_agent(f"sb3:{alone}", source.env)
        agent = make_agent(f"sb3:{alone}", source.env, ckpt=str(ckpt))
        obs, info = source.env.reset(seed=0)
        agent.reset(0, obs, info)
        assert source.env.action_space.contains(agent.act(obs, info))
    finally:
        source.close()


def test_shaping_adds_the_discounted_change_of_the_critics_value(model, contexts):
    # Potential-based shaping: with the same seed (same frames), the shaped reward is the
    # plain one plus weight * (discount * V(new frame) - V(previous frame)), the first
    # previous frame being the context's last; V here reads the features the rows observe.
    import torch

    class MeanFeature(torch.nn.Module):
        config = SimpleNamespace(inputs="features")

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features.mean(-1)

    def run(**shaping) -> tuple[list[np.ndarray], list[np.ndarray]]:
        batch = ImaginedBatch(
            model,
            contexts,
            2,
            context_length=2,
            denoising_steps=1,
            seed=4,
            termination_threshold=1.0,
            observation="features",
            **shaping,
        )
        observations, rewards = [batch.start_all()], []
        for _ in range(3):
            step = batch.step(np.array([1, 2]))
            observations.append(step.observations)
            rewards.append(step.rewards)
            # the reward is its parts, summed
            assert set(step.reward_parts) == ({"model", "shaping"} if shaping else {"model"})
            np.testing.assert_array_equal(sum(step.reward_parts.values()), step.rewards)
        return observations, rewards

    observations, plain = run()
    same, shaped = run(shaping=MeanFeature(), shaping_weight=2.0, shaping_discount=0.9)
    for t in range(3):
        np.testing.assert_array_equal(observations[t + 1], same[t + 1])
        value_now, value_next = observations[t].mean(-1), observations[t + 1].mean(-1)
        expected = plain[t] + 2.0 * (0.9 * value_next - value_now)
        np.testing.assert_allclose(shaped[t], expected, rtol=0, atol=1e-5)

    # Several critics: their weighted values add up to one potential, as the planner's do.
    class FirstFeature(MeanFeature):
        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return features[..., 0]

    _, two = run(shaping=[MeanFeature(), FirstFeature()], shaping_weight=[2.0, -3.0])
    for t in range(3):
        now, later = observations[t], observations[t + 1]
        change = 2.0 * (0.99 * later.mean(-1) - now.mean(-1)) - 3.0 * (
            0.99 * later[..., 0] - now[..., 0]
        )
        np.testing.assert_allclose(two[t], plain[t] + change, rtol=0, atol=1e-5)
    with pytest.raises(AgentError, match="1 shaping weights for 2 shaping critics"):
        run(shaping=[MeanFeature(), FirstFeature()], shaping_weight=[2.0])

    # The "steps" potential: minus the steps to go that V = discount ** steps stands for,
    # log(V) / log(1 / discount), V floored at discount ** max_steps.
    class SigmoidFeature(MeanFeature):
        config = SimpleNamespace(inputs="features", discount=0.8)

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(features[..., 0])  # in (0, 1): a few steps to go

    def steps(observation: np.ndarray, max_steps: float) -> np.ndarray:
        value = np.maximum(1 / (1 + np.exp(-observation[..., 0])), 0.8**max_steps)
        return np.log(value) / np.log(1 / 0.8)

    for max_steps in (20.0, 0.01):  # the floor far below the values, and above them
        _, in_steps = run(
            shaping=SigmoidFeature(),
            shaping_weight=0.5,
            shaping_discount=0.9,
            shaping_potential="steps",
            shaping_max_steps=max_steps,
        )
        for t in range(3):
            now, later = steps(observations[t], max_steps), steps(observations[t + 1], max_steps)
            expected = plain[t] + 0.5 * (0.9 * later - now)
            np.testing.assert_allclose(in_steps[t], expected, rtol=0, atol=1e-4)
    assert np.ptp([steps(o, 20.0) for o in observations]) > 0.1  # it moves from step to step
    with pytest.raises(AgentError, match="shaping potential 'distance' is not one of"):
        run(shaping=SigmoidFeature(), shaping_potential="distance")


def test_a_policy_trained_in_imagination_is_the_planners_prior(tmp_path, model):
    # TD-MPC2 samples candidates from its policy: with --prior sb3:PATH the planner mixes
    # the policy's probabilities for each real frame (resized to the policy's size) into its
    # first sampling distribution.
    import torch

    from lsswm.agents.agent_factory import make_agent
    from lsswm.agents.planner_config import PlannerConfig
    from lsswm.agents.real_env import make_real_env
    from lsswm.agents.sb3_prior import SB3FramePrior
    from lsswm.collect.policies_sb3 import load_sb3_model

    ckpt, out = train_tiny_policy(tmp_path, model)
    policy = out / "policy.zip"
    prior = SB3FramePrior(policy, num_actions=5)
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    probs = prior(frame)
    sb3, _, _ = load_sb3_model(policy)
    resized = frame.reshape(32, 2, 32, 2, 3).mean(axis=(1, 3)).round().astype(np.uint8)
    observation, _ = sb3.policy.obs_to_tensor(resized)
    expected = sb3.policy.get_distribution(observation).distribution.probs[0]
    assert probs.shape == (5,) and torch.allclose(probs, expected, atol=1e-6)

    env = make_real_env(TOY_ENV, 4)
    config = PlannerConfig(
        population=4, horizon=2, warm_start=0.0, prior=f"sb3:{policy}", prior_weight=0.5
    )
    agent = make_agent("planner", env, ckpt=ckpt, planner=config)
    obs, info = env.reset(seed=3)
    agent.reset(3, obs, info)
    first = agent.planner._first_probs()
    assert torch.allclose(first, 0.5 / 5 + 0.5 * prior(obs)[None, :], atol=1e-6)
    env.close()

    with pytest.raises(AgentError, match="chooses among 5 actions"):
        SB3FramePrior(policy, num_actions=3)


class _Recorder:
    """A collect policy that keeps what it was shown and always turns the same way."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def reset(self, seed, obs, info) -> None:
        self.seen.clear()

    def act(self, obs, info):
        self.seen.append(np.array(obs))
        return 0

    def episode_info(self) -> dict:
        return {}


def test_frame_stack_agent_shows_the_last_k_frames_as_vec_frame_stack_does():
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    from lsswm.agents.frame_stack import FrameStackAgent

    frames = np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)

    class Replay(gymnasium.Env):  # shows frames[0], frames[1], ... whatever the action
        observation_space = gymnasium.spaces.Box(0, 255, (8, 8, 3), np.uint8)
        action_space = gymnasium.spaces.Discrete(2)

        def reset(self, *, seed=None, options=None):
            self.t = 0
            return frames[0], {}

        def step(self, action):
            self.t += 1
            return frames[self.t], 0.0, False, False, {}

    stacked_env = VecFrameStack(DummyVecEnv([Replay]), 3, channels_order="last")
    expected = [stacked_env.reset()[0]]
    for _ in range(len(frames) - 1):
        expected.append(stacked_env.step(np.array([0]))[0][0])

    recorder = _Recorder()
    agent = FrameStackAgent(recorder, 3, (8, 8, 3))
    for episode in range(2):  # a second episode starts from zeros again
        agent.reset(episode, frames[0], {})
        for frame in frames:  # act() sees the reset frame first, as rollout_episode does
            agent.act(frame, {})
        np.testing.assert_array_equal(np.stack(recorder.seen), np.stack(expected))
    # by the definition: the newest frame last, zeros before the episode's first
    np.testing.assert_array_equal(expected[0][..., :6], 0)
    np.testing.assert_array_equal(expected[4], np.concatenate(frames[2:5], axis=-1))


def test_a_frame_stacked_policy_trains_in_imagination_and_acts_for_real(tmp_path, model):
    from lsswm.agents.agent_factory import make_agent
    from lsswm.agents.frame_stack import FrameStackAgent
    from lsswm.agents.sb3_prior import SB3FramePrior

    _, out = train_tiny_policy(tmp_path, model, "--frame-stack", "2", "--no-eval-random")
    summary = json.loads((out / "train_in_imagination.json").read_text())
    assert summary["settings"]["frame_stack"] == 2
    assert len(summary["real_env"]["trained in imagination"]["scores"]) == 2
    source = LiveEnvContexts(TOY_ENV)
    try:
        agent = make_agent(f"sb3:{out / 'policy.zip'}", source.env)
        assert isinstance(agent, FrameStackAgent)
        assert agent.inner.model.observation_space.shape == (6, 32, 32)  # SB3: channels first
    finally:
        source.close()
    with pytest.raises(AgentError, match="2 stacked frames"):
        SB3FramePrior(out / "policy.zip", num_actions=5)


def test_frame_stack_is_refused_for_feature_policies(tmp_path, model, capsys):
    with pytest.raises(AssertionError):  # the command exits 2, before any training
        train_tiny_policy(tmp_path, model, "--frame-stack", "2", "--observe", "features")
    assert "leave --frame-stack at 1" in capsys.readouterr().err
    assert not (tmp_path / "run" / "policy.zip").exists()


def test_shaping_weights_must_match_the_shaping_critics(tmp_path, model, capsys):
    with pytest.raises(AssertionError):  # the command exits 2, before any training
        train_tiny_policy(tmp_path, model, "--shaping", "a,b", "--shaping-weight", "1,2,3")
    assert "3 weights for 2 --shaping paths" in capsys.readouterr().err
    assert not (tmp_path / "run" / "policy.zip").exists()


def test_small_cnn_policy_encodes_32px_frames_and_acts_for_real(tmp_path, model):
    from lsswm.agents.agent_factory import make_agent
    from lsswm.agents.small_cnn import SmallFrameCNN

    _, out = train_tiny_policy(tmp_path, model, "--policy", "small-cnn", "--no-eval-random")
    summary = json.loads((out / "train_in_imagination.json").read_text())
    assert summary["settings"]["policy"] == "small-cnn"
    assert len(summary["real_env"]["trained in imagination"]["scores"]) == 2
    source = LiveEnvContexts(TOY_ENV)
    try:
        agent = make_agent(f"sb3:{out / 'policy.zip'}", source.env)
        assert isinstance(agent.model.policy.features_extractor, SmallFrameCNN)
        obs, info = source.env.reset(seed=0)
        agent.reset(0, obs, info)
        assert source.env.action_space.contains(agent.act(obs, info))
    finally:
        source.close()


def test_small_cnn_is_refused_for_feature_policies(tmp_path, model, capsys):
    with pytest.raises(AssertionError):  # the command exits 2, before any training
        train_tiny_policy(tmp_path, model, "--policy", "small-cnn", "--observe", "features")
    assert "--observe frames" in capsys.readouterr().err
