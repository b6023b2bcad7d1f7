"""Training batches from a dataset folder: deterministic, sharded by rank, resumable.

The data order is a pure function of (seed, curriculum stage, epoch, batch index, rank): batch
i of an epoch holds the rank's windows i*B .. i*B+B-1 of collect's ``WindowDataset`` for that
epoch. The trainer saves (stage, epoch, batch index) in its checkpoint and continues from
exactly there, so an interrupted-and-resumed run sees the same batches as an uninterrupted one.

Each batch is a dict of tensors (B = windows, L = frames)::

    frames      uint8   (B, L, S, S, 3)   resized to data.image_size when set
    actions     int64 (B, L) or float32 (B, L, A)   actions[:, t] leads into frame t
    rewards     float32 (B, L)
    terminated  bool    (B, L)
    place       int64   (B, L, 3)  Memory Maze only: agent cell x, y and heading bin

With ``data.actions=pose`` the action is the agent's pose at the frame (x, y scaled to
[-1, 1] by the maze size, and the heading's unit vector): A = 4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lsswm.collect.frames import resize_frames
from lsswm.worldmodel.train.config import DataConfig

POSE_KEYS = ("agent_pos", "agent_dir")
PLACE_HEADING_BINS = 4
_SEED_SALT = {"train": 0x7A11, "video": 0x51DE, "calibration": 0xCA11}


class DataMismatchError(ValueError):
    """The dataset does not fit the model/tokenizer/checkpoint (printed as one line)."""

    user_facing = True


@dataclass(frozen=True)
class DataSpec:
    """What the model sees of a dataset: frame shape after resizing, and the action space."""

    image_shape: tuple[int, int, int]
    action_space: dict[str, Any]
    maze_size: int | None  # Memory Maze side (from state/maze_layout), for poses

    def action_fields(self) -> dict[str, Any]:
        """WorldModelConfig's action_kind / action_size for this action space."""
        if self.action_space["type"] == "discrete":
            return {"action_kind": "discrete", "action_size": int(self.action_space["n"])}
        shape = list(self.action_space["shape"])
        if len(shape) != 1:
            raise DataMismatchError(
                f"box actions of shape {shape} are not supported; the world model takes "
                "flat action vectors"
            )
        return {"action_kind": "continuous", "action_size": int(shape[0])}


def describe_data(config: DataConfig) -> DataSpec:
    """Open the dataset at config.path and describe what the trainer will feed the model."""
    from lsswm.collect.dataset import open_dataset

    if not config.path:
        raise DataMismatchError("no dataset given; pass --data DIR (a `lsswm collect` folder)")
    dataset = open_dataset(config.path)
    shape = tuple(dataset.image_shape)
    if len(shape) != 3 or shape[2] != 3:
        raise DataMismatchError(
            f"dataset {config.path} has frames of shape {shape}; expected (H, W, 3)"
        )
    height, width, _ = shape
    if config.image_size:
        if height != width:
            raise DataMismatchError(
                f"data.image_size resizes to squares but the frames are {height}x{width}"
            )
        height = width = config.image_size
    spec = dataset.manifest.state_spec
    maze_size = None
    if "maze_layout" in spec:
        maze_size = int(spec["maze_layout"]["shape"][0])
    has_pose = maze_size is not None and all(key in spec for key in POSE_KEYS)
    needs_pose = (
        ("data.far_view_weight", "set data.far_view_weight=0") if config.far_view_weight else None,
        ("data.actions=pose", "use data.actions=dataset") if config.actions == "pose" else None,
    )
    for setting, fix in filter(None, needs_pose):
        if not has_pose:
            raise DataMismatchError(
                f"{setting} needs state/agent_pos, state/agent_dir and state/maze_layout (a "
                f"Memory Maze dataset); {config.path} has {sorted(spec)}; {fix}"
            )
    if config.actions == "pose":
        action_space: dict[str, Any] = {"type": "box", "shape": [4]}
    else:
        action_space = dataset.action_space
        if action_space.get("type") == "box":
            action_space = {"type": "box", "shape": list(action_space["shape"])}
    return DataSpec((height, width, 3), action_space, maze_size)


