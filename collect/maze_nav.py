"""Grid navigation in Memory Maze from its true state: cells, BFS shortest paths, a driver.

Conventions (memory-maze's global observables, see docs/envs.md): ``agent_pos`` is (x, y) in
grid-cell units with the maze's bottom-left free corner at (0, 0); the agent is in cell
``(floor(x), floor(y))`` and ``maze_layout[y, x] == 1`` where that cell is free.
``agent_dir`` is the unit heading (dx, dy); the ``left`` action turns counter-clockwise
(increases atan2(dy, dx)). Memory Maze's discrete actions: 0 noop, 1 forward, 2 left,
3 right, 4 forward+left, 5 forward+right.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from lsswm.envs import maze_oracle
from lsswm.envs.maze_oracle import LEFT, NOOP, RIGHT

NUM_ACTIONS = 6
Cell = tuple[int, int]  # (x, y)
_NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def cell_of(agent_pos: Sequence[float]) -> Cell:
    return math.floor(agent_pos[0]), math.floor(agent_pos[1])


def cell_center(cell: Cell) -> np.ndarray:
    return np.array([cell[0] + 0.5, cell[1] + 0.5])


def heading_angle(agent_dir: Sequence[float]) -> float:
    return math.atan2(agent_dir[1], agent_dir[0])


def heading_bin(agent_dir: Sequence[float], bins: int = 4) -> int:
    """Quantised heading: bin k covers angles within 180/bins degrees of k*360/bins."""
    width = 2 * math.pi / bins
    return math.floor((heading_angle(agent_dir) + width / 2) / width) % bins


def wrap_angle(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def free_cells(layout: np.ndarray) -> list[Cell]:
    ys, xs = np.nonzero(layout)
    return [(int(x), int(y)) for y, x in zip(ys, xs, strict=True)]


def is_free(layout: np.ndarray, cell: Cell) -> bool:
    x, y = cell
    return 0 <= y < layout.shape[0] and 0 <= x < layout.shape[1] and bool(layout[y, x])


def reachable_cells(layout: np.ndarray, start: Cell) -> list[Cell]:
    """Free cells reachable from ``start`` (4-connected flood fill), ``start`` first."""
    seen = {start}
    queue = deque([start])
    while queue:
        x, y = queue.popleft()
        for dx, dy in _NEIGHBOURS:
            nxt = (x + dx, y + dy)
            if nxt not in seen and is_free(layout, nxt):
                seen.add(nxt)
                queue.append(nxt)
    return list(seen)


def shortest_path(layout: np.ndarray, start: Cell, goal: Cell) -> list[Cell] | None:
    """Cells from ``start`` to ``goal`` inclusive (4-connected BFS), or None if unreachable."""
    return maze_oracle.shortest_path(np.asarray(layout), start, goal) or None


class CellPathDriver:
    """Drives Memory Maze's ball along a list of cells with the discrete actions.

    It aims at the centre of the next cell on the path: turns in place when the heading
    error is large, arcs (forward+turn) when moderate, and goes straight otherwise. A cell
    counts as reached near its centre, or anywhere inside it when the path continues
    straight on (so corridors are driven without stopping at every cell).
    """

    def __init__(
        self, turn_in_place_deg: float = 50.0, arc_deg: float = 12.0, reach_radius: float = 0.3
    ) -> None:
        self.turn_in_place = math.radians(turn_in_place_deg)
        self.arc = math.radians(arc_deg)
        self.reach_radius = reach_radius
        self.path: list[Cell] = []
        self.next_index = 0

    def follow(self, path: list[Cell]) -> None:
        self.path = list(path)
        self.next_index = 1 if len(path) > 1 else len(path)

    def rejoin(self, layout: np.ndarray, cell: Cell) -> None:
        """Back onto the rest of the path by the shortest detour from `cell` (after a slide
        into a neighbouring cell), keeping every later cell of the path."""
        remaining = self.path[self.next_index :]
        detour = shortest_path(layout, cell, remaining[0]) or [cell]
        self.follow(detour + remaining[1:])

    @property
    def finished(self) -> bool:
        return self.next_index >= len(self.path)

    @property
    def waypoint(self) -> Cell | None:
        return None if self.finished else self.path[self.next_index]

    def on_track(self, cell: Cell) -> bool:
        """Is the agent in the previous waypoint's cell or the current target cell?"""
        if not self.path:
            return False
        lo = max(0, self.next_index - 1)
        return cell in self.path[lo : self.next_index + 1]

    def _advance(self, pos: np.ndarray) -> None:
        while not self.finished:
            target = self.path[self.next_index]
            inside = cell_of(pos) == target
            near = np.linalg.norm(pos - cell_center(target)) < self.reach_radius
            straight_on = False
            if inside and self.next_index + 1 < len(self.path):
                before = self.path[self.next_index - 1] if self.next_index > 0 else target
                after = self.path[self.next_index + 1]
                straight_on = (target[0] - before[0], target[1] - before[1]) == (
                    after[0] - target[0],
                    after[1] - target[1],
                )
            if near or straight_on:
                self.next_index += 1
            else:
                return

    def action(self, agent_pos: Sequence[float], agent_dir: Sequence[float]) -> int:
        """Next discrete action; NOOP once the path's last cell is reached."""
        pos = np.asarray(agent_pos, dtype=np.float64)
        self._advance(pos)
        if self.finished:
            return NOOP
        return self.steer(pos, agent_dir, cell_center(self.path[self.next_index]))

    def steer(self, pos: np.ndarray, agent_dir: Sequence[float], aim: np.ndarray) -> int:
        return maze_oracle.steer(pos, np.asarray(agent_dir), aim, self.arc, self.turn_in_place)

    def turn_towards(self, agent_dir: Sequence[float], heading: float, tolerance_deg=20.0) -> int:
        """Turn in place towards an absolute heading; NOOP when within the tolerance."""
        error = wrap_angle(heading - heading_angle(agent_dir))
        if abs(error) <= math.radians(tolerance_deg):
            return NOOP
        return LEFT if error > 0 else RIGHT
