"""Memory Maze data policies driven by the true maze state in ``info["state"]``.

* ``explore``: repeatedly picks a goal cell, favouring cells not visited for the longest time
  (unvisited first), and drives there along the BFS shortest path with action noise. Because
  the least-recently-visited cells are by definition the places seen longest ago, the agent
  covers the maze and then keeps coming back to old places: revisit distances spread far
  beyond the world model's 10-frame attention window (``lsswm data revisits``).
* ``retrieval``: the evaluation protocol's episodes. A context path (``explore`` for
  ``context`` steps, default half the step cap), then the agent drives back through the
  recorded cell sequence in reverse (loops included) to the start cell, without action noise,
  and the episode ends there. Replaying the reversed discrete actions would not retrace the
  path (the ball has momentum and slides along walls), so the return is steered from the
  true state; every frame comes from the real env. episode.json records where the return
  starts and when the start cell was reached.
* ``lookaround``: ``explore`` with one or two full turns in place at every goal, so views
  recur about 20 frames later (beyond the attention window).
* ``outback``: out to an ``explore`` goal and back along the same cells, leg after leg.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from lsswm.collect.errors import PolicyError
from lsswm.collect.maze_nav import (
    NUM_ACTIONS,
    Cell,
    CellPathDriver,
    cell_of,
    reachable_cells,
    shortest_path,
)
from lsswm.collect.policies import BasePolicy, policy_rng
from lsswm.envs.maze_oracle import LEFT, RIGHT

REQUIRED_STATE = ("maze_layout", "agent_pos", "agent_dir")


def maze_state(info: Mapping[str, Any], policy: str) -> Mapping[str, Any]:
    state = info.get("state")
    if state is None or any(key not in state for key in REQUIRED_STATE):
        have = sorted(state) if state is not None else "no info['state']"
        raise PolicyError(
            f"policy {policy!r} needs info['state'] with {list(REQUIRED_STATE)} (a Memory Maze "
            f"env such as lsswm/MemoryMaze-9x9-v0); this env gives {have}"
        )
    return state


def maze_pose(info: Mapping[str, Any], policy: str) -> tuple[np.ndarray, np.ndarray, Cell]:
    """The agent's position, heading and cell from ``info["state"]``."""
    state = maze_state(info, policy)
    pos, direction = np.asarray(state["agent_pos"]), np.asarray(state["agent_dir"])
    return pos, direction, cell_of(pos)


class ExplorePolicy(BasePolicy):
    """Shortest paths to least-recently-visited cells, with action noise.

    Options: ``noise`` (probability of a uniformly random action per step, default 0.1),
    ``age_power`` (goal cells are sampled with weight age**age_power, where age is the steps
    since the cell was last visited; default 2), ``stuck`` (steps without getting closer to
    the next cell before a short random escape and a re-plan, default 15).
    """

    name = "explore"

    def __init__(
        self,
        env: Any,
        noise: float = 0.1,
        age_power: float = 2.0,
        stuck: int = 15,
        max_steps: int | None = None,
    ) -> None:
        super().__init__(env)
        if getattr(env.action_space, "n", None) != NUM_ACTIONS:
            raise PolicyError(
                f"policy {self.name!r} drives Memory Maze's 6 discrete actions; this env's "
                f"action space is {env.action_space} (use the discrete-action Memory Maze)"
            )
        if not 0.0 <= noise <= 1.0:
            raise PolicyError(f"{self.name}:noise must be in [0, 1], got {noise}")
        self.noise = noise
        self.age_power = age_power
        self.stuck_limit = stuck
        self.driver = CellPathDriver()

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.noise_rng = policy_rng(seed, 1)
        state = maze_state(info, self.name)
        self.layout = np.asarray(state["maze_layout"])
        self.t = 0
        self.last_visit: dict[Cell, int] = {}
        self.goal: Cell | None = None
        self.driver.follow([])
        self._best_distance = np.inf
        self._since_progress = 0
        self._escape_steps = 0

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        pos, direction, cell = maze_pose(info, self.name)
        self.last_visit[cell] = self.t
        self.t += 1
        if self._escape_steps > 0:
            self._escape_steps -= 1
            return int(self.noise_rng.integers(NUM_ACTIONS))
        if self.goal is None or self.driver.finished or cell == self.goal:
            self._choose_goal(cell)
        elif not self.driver.on_track(cell):
            self._plan(cell)
        action = self.driver.action(pos, direction)
        self._watch_progress(pos, cell)
        if self.noise_rng.random() < self.noise:
            action = int(self.noise_rng.integers(NUM_ACTIONS))
        return action

    def _choose_goal(self, cell: Cell) -> None:
        candidates = [c for c in reachable_cells(self.layout, cell) if c != cell]
        if not candidates:
            self.goal = cell
            self.driver.follow([cell])
            return
        never = self.t + 4 * self.layout.size  # unvisited cells outrank every visited one
        ages = np.array([self.t - self.last_visit.get(c, -never) for c in candidates], float)
        weights = np.maximum(ages, 1.0) ** self.age_power
        choice = self.rng.choice(len(candidates), p=weights / weights.sum())
        self.goal = candidates[choice]
        self.driver.follow(shortest_path(self.layout, cell, self.goal) or [cell])
        self._reset_progress()

    def _plan(self, cell: Cell) -> None:
        path = shortest_path(self.layout, cell, self.goal) if self.goal else None
        if path is None:
            self._choose_goal(cell)
        else:
            self.driver.follow(path)
            self._reset_progress()

    def _reset_progress(self) -> None:
        self._best_distance = np.inf
        self._since_progress = 0

    def _watch_progress(self, pos: np.ndarray, cell: Cell) -> None:
        """Escape with a few random actions when wedged against a wall, then re-plan."""
        waypoint = self.driver.waypoint
        if waypoint is None:
            return
        distance = float(np.linalg.norm(pos - (np.asarray(waypoint) + 0.5)))
        if distance < self._best_distance - 0.05:
            self._best_distance = distance
            self._since_progress = 0
        else:
            self._since_progress += 1
        if self._since_progress > self.stuck_limit:
            self._escape_steps = 3
            self._plan(cell)