def check_data_fits(
    spec: DataSpec,
    model_image_shape: tuple[int, ...] | None,
    model_action_space: dict[str, Any],
    what: str,
    fix: str,
) -> None:
    """Refuse a dataset whose frames or actions differ from what the model was built for."""
    if model_image_shape is not None and tuple(model_image_shape) != spec.image_shape:
        raise DataMismatchError(
            f"the dataset gives frames of {_shape(spec.image_shape)} but {what} expects "
            f"{_shape(model_image_shape)}; {fix}"
        )
    if _space_key(model_action_space) != _space_key(spec.action_space):
        raise DataMismatchError(
            f"the dataset's actions are {_space_text(spec.action_space)} but {what} takes "
            f"{_space_text(model_action_space)}; {fix}"
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def _space_key(space: dict[str, Any]) -> tuple:
    if space.get("type") == "discrete":
        return ("discrete", int(space["n"]))
    return ("box", tuple(int(n) for n in space.get("shape", ())))


def _space_text(space: dict[str, Any]) -> str:
    kind, size = _space_key(space)
    return f"{size} discrete actions" if kind == "discrete" else f"vectors of shape {list(size)}"


def derive_seed(seed: int, purpose: str, *parts: int) -> int:
    """A 63-bit seed for one purpose, independent of the others."""
    sequence = np.random.SeedSequence([_SEED_SALT[purpose], seed, *parts])
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class WindowBatches(torch.utils.data.Dataset):
    """Map-style dataset of whole batches: item i is batch i of the current epoch."""

    def __init__(
        self,
        config: DataConfig,
        spec: DataSpec,
        frames: int,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        from lsswm.collect.windows import WindowDataset

        self.config = config
        self.spec = spec
        self.frames = frames
        self.batch_size = batch_size
        self.stride = config.frame_stride
        self.raw_length = (frames - 1) * self.stride + 1
        keys = list(POSE_KEYS) if spec.maze_size is not None else []
        probe = WindowDataset(config.path, self.raw_length, seed=seed, state_keys=keys)
        per_epoch = max(probe.windows_per_epoch, batch_size * world_size)
        self.windows = WindowDataset(
            config.path,
            self.raw_length,
            seed=seed,
            rank=rank,
            world_size=world_size,
            windows_per_epoch=per_epoch,
            state_keys=keys,
        )

        self.reward_events = RewardEvents(self.windows) if config.reward_window_fraction else None
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.windows.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.windows) // self.batch_size

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = index * self.batch_size
        items = [self._item(start + j) for j in range(self.batch_size)]
        return collate_windows(items, self.config, self.spec)

    def _item(self, i: int) -> dict[str, Any]:
        """Window i of the rank's epoch; with data.reward_window_fraction, a deterministic
        share of them (a function of seed, epoch, rank and i) hold a reward."""
        events = self.reward_events
        if events is not None and len(events):
            rng = np.random.default_rng(
                [REWARD_WINDOW_SALT, self.seed, self.windows.epoch, self.windows.rank, i]
            )
            if rng.random() < self.config.reward_window_fraction:
                slot, start = events.draw(rng)
                return self.windows.read(slot, start)
        return self.windows[i]

    def batches(self, epoch: int, start: int) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """(batch index, batch) of `epoch` from batch `start` on, loaded by
        data.num_workers processes (order is the index order either way)."""
        self.set_epoch(epoch)
        indices = range(start, len(self))
        if self.config.num_workers == 0:
            for index in indices:
                yield index, self[index]
            return
        loader = torch.utils.data.DataLoader(
            self,
            batch_size=None,
            sampler=list(indices),
            num_workers=self.config.num_workers,
            persistent_workers=False,
            prefetch_factor=2,
        )
        yield from zip(indices, loader, strict=True)


REWARD_WINDOW_SALT = 0x2E7A


class RewardEvents:
    """Where a dataset's nonzero rewards are: (eligible episode slot, frame) pairs, and the
    window starts that hold each (read once from the memory-mapped reward arrays)."""

    def __init__(self, windows: Any) -> None:
        self.length = windows.window_length
        self.last_start = []  # per slot, the last valid window start
        slots, frames = [], []
        for slot in range(len(windows.episode_positions)):
            rewards = np.asarray(windows._episode(slot)["rewards"])
            self.last_start.append(len(rewards) - self.length)
            hits = np.flatnonzero(rewards != 0)
            slots += [slot] * len(hits)
            frames += hits.tolist()
        self.slots = np.asarray(slots, dtype=np.int64)
        self.frames = np.asarray(frames, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.slots)

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """A reward event uniformly, then a window start uniformly among those holding it."""
        event = int(rng.integers(len(self.slots)))
        slot, frame = int(self.slots[event]), int(self.frames[event])
        low = max(0, frame - self.length + 1)
        high = min(frame, self.last_start[slot])
        return slot, int(rng.integers(low, high + 1))

    def draw_ending_before(self, rng: np.random.Generator, within: int) -> tuple[int, int]:
        """A reward event uniformly among those with a window before them, then a window
        start whose window ends 1..``within`` frames before the event's frame (uniformly):
        a context from which the reward comes within ``within`` steps."""
        ends = self.frames - 1  # the latest end before each event
        usable = np.flatnonzero(ends >= self.length - 1)
        if not len(usable):
            raise ValueError(
                f"no reward event has {self.length} frames before it; use shorter windows"
            )
        event = int(usable[rng.integers(len(usable))])
        frame = int(self.frames[event])
        gap = int(rng.integers(1, min(within, frame - self.length + 1) + 1))
        return int(self.slots[event]), frame - gap - self.length + 1


def collate_windows(
    items: list[dict[str, Any]], config: DataConfig, spec: DataSpec
) -> dict[str, torch.Tensor]:
    """Stack window dicts (from WindowDataset) into a training batch (module docstring)."""
    stride = config.frame_stride
    frames = np.stack([item["frames"][::stride] for item in items])
    rewards = np.stack([_strided_sum(item["rewards"], stride) for item in items])
    terminated = np.stack([_strided_any(item["terminated"], stride) for item in items])
    batch: dict[str, torch.Tensor] = {
        "frames": resize_frames(torch.from_numpy(frames), spec.image_shape[0]),
        "rewards": torch.from_numpy(rewards.astype(np.float32)),
        "terminated": torch.from_numpy(terminated),
    }
    if spec.maze_size is not None:
        positions = np.stack([item["state"]["agent_pos"][::stride] for item in items])
        directions = np.stack([item["state"]["agent_dir"][::stride] for item in items])
        batch["place"] = torch.from_numpy(place_ids(positions, directions))
        if config.far_view_weight:
            batch["view_distance"] = torch.from_numpy(view_distance_rows(positions, directions))
    if config.actions == "pose":
        batch["actions"] = torch.from_numpy(pose_actions(positions, directions, spec.maze_size))
    else:
        actions = np.stack([item["actions"] for item in items])
        batch["actions"] = torch.from_numpy(actions)
    return batch


def _strided_sum(values: np.ndarray, stride: int) -> np.ndarray:
    """Per kept frame, the sum over the steps that led into it (frame 0 keeps its own)."""
    if stride == 1:
        return np.asarray(values)
    rest = np.asarray(values[1:]).reshape(-1, stride).sum(axis=1)
    return np.concatenate([values[:1], rest])


def _strided_any(values: np.ndarray, stride: int) -> np.ndarray:
    if stride == 1:
        return np.asarray(values)
    rest = np.asarray(values[1:]).reshape(-1, stride).any(axis=1)
    return np.concatenate([values[:1], rest])


def pose_actions(positions: np.ndarray, directions: np.ndarray, maze_size: int) -> np.ndarray:
    """(..., 2) positions in cell units and (..., 2) unit headings -> (..., 4) float32."""
    scaled = positions / maze_size * 2.0 - 1.0
    return np.concatenate([scaled, directions], axis=-1).astype(np.float32)


def view_distance_rows(positions: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(B, T, 2) positions and unit headings -> (B, T) int64: frames back to the last
    earlier frame of the window showing the same view (collect.revisits.view_distances),
    -1 where none does."""
    from lsswm.collect.revisits import view_distances

    cells = np.floor(positions).astype(np.int64)
    headings = np.arctan2(directions[..., 1], directions[..., 0])
    rows = [view_distances(c, h, 0, reference="all") for c, h in zip(cells, headings, strict=True)]
    return np.stack(rows)


def place_ids(positions: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(..., 3) int64: agent cell (x, y) and heading bin of 4 (a "place" of the maze)."""
    from lsswm.collect.revisits import place_keys

    return place_keys(positions, directions, PLACE_HEADING_BINS)


def fixed_window(
    config: DataConfig, spec: DataSpec, frames: int, seed: int, purpose: str
) -> dict[str, torch.Tensor]:
    """One deterministic window of `frames` frames (batch of 1), e.g. for sample videos."""
    batches = WindowBatches(config, spec, frames, 1, derive_seed(seed, purpose))
    return batches[0]


def draw_calibration_frames(
    config: DataConfig, spec: DataSpec, count: int, seed: int
) -> torch.Tensor:
    """About `count` frames (N, S, S, 3) uint8 from deterministic windows (calibration)."""
    length = 8
    windows = max(1, math.ceil(count / length))
    batches = WindowBatches(
        DataConfig(path=config.path, image_size=config.image_size),
        DataSpec(spec.image_shape, {"type": "discrete", "n": 1}, None),
        length,
        windows,
        derive_seed(seed, "calibration"),
    )
    return batches[0]["frames"].reshape(-1, *spec.image_shape)[:count]
