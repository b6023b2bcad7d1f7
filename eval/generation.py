"""Load checkpoints for evaluation and generate the evaluation episodes' frames with them.

Generation follows the streaming API (worldmodel/stream.py): a batch of episodes with the
same context length starts one stream, ``observe_frames`` teacher-forces the context, and
``imagine`` generates the rest one chunk of frames at a time from the episodes' real actions
(frame t from actions[t]). Episodes of a batch that generate fewer frames get null actions
after their end; the model is causal, so those extra frames never change the kept ones.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.eval.episodes import EvalEpisode
from lsswm.eval.errors import EvalError


@dataclass
class LoadedModel:
    """A FrameWorldModel ready to generate, with what the results need to say about it."""

    model: Any  # lsswm.worldmodel.frame_model.FrameWorldModel
    path: str
    name: str
    metadata: dict[str, str]

    @property
    def config(self) -> Any:
        return self.model.config

    def describe(self) -> dict[str, Any]:
        from lsswm.worldmodel.sizing import count_parameters

        config = self.model.config
        return {
            "name": self.name,
            "checkpoint": self.path,
            "variant": config.variant,
            "parameters": count_parameters(config),
            "config": config.to_dict(),
            "tokenizer": self.model.tokenizer.config.to_dict(),
            "training": {k: v for k, v in self.metadata.items() if k not in _CONFIG_KEYS},
        }


_CONFIG_KEYS = ("world_model_config", "tokenizer_config", "lsswm_format")


def checkpoint_inputs(path: str | Path) -> Any:
    """How a checkpoint (file or run folder) expects its frames and actions (its TrainData:
    the trainer's data settings), from its metadata alone."""
    from lsswm.worldmodel.checkpoint import training_metadata

    return training_metadata(path).data


def _inputs(loaded: LoadedModel) -> Any:
    from lsswm.worldmodel.checkpoint import TrainingMetadata

    return TrainingMetadata.from_metadata(loaded.metadata).data


def common_frame_stride(checkpoints: list[str]) -> int:
    """The frame stride all checkpoints share (episodes are built once, at that stride)."""
    strides = {str(c): checkpoint_inputs(c).frame_stride for c in checkpoints}
    if len(set(strides.values())) > 1:
        raise EvalError(
            f"the checkpoints were trained on different frame strides {strides}; evaluate "
            "checkpoints of one data.frame_stride per call"
        )
    return next(iter(strides.values()))


def prepare_episodes(loaded: LoadedModel, episodes: list[EvalEpisode]) -> list[EvalEpisode]:
    """The episodes as this model sees them: frames resized to the tokenizer's size (area
    averaging, as in training) and pose actions where it was trained on poses."""
    import torch

    from lsswm.collect.frames import resize_frames
    from lsswm.worldmodel.train.data import pose_actions

    inputs = _inputs(loaded)
    size = loaded.model.tokenizer.config.image_size
    prepared = []
    for episode in episodes:
        frames = episode.frames
        if frames.shape[1:3] != (size, size):
            frames = resize_frames(torch.from_numpy(np.ascontiguousarray(frames)), size).numpy()
        actions = episode.actions
        if inputs.actions == "pose":
            state = episode.state
            if "agent_pos" not in state or "maze_layout" not in state:
                raise EvalError(
                    f"{loaded.path} was trained with pose actions, which need "
                    "state/agent_pos, agent_dir and maze_layout (Memory Maze episodes)"
                )
            maze_size = int(np.asarray(state["maze_layout"]).shape[-1])
            actions = pose_actions(state["agent_pos"], state["agent_dir"], maze_size)
        prepared.append(dataclasses.replace(episode, frames=frames, actions=actions))
    return prepared


def model_label(path: str | Path, taken: set[str]) -> str:
    """A short unique label for tables: the run folder's name for a run's checkpoint
    (RUN/checkpoints/step_N/ema.safetensors -> RUN), else the file stem."""
    from lsswm.worldmodel.checkpoint import EXPORT_NAME

    path = Path(path)
    base = path.stem
    if path.is_dir():
        base = path.name
    elif path.name == EXPORT_NAME:
        base = path.parent.name
    elif path.parent.parent.name == "checkpoints":
        base = path.parent.parent.parent.name + ("" if path.stem == "ema" else f"-{path.stem}")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def load_for_eval(
    path: str | Path, tokenizer: str | Path | None = None, device: str = "cpu", name: str = ""
) -> LoadedModel:
    """A checkpoint as a FrameWorldModel in eval mode. A world model saved without its
    tokenizer needs ``tokenizer`` (a tokenizer checkpoint)."""
    from lsswm.worldmodel.checkpoint import (
        load_tokenizer,
        load_world_model,
        read_metadata,
        resolve_checkpoint_path,
    )
    from lsswm.worldmodel.frame_model import FrameWorldModel

    name = name or model_label(path, set())
    path = resolve_checkpoint_path(path)
    metadata = read_metadata(path)
    model = load_world_model(path, device=device)
    if not isinstance(model, FrameWorldModel):
        if tokenizer is None:
            raise EvalError(
                f"{path} holds a world model without its tokenizer; pass --tokenizer PATH "
                "(the tokenizer checkpoint it was trained with)"
            )
        model = FrameWorldModel(model, load_tokenizer(tokenizer, device=device))
    model.eval()
    return LoadedModel(model, str(path), name, dict(metadata))


def check_same_environment(loaded: LoadedModel, episodes: list[EvalEpisode]) -> None:
    """Refuse dataset episodes recorded in another environment than the checkpoint's training
    data (env id, or action space), even when their frames and action ids happen to fit."""
    from lsswm.collect.manifest import load_manifest
    from lsswm.worldmodel.checkpoint import META_ACTION_SPACE

    trained_space = None
    if META_ACTION_SPACE in loaded.metadata:
        trained_space = json.loads(loaded.metadata[META_ACTION_SPACE])
    trained_env = None
    for data in _training_data_paths(loaded):
        try:
            trained_env = load_manifest(data).env_id
            break
        except Exception:  # an unreadable training dataset says nothing about the env
            continue
    for source in sorted({e.source for e in episodes if e.source}):
        try:
            manifest = load_manifest(Path(source))
        except Exception:  # not a collected dataset (e.g. an import): nothing to compare
            continue
        if trained_env is not None and manifest.env_id != trained_env:
            raise EvalError(
                f"{loaded.path} was trained on {trained_env} but {source} holds "
                f"{manifest.env_id} episodes; evaluate it on data of its own environment"
            )
        space = manifest.action_space
        if trained_space is not None and space is not None and space != trained_space:
            raise EvalError(
                f"{loaded.path} was trained with actions {trained_space} but {source} has "
                f"{space}; evaluate it on data of its own environment"
            )


def check_episodes_fit(loaded: LoadedModel, episodes: list[EvalEpisode]) -> None:
    """Refuse episodes of another environment, or whose frame size or actions the model
    cannot take."""
    check_same_environment(loaded, episodes)
    config = loaded.model.config
    size = loaded.model.tokenizer.config.image_size
    frame_shape = episodes[0].frames.shape[1:]
    if tuple(frame_shape) != (size, size, 3):
        raise EvalError(
            f"{loaded.path} generates {size}x{size} frames but the episodes have "
            f"{frame_shape[0]}x{frame_shape[1]}; evaluate it on data of its own frame size"
        )
    actions = np.concatenate([e.actions for e in episodes])
    if config.action_kind == "discrete":
        if actions.ndim != 1 or not np.issubdtype(actions.dtype, np.integer):
            raise EvalError(f"{loaded.path} takes discrete actions; the episodes' are continuous")
        if len(actions) and (actions.min() < 0 or actions.max() >= config.action_size):
            raise EvalError(
                f"{loaded.path} takes {config.action_size} discrete actions but the episodes use "
                f"action ids up to {int(actions.max())}; evaluate it on its own environment"
            )
    elif actions.ndim != 2 or actions.shape[1] != config.action_size:
        raise EvalError(
            f"{loaded.path} takes continuous actions of size {config.action_size}; the "
            f"episodes' actions have shape {actions.shape[1:]}"
        )


def generate_episodes(
    loaded: LoadedModel,
    episodes: list[EvalEpisode],
    *,
    batch_size: int = 8,
    denoising_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> list[np.ndarray]:
    """Generated frames (generate_i, H, W, 3) uint8 for every episode, in order."""
    import torch
    from tqdm import tqdm

    check_episodes_fit(loaded, episodes)
    model = loaded.model
    device = next(model.parameters()).device
    groups: dict[int, list[int]] = defaultdict(list)
    for index, episode in enumerate(episodes):
        groups[episode.context].append(index)
    results: list[np.ndarray | None] = [None] * len(episodes)
    # Observed and generated frames both count: long contexts take time too.
    total = sum(len(e.frames) for e in episodes)
    bar = tqdm(
        total=total, desc=f"{loaded.name}: observe+generate", unit="frame", disable=not progress
    )
    generator = torch.Generator(device=device)
    timer = _GenerationTimer(
        loaded.name,
        [
            [episodes[i] for i in members[start : start + batch_size]]
            for _, members in sorted(groups.items())
            for start in range(0, len(members), batch_size)
        ],
        model.config.chunk_size,
        write=lambda line: tqdm.write(line, file=sys.stderr),
    )
    for batch_number, (context, members) in enumerate(sorted(groups.items())):
        for start in range(0, len(members), batch_size):
            chosen = [episodes[i] for i in members[start : start + batch_size]]
            generator.manual_seed(seed * 1_000_003 + batch_number * 10_007 + start)
            made = _generate_batch(model, chosen, context, generator, denoising_steps, bar, timer)
            for i, frames in zip(members[start : start + batch_size], made, strict=True):
                results[i] = frames
    bar.close()
    return [r for r in results if r is not None]


def _action_tensor(actions: list[np.ndarray], length: int, device: Any) -> Any:
    """Stack per-episode actions, padded with the null action (0 / zeros) to ``length``."""
    import torch

    padded = []
    for a in actions:
        pad = np.zeros((length - len(a), *a.shape[1:]), dtype=a.dtype)
        padded.append(np.concatenate([a, pad]))
    stacked = torch.as_tensor(np.stack(padded), device=device)
    return stacked.long() if stacked.dim() == 2 else stacked.float()


class _GenerationTimer:
    """Times the first batch's observation and first imagined chunk, then prints the
    measured estimate of the whole generation: batches cost in proportion to their episodes,
    observation to the context length, imagination to the chunks."""

    def __init__(self, name: str, batches: list[list[EvalEpisode]], chunk: int, write: Any) -> None:
        self.name, self.batches, self.chunk, self.write = name, batches, chunk, write
        self.observe_seconds: float | None = None
        self.reported = False

    def observed(self, seconds: float) -> None:
        if self.observe_seconds is None:
            self.observe_seconds = seconds

    def imagined_chunk(self, seconds: float) -> None:
        if self.reported or self.observe_seconds is None:
            return
        self.reported = True
        from lsswm.cli.estimate import Part, estimate_line

        first = self.batches[0]
        per_observed = self.observe_seconds / (len(first) * max(1, first[0].context))
        per_chunk = seconds / len(first)  # per episode of the batch
        total = 0.0
        for batch in self.batches:
            chunks = -(-max(e.generate for e in batch) // self.chunk)
            total += len(batch) * (batch[0].context * per_observed + chunks * per_chunk)
        frames = sum(len(e.frames) for batch in self.batches for e in batch)
        part = Part(frames, "frames", total / max(1, frames), measured=True)
        self.write(
            estimate_line([part], quick="--episodes 2", label=f"{self.name}: observe+generate")
        )


def _generate_batch(
    model: Any,
    chosen: list[EvalEpisode],
    context: int,
    generator: Any,
    denoising_steps: int | None,
    bar: Any,
    timer: _GenerationTimer | None = None,
) -> list[np.ndarray]:
    import torch

    device = next(model.parameters()).device
    stream = model.start_stream(len(chosen))
    frames = torch.as_tensor(np.stack([e.frames[:context] for e in chosen]), device=device)
    begun = time.perf_counter()
    stream.observe_frames(
        frames, _action_tensor([e.actions[:context] for e in chosen], context, device)
    )
    if timer is not None:
        timer.observed(time.perf_counter() - begun)
    bar.update(context * len(chosen))  # the bar's total counts observed frames too
    longest = max(e.generate for e in chosen)
    future = _action_tensor([e.actions[context:] for e in chosen], longest, device)
    step = model.config.chunk_size
    pieces = []
    for begin in range(0, longest, step):
        begun = time.perf_counter()
        out = stream.imagine(
            future[:, begin : begin + step], denoising_steps=denoising_steps, generator=generator
        )
        pieces.append(out.frames.cpu())
        if timer is not None:
            timer.imagined_chunk(time.perf_counter() - begun)
        # Count only frames that belong to some episode (not the padding).
        bar.update(sum(min(step, max(0, e.generate - begin)) for e in chosen))
    made = torch.cat(pieces, dim=1).numpy()
    return [made[i, : e.generate] for i, e in enumerate(chosen)]


def training_seed_range(loaded: LoadedModel) -> tuple[str, tuple[int, int]] | None:
    """(dataset path, [first, last] seed) of the checkpoint's training data, when the
    checkpoint or its run folder says which dataset it was trained on."""
    from lsswm.eval.episodes import dataset_seed_range

    for data in _training_data_paths(loaded):
        found = dataset_seed_range(data)
        if found is not None:
            return str(data), found
    return None


def _training_data_paths(loaded: LoadedModel) -> list[Path]:
    """Dataset folders named in the checkpoint metadata or in a config.json of the run
    folder (RUN/config.json holds the resolved training config, data.path the dataset)."""
    texts = list(loaded.metadata.values())
    for folder in list(Path(loaded.path).parents)[:3]:
        candidate = folder / "config.json"
        if candidate.is_file():
            texts.append(candidate.read_text(encoding="utf-8", errors="replace"))
    found: list[Path] = []
    for text in texts:
        try:
            value = json.loads(text)
        except (ValueError, TypeError):
            continue
        for path in _find_data_fields(value):
            if path not in found and (path / "manifest.json").is_file():
                found.append(path)
    return found


def _find_data_fields(value: Any) -> list[Path]:
    """Paths under keys data / dataset (a string, or a dict's "path" / "root")."""
    if isinstance(value, list):
        return [p for item in value for p in _find_data_fields(item)]
    if not isinstance(value, dict):
        return []
    out = []
    for key, item in value.items():
        if key in ("data", "dataset", "data_dir", "dataset_root"):
            if isinstance(item, str) and item:
                out.append(Path(item))
                continue
            if isinstance(item, dict):
                out += [Path(item[k]) for k in ("path", "root") if isinstance(item.get(k), str)]
        out += _find_data_fields(item)
    return out


def evaluate_checkpoints(
    checkpoints: list[str],
    episodes: list[EvalEpisode],
    score: Callable[[LoadedModel, list[EvalEpisode], list[np.ndarray]], dict[str, Any]],
    *,
    tokenizer: str | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    denoising_steps: int | None = None,
    seed: int = 0,
    keep: int = 0,
    progress: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, list[np.ndarray]]]:
    """Load each checkpoint in turn, generate every episode, and score it.

    ``score(loaded, episodes_as_the_model_sees_them, generated)`` returns the model's
    numbers. Returns one record per checkpoint (``LoadedModel.describe()``, its inputs,
    ``seed_overlap`` and the scores) and, per model name, the generated frames of the first
    ``keep`` episodes (for videos). Only one model is in memory at a time."""
    import torch

    records, kept = [], {}
    taken: set[str] = set()
    for path in checkpoints:
        name = model_label(path, taken)
        taken.add(name)
        loaded = load_for_eval(path, tokenizer=tokenizer, device=device, name=name)
        print(f"{name}: {loaded.path} ({loaded.config.variant})", file=sys.stderr)
        prepared = prepare_episodes(loaded, episodes)
        generated = generate_episodes(
            loaded,
            prepared,
            batch_size=batch_size,
            denoising_steps=denoising_steps,
            seed=seed,
            progress=progress,
        )
        record = loaded.describe()
        record["denoising_steps"] = denoising_steps or loaded.config.denoising_steps
        record["inputs"] = dataclasses.asdict(_inputs(loaded))
        record["seed_overlap"] = seed_overlap(loaded, episodes)
        record.update(score(loaded, prepared, generated))
        records.append(record)
        kept[name] = generated[:keep]
        del loaded, generated, prepared
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return records, kept


def seed_overlap(loaded: LoadedModel, episodes: list[EvalEpisode]) -> dict[str, Any] | None:
    """Whether evaluation seeds fall in the seed range of the checkpoint's training data
    (warned about on stderr). None when the checkpoint does not say what it trained on."""
    found = training_seed_range(loaded)
    if found is None:
        return None
    data, (first, last) = found
    seeds = [e.seed for e in episodes if e.seed is not None]
    overlapping = sorted(s for s in seeds if first <= s <= last)
    same_data = any(Path(e.source).resolve() == Path(data).resolve() for e in episodes if e.source)
    if overlapping or same_data:
        print(
            f"warning: {loaded.name} was trained on {data} (seeds {first}..{last}); "
            + (
                "the evaluation episodes come from that same dataset"
                if same_data
                else f"{len(overlapping)} evaluation episode(s) use seeds from that range "
                f"(e.g. {overlapping[0]})"
            )
            + ": these are not held-out worlds. Use --seed-base outside the training range "
            "or a held-out dataset.",
            file=sys.stderr,
        )
    return {
        "training_data": data,
        "training_seeds": [first, last],
        "overlapping_episodes": len(overlapping),
        "same_dataset": same_data,
    }