class ExploreBasedPolicy(BasePolicy):
    """Base of the policies that hand steps to an inner ``explore`` policy.

    The explorer gets the policy's action ``noise`` and name (its errors name the policy the
    user asked for), and is reset with the policy. Subclasses check their own options first,
    then call ``super().__init__(env, noise)``.
    """

    def __init__(self, env: Any, noise: float) -> None:
        super().__init__(env)
        self.explorer = ExplorePolicy(env, noise=noise)
        self.explorer.name = self.name

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.explorer.reset(seed, obs, info)


class RetracingPolicy(ExploreBasedPolicy):
    """Base of the policies that record the cells they pass, then drive back through them.

    ``path`` holds the cells entered since the outbound part began (``record``);
    ``turn_back`` starts the return along them in reverse, and ``drive`` steers it, taking
    the shortest detour back onto the path after a slide off it.
    """

    def __init__(self, env: Any, noise: float) -> None:
        super().__init__(env, noise)
        self.driver = CellPathDriver()

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        state = maze_state(info, self.name)
        self.layout = np.asarray(state["maze_layout"])
        self.path: list[Cell] = [cell_of(state["agent_pos"])]
        self.returning = False

    def record(self, cell: Cell) -> None:
        if cell != self.path[-1]:
            self.path.append(cell)

    def turn_back(self) -> None:
        self.returning = True
        self.driver.follow(self.path[::-1])

    def drive(self, pos: np.ndarray, direction: np.ndarray, cell: Cell) -> int:
        if not self.driver.finished and not self.driver.on_track(cell):
            self.driver.rejoin(self.layout, cell)
        return self.driver.action(pos, direction)


