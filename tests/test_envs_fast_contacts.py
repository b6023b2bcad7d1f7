"""The vectorised target-contact check gives exactly the stock dm_control results."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from lsswm.envs.fast_contacts import vectorised_update_activation


class _FakeContacts(list):
    """A stand-in for dm_control's live contact list: iterable structs plus numpy columns."""

    @property
    def geom1(self) -> np.ndarray:
        return np.array([c.geom1 for c in self], dtype=np.int32)

    @property
    def geom2(self) -> np.ndarray:
        return np.array([c.geom2 for c in self], dtype=np.int32)


class _FakePhysics:
    def __init__(self, pairs: list[tuple[int, int]]) -> None:
        contacts = _FakeContacts(SimpleNamespace(geom1=a, geom2=b) for a, b in pairs)
        self.data = SimpleNamespace(contact=contacts)
        self.material = SimpleNamespace(rgba=np.ones(4))

    def bind(self, element: object) -> SimpleNamespace:
        return self.material


def _target_sphere_class() -> type:
    from lsswm.envs.rendering import configure_headless_gl

    configure_headless_gl()  # before dm_control is first imported in this process
    from dm_control.locomotion.props.target_sphere import TargetSphere

    return TargetSphere


@pytest.mark.parametrize("specific_ids", [None, [], [1, 2], (7,), {4}])
def test_same_decision_as_stock_on_random_contact_sets(specific_ids: object) -> None:
    target_sphere = _target_sphere_class()
    stock_target = target_sphere(specific_collision_geom_ids=specific_ids)
    fast_target = target_sphere(specific_collision_geom_ids=specific_ids)
    rng = np.random.default_rng(0)
    outcomes = set()
    for case in range(400):
        n_contacts = int(rng.integers(0, 5))
        pairs = [(int(a), int(b)) for a, b in rng.integers(0, 9, size=(n_contacts, 2))]
        activated = case % 10 == 0
        for target in (stock_target, fast_target):
            target._geom_id = 3
            target._activated = activated
        stock_physics, fast_physics = _FakePhysics(pairs), _FakePhysics(pairs)

        target_sphere._update_activation(stock_target, stock_physics)
        vectorised_update_activation(fast_target, fast_physics)

        assert fast_target._activated == stock_target._activated, (pairs, specific_ids)
        np.testing.assert_array_equal(fast_physics.material.rgba, stock_physics.material.rgba)
        outcomes.add((activated, stock_target._activated))
    # The random cases covered both outcomes from the not-yet-activated state.
    assert (False, True) in outcomes and (False, False) in outcomes


def _rollout(fast_contacts: bool, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded Memory Maze 9x9 run: half random actions, half driving to the target (so
    targets are really touched and rewards happen); continues across episode ends."""
    from lsswm.envs.fast_contacts import uses_fast_contacts
    from lsswm.envs.maze_oracle import TargetSeekingPolicy
    from lsswm.envs.memory_maze import MemoryMazeEnv

    env = MemoryMazeEnv(9, fast_contacts=fast_contacts)
    policy = TargetSeekingPolicy(noise=0.5, seed=seed)
    frame, info = env.reset(seed=seed)
    # The env really runs the implementation under test.
    assert uses_fast_contacts(env._task.dm_env.task.root_entity) == fast_contacts
    frames, rewards, positions = [frame], [], [info["state"]["agent_pos"]]
    for _ in range(steps):
        frame, reward, terminated, truncated, info = env.step(policy(info["state"]))
        frames.append(frame)
        rewards.append(reward)
        positions.append(info["state"]["agent_pos"])
        if terminated or truncated:
            frame, info = env.reset()
            frames.append(frame)
            positions.append(info["state"]["agent_pos"])
    env.close()
    return {
        "frames": np.stack(frames),
        "rewards": np.array(rewards),
        "positions": np.stack(positions),
    }


def _assert_identical(stock: dict[str, np.ndarray], fast: dict[str, np.ndarray]) -> None:
    assert stock["rewards"].sum() >= 2, "the rollout must touch targets to test anything"
    np.testing.assert_array_equal(fast["rewards"], stock["rewards"])
    np.testing.assert_array_equal(fast["positions"], stock["positions"])
    assert fast["frames"].shape == stock["frames"].shape
    assert np.array_equal(fast["frames"], stock["frames"])  # byte-identical pixels


def test_short_rollout_is_identical_to_stock() -> None:
    _assert_identical(_rollout(False, 120), _rollout(True, 120))


@pytest.mark.slow
def test_2000_step_rollout_is_identical_to_stock() -> None:
    stock, fast = _rollout(False, 2100), _rollout(True, 2100)
    assert len(stock["frames"]) == 2100 + 1 + 2  # two episode ends inside the run
    _assert_identical(stock, fast)
