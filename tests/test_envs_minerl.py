"""The MineRL adapter, tested against FakeMineRLEnv, a test double of minerl 0.4's env API.

minerl cannot be installed on these machines; the fake reproduces the parts of its API the
adapter uses: ``action_space.noop()`` (a dict with every key), ``seed(int)`` before ``reset()``,
``reset() -> obs`` and ``step(dict) -> (obs, reward, done, info)`` with ``obs["pov"]`` uint8
(64, 64, 3), ``obs["compass"]["angle"]`` and ``obs["inventory"]["dirt"]``, and old gym's
``info["TimeLimit.truncated"]``. With ``new_api=True`` it answers like gym 0.26's compatibility
layer around minerl instead: ``reset() -> (obs, info)`` and 5-tuple steps.
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

import gymnasium
import numpy as np
import pytest

from lsswm.envs import EnvError, InvalidActionError, MissingDependencyError, make
from lsswm.envs.minerl_env import ACTION_NAMES, MineRLEnv


class _FakeActionSpace:
    def noop(self) -> dict[str, Any]:
        # minerl 0.4 Navigate's action keys and no-op values.
        return {
            "attack": 0, "back": 0, "forward": 0, "jump": 0, "left": 0, "right": 0,
            "sneak": 0, "sprint": 0, "camera": np.zeros(2, dtype=np.float32), "place": "none",
        }  # fmt: skip


class FakeMineRLEnv:
    """Test double of a minerl 0.4 env: a flat world where the pov encodes the agent's pose.

    Pixels: red = x position, green = yaw / 2 (degrees mod 360), blue = height (jumping);
    touching x >= goal_x ends the task (done without TimeLimit.truncated), and ``max_steps``
    ends it by time (with ``TimeLimit.truncated``), like old gym's TimeLimit wrapper.
    """

    def __init__(
        self, env_id: str = "MineRLNavigateDense-v0", max_steps: int = 50, new_api: bool = False
    ) -> None:
        self.env_id = env_id
        self.new_api = new_api
        self.action_space = _FakeActionSpace()
        self.max_steps = max_steps
        self.goal_x = 20
        self.seeds: list[int] = []
        self.actions: list[dict[str, Any]] = []
        self.closed = False

    def seed(self, seed: int) -> None:
        assert isinstance(seed, int), "minerl asserts an int seed"
        self.seeds.append(seed)

    def reset(self) -> Any:
        start = self.seeds[-1] % 5 if self.seeds else 0
        self.x, self.yaw, self.height, self.t = start, 0.0, 0, 0
        return (self._obs(), {}) if self.new_api else self._obs()

    def step(self, action: dict[str, Any]) -> tuple:
        assert set(action) == set(self.action_space.noop()), "minerl wants every action key"
        self.actions.append(action)
        self.t += 1
        self.yaw += float(np.asarray(action["camera"])[1])
        self.x += int(action["forward"])
        self.height = int(action["jump"])
        reward = float(action["forward"])
        goal, time_up = self.x >= self.goal_x, self.t >= self.max_steps
        if goal:
            reward = 100.0
        if self.new_api:
            return self._obs(), reward, goal, time_up and not goal, {}
        return (
            self._obs(),
            reward,
            goal or time_up,
            {"TimeLimit.truncated": True} if (time_up and not goal) else {},
        )

    def close(self) -> None:
        self.closed = True

    def _obs(self) -> dict[str, Any]:
        pov = np.zeros((64, 64, 3), dtype=np.uint8)
        pov[..., 0] = self.x * 10
        pov[..., 1] = int(self.yaw % 360) // 2
        pov[..., 2] = self.height * 200
        return {
            "pov": pov,
            "compass": {"angle": np.array(12.5 - self.x, dtype=np.float32)},
            "inventory": {"dirt": np.array(self.x // 4)},
        }


def _adapter(new_api: bool = False, **kwargs: Any) -> MineRLEnv:
    fake = FakeMineRLEnv(new_api=new_api)
    env = MineRLEnv(minerl_env_factory=lambda env_id: fake, **kwargs)
    env.fake = fake  # type: ignore[attr-defined]
    return env


def test_actions_map_to_minerl_dict_actions() -> None:
    env = _adapter(turn_degrees=30.0)
    env.reset(seed=0)
    assert ACTION_NAMES == ("forward", "turn_left", "turn_right", "jump")
    for index in range(4):
        env.step(index)
    forward, left, right, jump = env.fake.actions
    assert forward["forward"] == 1 and forward["jump"] == 0
    np.testing.assert_array_equal(forward["camera"], [0, 0])
    assert left["forward"] == 0 and list(left["camera"]) == [0.0, -30.0]
    assert right["forward"] == 0 and list(right["camera"]) == [0.0, 30.0]
    assert jump["jump"] == 1 and jump["forward"] == 1
    for action in (left, right):  # turns touch nothing but the camera
        others = {k: v for k, v in action.items() if k != "camera"}
        assert others == {k: v for k, v in _FakeActionSpace().noop().items() if k != "camera"}


def test_observation_state_and_yaw() -> None:
    env = _adapter(turn_degrees=30.0)
    frame, info = env.reset(seed=0)
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert info["state"]["yaw"] == 0.0
    rewards = []
    for action in (1, 1, 0, 2):
        frame, reward, *_, info = env.step(action)
        rewards.append(reward)
    assert info["state"]["yaw"] == -30.0  # two lefts, one right
    assert frame[0, 0, 1] == (330 // 2)  # the fake world turned by the same amount
    assert frame[0, 0, 0] == 10 and rewards == [0.0, 0.0, 1.0, 0.0]  # one forward step
    assert info["state"]["compass_angle"] == pytest.approx(11.5)
    assert info["state"]["dirt"] == 0
    for key, (shape, dtype) in env.state_spec.items():
        assert info["state"][key].shape == shape and info["state"][key].dtype == dtype


def test_resizing_to_the_teco_resolution() -> None:
    env = _adapter(resolution=128)
    frame, _ = env.reset(seed=0)
    assert env.observation_space.shape == (128, 128, 3)
    assert frame.shape == (128, 128, 3) and frame.dtype == np.uint8
    frame, *_ = env.step(0)
    assert (frame[..., 0] == 10).all()  # a uniform image stays uniform after resizing


@pytest.mark.parametrize("new_api", [False, True], ids=["old-gym-api", "gym-0.26-compat"])
def test_seed_is_passed_to_minerl_before_reset(new_api: bool) -> None:
    env = _adapter(new_api=new_api)
    frame, _ = env.reset(seed=7)
    assert frame[0, 0, 0] == 20  # the fake starts at x = seed % 5
    env.reset()
    env.reset(seed=8)
    assert env.fake.seeds == [7, 8]


@pytest.mark.parametrize("new_api", [False, True], ids=["old-gym-api", "gym-0.26-compat"])
def test_goal_terminates_and_time_limit_truncates(new_api: bool) -> None:
    env = _adapter(new_api=new_api)
    env.fake.goal_x = 3
    env.reset(seed=0)
    flags = [env.step(0)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (True, False)]
    with pytest.raises(EnvError, match="reset"):
        env.step(0)
    env.fake.goal_x, env.fake.max_steps = 100, 2
    env.reset(seed=0)
    assert [env.step(1)[2:4] for _ in range(2)] == [(False, False), (False, True)]
    env.episode_steps = 1  # our own limit, as for the other lsswm envs
    env.reset(seed=0)
    assert env.step(1)[2:4] == (False, True)


@pytest.mark.parametrize("action", [4, -1, 0.5, "forward", True])
def test_invalid_action_is_a_clear_error(action: object) -> None:
    env = _adapter()
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=r"integers 0-3 \(0 forward, 1 turn_left"):
        env.step(action)


def test_close_closes_minerl() -> None:
    env = _adapter()
    env.close()
    assert env.fake.closed


def test_env_checkers_pass_over_the_fake(env_checkers) -> None:
    env = make(
        "lsswm/MineRL-Navigate-v0",
        render_mode="rgb_array",
        minerl_env_factory=FakeMineRLEnv,
    )
    assert env.unwrapped._minerl.env_id == "MineRLNavigateDense-v0"
    env_checkers(env)


def test_ppo_smoke_run_over_the_fake() -> None:
    from stable_baselines3 import PPO

    env = make("lsswm/MineRL-Navigate-v0", minerl_env_factory=FakeMineRLEnv)
    model = PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=192)
    assert model.num_timesteps >= 192


def test_missing_minerl_explains_why_and_how(monkeypatch: pytest.MonkeyPatch) -> None:
    # Make `import minerl` fail even on a machine where minerl is installed.
    real_import = builtins.__import__

    def no_minerl(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "minerl" or name.startswith("minerl."):
            raise ModuleNotFoundError("No module named 'minerl'", name="minerl")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "minerl", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_minerl)
    with pytest.raises(MissingDependencyError) as caught:
        gymnasium.make("lsswm/MineRL-Navigate-v0")
    message = str(caught.value)
    assert caught.value.user_facing
    assert "minerl" in message and "not installed" in message
    assert "Java 8" in message  # why
    assert "pip install 'lsswm[minerl]'" in message  # how
    assert "openjdk-8" in message and "docs/minerl.md" in message
    assert "lsswm/Crafter-v0" in message  # what runs instead
