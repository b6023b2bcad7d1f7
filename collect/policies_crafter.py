"""``crafter-gather``: a scripted Crafter policy that gathers and crafts.

Priorities each step: craft what the inventory allows next to a table (wood pickaxe, wood
sword, stone pickaxe), place a table once there is wood to spare and none is near, drink
when thirsty, sleep when tired, otherwise walk (BFS over walkable cells) to the nearest tree until there is
wood, then to stone once a pickaxe exists; on the way it hits grass now and then (saplings)
and plants saplings; it fights zombies next to it and hunts cows when hungry. With
probability ``noise`` (default 0.1) it takes a random action (never a step into lava).
Inventory therefore changes throughout an episode (wood, sapling, stone, table, tools),
which the Crafter inventory-recall evaluation needs.

It reads the world map from the crafter game object inside the env (``lsswm/Crafter-v0``
keeps it in a private attribute, found by type); the recorded data are still only the
env's frames, actions and ``info["state"]``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from lsswm.collect.errors import PolicyError
from lsswm.collect.policies import BasePolicy, policy_rng

_MOVES = {"move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1)}
_SEARCH_LIMIT = 2000  # cells expanded per BFS: the local neighbourhood is enough


def find_crafter_game(env: Any) -> Any:
    """The ``crafter.Env`` game of ``lsswm/Crafter-v0`` (its public ``game``), else None."""
    import crafter

    unwrapped = getattr(env, "unwrapped", env)
    if isinstance(unwrapped, crafter.Env):
        return unwrapped
    game = getattr(unwrapped, "game", None)
    return game if isinstance(game, crafter.Env) else None


class CrafterGatherPolicy(BasePolicy):
    def __init__(self, env: Any, noise: float = 0.1, max_steps: int | None = None) -> None:
        super().__init__(env)
        import crafter.constants

        self.env = env
        self.constants = crafter.constants
        names = list(crafter.constants.actions)
        if getattr(env.action_space, "n", None) != len(names):
            raise PolicyError(
                f"crafter-gather drives Crafter's {len(names)} actions; this env has "
                f"{env.action_space} (use lsswm/Crafter-v0)"
            )
        self.action_index = {name: i for i, name in enumerate(names)}
        self.noise = noise
        self.walkable = set(crafter.constants.walkable)

    def reset(self, seed: int, obs: Any, info: Mapping[str, Any]) -> None:
        super().reset(seed, obs, info)
        self.noise_rng = policy_rng(seed, 1)
        self.game = find_crafter_game(self.env)
        if self.game is None:
            raise PolicyError(
                "crafter-gather needs a Crafter env (lsswm/Crafter-v0); no crafter game found "
                "inside this env"
            )
        self._wander: str | None = None

    # ---- decisions ------------------------------------------------------------------------

    def act(self, obs: Any, info: Mapping[str, Any]) -> int:
        if self.noise_rng.random() < self.noise:
            name = list(self.action_index)[int(self.noise_rng.integers(len(self.action_index)))]
            if not self._into_lava(name):
                return self.action_index[name]
        return self.action_index[self._decide()]

    def _into_lava(self, name: str) -> bool:
        if name not in _MOVES:
            return False
        pos = self.game._player.pos
        target = (int(pos[0]) + _MOVES[name][0], int(pos[1]) + _MOVES[name][1])
        return self._inside(target) and self.game._world[target][0] == "lava"

    def _decide(self) -> str:
        player, world = self.game._player, self.game._world
        inv = player.inventory
        pos = (int(player.pos[0]), int(player.pos[1]))
        facing = (pos[0] + player.facing[0], pos[1] + player.facing[1])
        facing_material = world[facing][0] if self._inside(facing) else None
        nearby, creatures = world.nearby(np.array(pos), 1)
        for creature in creatures:
            if type(creature).__name__ in ("Zombie", "Cow") and (
                type(creature).__name__ == "Zombie" or inv["food"] < 6
            ):
                offset = (int(creature.pos[0]) - pos[0], int(creature.pos[1]) - pos[1])
                if offset == tuple(player.facing):
                    return "do"  # fight a zombie next to us / eat a cow when hungry
                for name, move in _MOVES.items():
                    if move == offset:
                        return name
        if "table" in nearby:
            for tool in ("wood_pickaxe", "wood_sword", "stone_pickaxe", "stone_sword"):
                if inv[tool] == 0 and self._affordable(self.constants.make[tool]["uses"]):
                    return f"make_{tool}"
        table_cost = self.constants.place["table"]["uses"]["wood"]
        near_table, _ = world.nearby(np.array(pos), 4)
        if (
            "table" not in near_table
            and inv["wood"] >= table_cost + 1
            and facing_material in self.constants.place["table"]["where"]
        ):
            return "place_table"
        if inv["sapling"] > 0 and facing_material == "grass" and self.rng.random() < 0.5:
            return "place_plant"
        if facing_material == "grass" and self.rng.random() < 0.15:
            return "do"  # saplings come from grass, one hit in ten
        if inv["energy"] < 3:
            return "sleep"  # at 0 energy health drains; crafter keeps sleeping until rested
        if inv["food"] < 5:
            goal = "Cow"  # creatures are matched by class name, materials by name
        elif inv["drink"] < 5:
            goal = "water"
        elif inv["wood"] < table_cost + 2 or inv["wood_pickaxe"] == 0:
            goal = "tree"
        elif inv["stone"] < 2 or inv["stone_pickaxe"] == 0:
            goal = "stone" if inv["wood_pickaxe"] else "tree"
        else:
            goal = ("tree", "stone", "grass")[int(self.rng.integers(3))]
        facing_object = world[facing][1] if self._inside(facing) else None
        if goal != "grass" and goal in (facing_material, type(facing_object).__name__):
            return "do"
        step = self._step_towards(pos, goal)
        return step if step is not None else self._wander_step()

    def _affordable(self, uses: Mapping[str, int]) -> bool:
        inventory = self.game._player.inventory
        return all(inventory[item] >= amount for item, amount in uses.items())

    def _inside(self, cell: tuple[int, int]) -> bool:
        area = self.game._world.area
        return 0 <= cell[0] < area[0] and 0 <= cell[1] < area[1]

    def _step_towards(self, start: tuple[int, int], material: str) -> str | None:
        """First move of a BFS path to a cell next to ``material`` (turns to face it there)."""
        world = self.game._world
        parents: dict[tuple[int, int], tuple[tuple[int, int], str] | None] = {start: None}
        queue = deque([start])
        while queue and len(parents) < _SEARCH_LIMIT:
            cell = queue.popleft()
            for name, (dx, dy) in _MOVES.items():
                nxt = (cell[0] + dx, cell[1] + dy)
                if not self._inside(nxt) or nxt in parents:
                    continue
                found, obj = world[nxt]
                if found == material or (obj is not None and type(obj).__name__ == material):
                    if cell == start:
                        return name  # a move into a solid cell only turns to face it
                    return self._first_move(parents, cell)
                if found in self.walkable and obj is None:
                    parents[nxt] = (cell, name)
                    queue.append(nxt)
        return None

    @staticmethod
    def _first_move(parents: dict, cell: tuple[int, int]) -> str:
        move = ""
        while parents[cell] is not None:
            cell, move = parents[cell]
        return move

    def _wander_step(self) -> str:
        if self._wander is None or self.rng.random() < 0.2:
            self._wander = list(_MOVES)[int(self.rng.integers(4))]
        return self._wander