class RetrievalPolicy(RetracingPolicy):
    """Context path by ``explore``, then back to the start through the reversed cell path.

    Options: ``context`` (context steps; default half of the step cap, or 400), ``noise``
    (action noise of the context part, default 0.1). The episode ends when the start cell is
    reached (``done``), or at the step cap.
    """

    name = "retrieval"

    def __init__(
        self,
        env: Any,
        context: int | None = None,
        noise: float = 0.1,
        max_steps: int | None = None,
    ) -> None:
        self.context = int(context) if context else (max_steps // 2 if max_steps else 400)
        if self.context < 1:
            raise PolicyError(f"retrieval:context must be at least 1, got {context}")
        super().__init__(env, noise)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.t = 0
        self.returned_frame: int | None = None
        self.done = False

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        pos, direction, cell = maze_pose(info, self.name)
        if not self.returning:
            self.record(cell)
            if self.t < self.context:
                self.t += 1
                return self.explorer.act(obs, info)
            self.turn_back()
        action = self.drive(pos, direction, cell)
        if self.driver.finished:
            self.done = True
            self.returned_frame = self.t
        self.t += 1
        return action

    def episode_info(self) -> dict[str, Any]:
        return {
            "context_steps": self.context,
            "return_start_frame": self.context,
            "returned_frame": self.returned_frame,
            "start_cell": list(self.path[0]),
            "context_cell_path": [list(c) for c in self.path],
        }


class LookAroundPolicy(ExploreBasedPolicy):
    """``explore``, plus full turns in place at the places it reaches: views that recur.

    Each time the explorer reaches its goal cell, the agent turns in place for ``turns`` full
    turns (``turn_steps`` turn actions each, about 20 at Memory Maze's 18.4 degrees per step)
    in one direction chosen at random. During the second turn every view repeats one seen a
    full turn (about 20 frames) earlier: beyond a 10-frame attention window, within easy
    reach of a long memory. Options: ``turns`` (default 2), ``turn_steps`` (default 20),
    ``prob`` (chance of turning at a goal, default 1), ``noise`` (explore's action noise).
    """

    name = "lookaround"

    def __init__(
        self,
        env: Any,
        turns: int = 2,
        turn_steps: int = 20,
        prob: float = 1.0,
        noise: float = 0.1,
        max_steps: int | None = None,
    ) -> None:
        if turns < 1 or turn_steps < 1 or not 0.0 <= prob <= 1.0:
            raise PolicyError(
                f"lookaround needs turns >= 1, turn_steps >= 1 and prob in [0, 1] (got "
                f"turns={turns}, turn_steps={turn_steps}, prob={prob})"
            )
        self.turns, self.turn_steps, self.prob = int(turns), int(turn_steps), float(prob)
        super().__init__(env, noise)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.spin_rng = policy_rng(seed, 2)
        self.spin_left = 0
        self.spin_action = LEFT
        self.spins = 0

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        if self.spin_left > 0:
            self.spin_left -= 1
            return self.spin_action
        goal_before = self.explorer.goal
        cell = cell_of(maze_state(info, self.name)["agent_pos"])
        if goal_before is not None and cell == goal_before and self.spin_rng.random() < self.prob:
            self.spin_action = LEFT if self.spin_rng.random() < 0.5 else RIGHT
            self.spin_left = self.turns * self.turn_steps - 1
            self.spins += 1
            self.explorer.goal = None  # a new goal once the turns are done
            return self.spin_action
        return self.explorer.act(obs, info)

    def episode_info(self) -> dict[str, Any]:
        return {"spins": self.spins, "turns": self.turns, "turn_steps": self.turn_steps}


class OutAndBackPolicy(RetracingPolicy):
    """Drive out to an explore goal, then back to where the leg started, by the same cells.

    Every return views the outbound places again, from the opposite heading on the way back
    and from the same heading once the agent turns at the start: revisit distances of one to
    two legs. Options: ``noise`` (explore's action noise on the way out, default 0.1).
    """

    name = "outback"

    def __init__(self, env: Any, noise: float = 0.1, max_steps: int | None = None) -> None:
        super().__init__(env, noise)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.legs = 0

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        pos, direction, cell = maze_pose(info, self.name)
        if self.returning:
            if not self.driver.finished:
                return self.drive(pos, direction, cell)
            self.returning = False
            self.path = [cell]
            self.explorer.goal = None
            self.legs += 1
        self.record(cell)
        goal = self.explorer.goal
        if goal is not None and cell == goal and len(self.path) > 1:
            self.turn_back()
            return self.driver.action(pos, direction)
        return self.explorer.act(obs, info)

    def episode_info(self) -> dict[str, Any]:
        return {"legs": self.legs}


class OracleMixPolicy(ExploreBasedPolicy):
    """Legs of the target oracle mixed with legs of ``explore``: data that holds rewards.

    ``explore`` alone reaches a target about once in several hundred steps, too rarely for a
    reward head to learn from. At the start of each leg this policy drives to the current
    target (envs/maze_oracle.py: BFS shortest path, from ``info["state"]["target_pos"]``)
    with probability ``prob``, until the target is reached or ``oracle_steps`` pass; else it
    explores for a leg of ``explore_steps`` (a uniform draw in [explore_steps/2,
    explore_steps]). Options: ``prob`` (default 0.5), ``oracle_steps`` (default 150),
    ``explore_steps`` (default 60), ``noise`` (random-action probability of both kinds of
    leg, default 0.1), ``wander`` (default 0: the probability that a leg that is not an
    oracle leg wanders instead of exploring: uniformly random actions, each held for 1-4
    steps, for a leg as long as an explore leg). Deterministic per seed like the other
    policies.

    Why wander: the oracle and the explorer steer clear of walls, so their data holds almost
    no step that pushes into one (0.05% of the steps of 24 default episodes). A world model
    trained on it predicts motion for "forward" against a wall, and a planner that seeks
    motion exploits that error and stays pinned there. Wander legs show what the other legs
    never do: bumping, dithering and turning in place.
    """

    name = "oracle-mix"

    def __init__(
        self,
        env: Any,
        prob: float = 0.5,
        oracle_steps: int = 150,
        explore_steps: int = 60,
        noise: float = 0.1,
        wander: float = 0.0,
        max_steps: int | None = None,
    ) -> None:
        if not 0.0 <= prob <= 1.0 or oracle_steps < 1 or explore_steps < 2:
            raise PolicyError(
                f"oracle-mix needs prob in [0, 1], oracle_steps >= 1 and explore_steps >= 2 "
                f"(got prob={prob}, oracle_steps={oracle_steps}, explore_steps={explore_steps})"
            )
        if not 0.0 <= wander <= 1.0:
            raise PolicyError(f"oracle-mix:wander must be in [0, 1], got {wander}")
        self.prob, self.noise, self.wander = float(prob), float(noise), float(wander)
        self.oracle_steps, self.explore_steps = int(oracle_steps), int(explore_steps)
        super().__init__(env, noise)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.leg_rng = policy_rng(seed, 3)
        self.oracle_rng = policy_rng(seed, 4)
        self.wander_rng = policy_rng(seed, 5)
        self.oracle_leg = False
        self.wander_leg = False
        self.wander_action, self.wander_hold = 0, 0
        self.leg_left = 0
        self.target: tuple[float, ...] | None = None
        self.legs = {"oracle": 0, "explore": 0, "wander": 0}
        self.oracle_actions = 0

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        from lsswm.envs.maze_oracle import action_towards

        state = maze_state(info, self.name)
        if "target_pos" not in state:
            raise PolicyError("oracle-mix needs info['state']['target_pos'] (a Memory Maze env)")
        target = tuple(float(v) for v in np.asarray(state["target_pos"]).ravel())
        reached = self.oracle_leg and target != self.target
        self.target = target
        if self.leg_left <= 0 or reached:
            self._new_leg()
        self.leg_left -= 1
        if self.wander_leg:
            return self._wander()
        if not self.oracle_leg:
            return self.explorer.act(obs, info)
        self.explorer.last_visit[cell_of(state["agent_pos"])] = self.explorer.t
        self.explorer.t += 1
        self.oracle_actions += 1
        if self.oracle_rng.random() < self.noise:
            return int(self.oracle_rng.integers(NUM_ACTIONS))
        return action_towards(state, np.asarray(state["target_pos"]))

    def _wander(self) -> int:
        if self.wander_hold <= 0:
            self.wander_action = int(self.wander_rng.integers(NUM_ACTIONS))
            self.wander_hold = int(self.wander_rng.integers(1, 5))
        self.wander_hold -= 1
        return self.wander_action

    def _new_leg(self) -> None:
        self.oracle_leg = bool(self.leg_rng.random() < self.prob)
        # Drawn from its own stream, and only when enabled: default data stays byte-exact.
        self.wander_leg = (
            not self.oracle_leg and self.wander > 0 and self.wander_rng.random() < self.wander
        )
        if self.oracle_leg:
            self.leg_left = self.oracle_steps
        else:
            low = self.explore_steps // 2
            self.leg_left = int(self.leg_rng.integers(low, self.explore_steps + 1))
            self.explorer.goal = None  # a fresh explore goal from where the agent is
            self.wander_hold = 0
        kind = "oracle" if self.oracle_leg else "wander" if self.wander_leg else "explore"
        self.legs[kind] += 1

    def episode_info(self) -> dict[str, Any]:
        info = {
            "oracle_legs": self.legs["oracle"],
            "explore_legs": self.legs["explore"],
            "oracle_actions": self.oracle_actions,
        }
        if self.wander > 0:
            info["wander_legs"] = self.legs["wander"]
        return info
