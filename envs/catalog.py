"""The lsswm environment ids: what each one is, for registration and `lsswm envs`.

Pure data: importing this module imports no simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class EnvEntry:
    env_id: str
    entry_point: str  # "module:Class", imported only when the env is made
    kwargs: dict[str, Any] = field(default_factory=dict)
    observation: str = ""
    action: str = ""
    notes: str = ""
    nondeterministic: bool = False


_MAZES = ((9, 3, 1000), (11, 4, 2000), (13, 5, 3000), (15, 6, 4000))  # size, targets, steps


def _memory_maze_entries() -> list[EnvEntry]:
    entries = []
    for size, targets, steps in _MAZES:
        common = f"{targets} targets, {steps}-step episodes at 4 Hz"
        entries.append(
            EnvEntry(
                f"lsswm/MemoryMaze-{size}x{size}-v0",
                "lsswm.envs.memory_maze:MemoryMazeEnv",
                {"maze_size": size},
                "uint8 64x64x3 image",
                "Discrete(6) (continuous_actions=True: Box(-1,1,(2,)))",
                common,
            )
        )
        entries.append(
            EnvEntry(
                f"lsswm/MemoryMaze-{size}x{size}-ExtraObs-v0",
                "lsswm.envs.memory_maze:MemoryMazeEnv",
                {"maze_size": size, "extra_obs": True},
                "Dict(image 64x64x3, agent_pos, agent_dir, target_color, target_pos, "
                f"targets_pos ({targets},2), maze_layout ({size},{size}), target_index)",
                "Discrete(6) (continuous_actions=True: Box(-1,1,(2,)))",
                common + "; state also in the observation",
            )
        )
    return entries


ENVIRONMENTS: tuple[EnvEntry, ...] = (
    *_memory_maze_entries(),
    EnvEntry(
        "lsswm/Crafter-v0",
        "lsswm.envs.crafter_env:CrafterEnv",
        {},
        "uint8 64x64x3 image",
        "Discrete(17)",
        "crafter 1.8.3; 10000-step episodes; inventory/achievements/player_pos in info",
    ),
    EnvEntry(
        "lsswm/MineRL-Navigate-v0",
        "lsswm.envs.minerl_env:MineRLEnv",
        {"minerl_env_id": "MineRLNavigateDense-v0"},
        "uint8 64x64x3 image (resolution=...)",
        "Discrete(4): forward, turn_left, turn_right, jump",
        "needs minerl 0.4 + Java 8 (docs/minerl.md)",
        nondeterministic=True,
    ),
    EnvEntry(
        "lsswm/MineRL-NavigateExtreme-v0",
        "lsswm.envs.minerl_env:MineRLEnv",
        {"minerl_env_id": "MineRLNavigateExtremeDense-v0"},
        "uint8 64x64x3 image (resolution=...)",
        "Discrete(4): forward, turn_left, turn_right, jump",
        "extreme-hills biome; needs minerl 0.4 + Java 8 (docs/minerl.md)",
        nondeterministic=True,
    ),
)
