"""A shortest-path driver for Memory Maze that uses only ``info["state"]``.

Useful wherever an episode should visit targets or chosen places (tests that need rewards,
scripted data collection, navigation baselines). It plans a breadth-first shortest path over
``maze_layout`` cells and turns the rolling ball toward the next cell centre with the six
discrete actions. Coordinates follow docs/envs.md: positions are ``(x, y)`` in cell units,
``maze_layout[y, x] == 1`` is a free cell, ``agent_dir`` is a unit ``(dx, dy)`` heading, and a
positive (counter-clockwise) angle means "turn left".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from itertools import pairwise

import numpy as np

NOOP, FORWARD, LEFT, RIGHT, FORWARD_LEFT, FORWARD_RIGHT = range(6)

# Heading error (radians) below which the ball drives straight, and above which it turns on
# the spot; in between it curves while moving.
_STRAIGHT_BELOW = 0.25
_TURN_IN_PLACE_ABOVE = 0.8


def shortest_path(
    layout: np.ndarray, start: tuple[int, int], goal: tuple[int, int]
) -> list[tuple[int, int]]:
    """Cells ``(x, y)`` from ``start`` to ``goal`` inclusive (4-connected), [] if unreachable."""
    height, width = layout.shape
    previous: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            path = [cell]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        x, y = cell
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            if 0 <= nx < width and 0 <= ny < height and layout[ny, nx] and (nx, ny) not in previous:
                previous[(nx, ny)] = cell
                queue.append((nx, ny))
    return []


def action_towards(state: Mapping[str, np.ndarray], goal_xy: np.ndarray) -> int:
    """The discrete action that drives the agent along a shortest path to ``goal_xy``."""
    position = np.asarray(state["agent_pos"], dtype=np.float64)
    start = _cell(position)
    goal = _cell(np.asarray(goal_xy, dtype=np.float64))
    path = shortest_path(np.asarray(state["maze_layout"]), start, goal)
    if len(path) >= 2:
        waypoint = np.array(path[1], dtype=np.float64) + 0.5  # centre of the next cell
    else:
        waypoint = np.asarray(goal_xy, dtype=np.float64)
    return steer(position, np.asarray(state["agent_dir"], dtype=np.float64), waypoint)


# Memory Maze's ball: about 0.25 cells per step at top speed, 18.4 degrees per turning step.
CELLS_PER_STEP = 0.25
RADIANS_PER_TURN_STEP = np.radians(18.4)


def steps_to_goal(state: Mapping[str, np.ndarray], goal_xy: np.ndarray) -> float:
    """Env steps the shortest path to ``goal_xy`` takes at best: its length through the next
    cells' centres at top speed, plus the turn toward the first waypoint (inf if unreachable).
    An estimate (the ball accelerates and arcs), used as a privileged value target."""
    position = np.asarray(state["agent_pos"], dtype=np.float64)
    goal = np.asarray(goal_xy, dtype=np.float64)
    path = shortest_path(np.asarray(state["maze_layout"]), _cell(position), _cell(goal))
    if not path:
        return float("inf")
    points = [position, *(np.array(c, dtype=np.float64) + 0.5 for c in path[1:-1]), goal]
    length = sum(float(np.linalg.norm(b - a)) for a, b in pairwise(points))
    turn = abs(heading_error(state["agent_dir"], points[1] - points[0]))
    return length / CELLS_PER_STEP + turn / RADIANS_PER_TURN_STEP


class TargetSeekingPolicy:
    """Drives to the current target; with probability ``noise`` takes a uniform random action."""

    def __init__(self, noise: float = 0.0, seed: int | None = None) -> None:
        self.noise = noise
        self._rng = np.random.default_rng(seed)

    def __call__(self, state: Mapping[str, np.ndarray]) -> int:
        if self.noise > 0 and self._rng.random() < self.noise:
            return int(self._rng.integers(6))
        return action_towards(state, state["target_pos"])


def _cell(xy: np.ndarray) -> tuple[int, int]:
    return int(np.floor(xy[0])), int(np.floor(xy[1]))


def heading_error(heading: np.ndarray, wanted: np.ndarray) -> float:
    """Signed angle (radians) from ``heading`` to the direction ``wanted``; > 0: to the left
    (counter-clockwise). 0 when ``wanted`` is zero."""
    heading = np.asarray(heading, dtype=np.float64)
    wanted = np.asarray(wanted, dtype=np.float64)
    if not np.any(wanted):
        return 0.0
    cross = heading[0] * wanted[1] - heading[1] * wanted[0]
    return float(np.arctan2(cross, float(heading @ wanted)))


def steer(
    position: np.ndarray,
    heading: np.ndarray,
    waypoint: np.ndarray,
    straight_below: float = _STRAIGHT_BELOW,
    turn_in_place_above: float = _TURN_IN_PLACE_ABOVE,
) -> int:
    """The discrete action that points the ball at ``waypoint``: forward when the heading error
    (radians) is under ``straight_below``, turn on the spot above ``turn_in_place_above``, arc
    (forward + turn) in between. The one steering law of the oracle and the collectors."""
    wanted = np.asarray(waypoint, dtype=np.float64) - position
    if not np.any(wanted):
        return NOOP
    angle = heading_error(heading, wanted)  # > 0: waypoint is to the left
    if abs(angle) < straight_below:
        return FORWARD
    if abs(angle) < turn_in_place_above:
        return FORWARD_LEFT if angle > 0 else FORWARD_RIGHT
    return LEFT if angle > 0 else RIGHT
