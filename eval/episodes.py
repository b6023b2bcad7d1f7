"""Evaluation episodes: real frames, actions and state split into a context and a generated part.

Two sources:

* ``env_episodes``: recorded now from the real environment on held-out seeds
  (``seed_base + i``) with collect's policies and rollout, so the evaluation protocol uses
  exactly the code that records training data:
  - ``retrieval`` in mode ``reverse`` (the paper's protocol; pose-conditioned models): the
    policy ``explore`` records C context frames, then the camera retraces them backwards:
    generated frame j is context frame C-1-j (min(M, C) frames, ending at the start), its
    pose is the model's action, and the ground truth is the reversed context.
  - ``retrieval`` in mode ``drive`` (any model, e.g. discrete actions): policy
    ``retrieval:context=C-1`` explores for C-1 steps, so frames 0..C-1 are the context path,
    then turns and drives the recorded cell path back to the start; the generated part is
    the return (at most M frames; fewer when the agent is back sooner). Ground truth: the
    environment's frames on the way back. The agent now faces the other way, so many return
    frames show views the context never saw (they land in the "unseen" distance bin).
  - ``reasoning`` (Memory Maze): policy ``explore`` for C+M-1 steps; the trajectory simply
    continues with its real actions after the context.
  - ``crafter`` (Crafter): policy ``crafter-gather`` (it gathers and crafts, so the inventory
    changes during the context).
* ``dataset_episodes``: episodes of a dataset on disk (lsswm format, including imported
  Memory Maze offline and TECO Minecraft data): the first C frames are the context and the
  next M frames (or fewer, when the episode is shorter) are generated. Retrieval ``reverse``
  reverses the first C frames as above; retrieval ``drive`` on a dataset recorded with the
  ``retrieval`` policy takes the split from the return point in episode.json.

``evaluation_episodes`` picks the source and the retrieval mode from ``EpisodeOptions`` (the
eval commands' options) and returns the episodes with the ``EpisodeSpec`` that records them.

Frame t was reached by ``actions[t]`` (contract 2), so generating frame t uses actions[t].
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.eval.errors import EvalError

PROTOCOLS = ("retrieval", "reasoning")
ENV_POLICIES = {"retrieval": None, "reasoning": "explore", "crafter": "crafter-gather"}
# Retrieval modes: "reverse" replays the context's camera poses backwards (the paper's
# protocol; ground truth = the context frames in reverse order; pose-conditioned models
# only), "drive" turns the agent around and drives the path back in the real env.
RETRIEVAL_MODES = ("reverse", "drive")
# Far from every training seed base we use (collect defaults to 0): held-out worlds.
DEFAULT_EVAL_SEED_BASE = 1_000_000_000


@dataclass
class EvalEpisode:
    """One evaluation episode: frames[:context] are observed, frames[context:] generated."""

    name: str
    frames: np.ndarray  # (T, H, W, 3) uint8
    actions: np.ndarray  # (T,) int64 or (T, A) float32; actions[t] led to frame t
    context: int
    state: dict[str, np.ndarray] = field(default_factory=dict)  # per-frame (T, ...)
    seed: int | None = None
    source: str = ""

    @property
    def generate(self) -> int:
        return len(self.frames) - self.context

    @property
    def truth(self) -> np.ndarray:
        """Ground-truth frames of the generated part."""
        return self.frames[self.context :]


@dataclass(frozen=True)
class EpisodeSpec:
    """What to evaluate on, as recorded in the results JSON."""

    source: str  # "env" or "dataset"
    protocol: str
    context: int
    generate: int
    episodes: int
    env_id: str | None = None
    seed_base: int | None = None
    data: str | None = None
    frame_stride: int = 1
    retrieval_mode: str | None = None  # "reverse" or "drive" for retrieval

    def to_json(self, evaluated: list[EvalEpisode] | None = None) -> dict[str, Any]:
        """The fields; with ``evaluated``, the results' "episodes" record: also the name,
        seed, context and generate of each episode actually evaluated."""
        record = {k: v for k, v in self.__dict__.items()}
        if evaluated is not None:
            record["evaluated"] = [
                {"name": e.name, "seed": e.seed, "context": e.context, "generate": e.generate}
                for e in evaluated
            ]
        return record

    def seeds(self) -> list[int]:
        return [] if self.seed_base is None else [self.seed_base + i for i in range(self.episodes)]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def env_policy(protocol: str, context: int, frame_stride: int = 1) -> str:
    if protocol == "retrieval-reverse":
        return "explore"
    if protocol == "retrieval":
        if context < 2:
            raise EvalError("retrieval needs --context >= 2 (a context path to return along)")
        return f"retrieval:context={(context - 1) * frame_stride}"
    if protocol not in ENV_POLICIES:
        raise EvalError(f"unknown protocol {protocol!r}; choose one of {', '.join(ENV_POLICIES)}")
    return str(ENV_POLICIES[protocol])


def env_episodes(
    env_id: str,
    protocol: str,
    context: int,
    generate: int,
    episodes: int,
    seed_base: int = DEFAULT_EVAL_SEED_BASE,
    progress: bool = True,
    frame_stride: int = 1,
) -> list[EvalEpisode]:
    """Record ``episodes`` evaluation episodes of the real env (seeds seed_base + i).

    With ``frame_stride`` k > 1 (models trained on every k-th frame) the env runs k times as
    many steps and the episode keeps every k-th frame: lengths count kept frames."""
    from tqdm import tqdm

    from lsswm.collect.policies import make_policy
    from lsswm.collect.rollout import make_env, rollout_episode

    if context < 1 or generate < 1 or episodes < 1:
        raise EvalError("--context, --generate and --episodes must all be >= 1")
    policy_name = env_policy(protocol, context, frame_stride)
    kept = context if protocol == "retrieval-reverse" else context + generate
    max_steps = (kept - 1) * frame_stride  # T+1 frames for T steps
    _announce_recording(env_id, episodes, max_steps)
    env = make_env(env_id)
    try:
        policy = make_policy(policy_name, env, max_steps=max_steps)
        found = []
        bar = tqdm(
            range(episodes), desc=f"record {protocol} episodes", unit="ep", disable=not progress
        )
        for i in bar:
            seed = seed_base + i
            data = rollout_episode(env, policy, seed, max_steps)
            arrays = {key: value[::frame_stride] for key, value in data.arrays.items()}
            episode = _episode_of(arrays, seed, env_id, context)
            if protocol == "retrieval-reverse":
                found.append(reversed_return(episode, context, generate))
            elif len(episode.frames) > context:
                found.append(episode)
            else:
                _warn(
                    f"seed {seed}: the episode ended after {len(episode.frames)} frames, "
                    f"before the {context}-frame context was complete; skipped"
                )
    finally:
        env.close()
    if not found:
        raise EvalError(f"no usable {protocol} episode of {env_id}; use a shorter --context")
    return found


def _announce_recording(env_id: str, episodes: int, max_steps: int) -> None:
    """Print how long recording the evaluation episodes should take (assumed env rates)."""
    from lsswm.cli.estimate import Part, print_estimate
    from lsswm.envs.speed import RESET_SECONDS, assumed_step_seconds

    quick = "--episodes 2" if episodes > 2 else None
    print_estimate(
        [Part(episodes * max_steps, "env steps", assumed_step_seconds(env_id))],
        overhead_s=RESET_SECONDS * episodes,
        quick=quick,
        label="recording evaluation episodes",
    )


def _episode_of(arrays: dict[str, np.ndarray], seed: int, env_id: str, context: int):
    return EvalEpisode(
        name=f"seed{seed}",
        frames=np.array(arrays["frames"]),
        actions=np.array(arrays["actions"]),
        context=context,
        state={
            key.removeprefix("state/"): np.array(value)
            for key, value in arrays.items()
            if key.startswith("state/")
        },
        seed=seed,
        source=f"env:{env_id}",
    )


def reversed_return(episode: EvalEpisode, context: int, generate: int) -> EvalEpisode:
    """Retrieval as the paper defines it: after the first ``context`` frames, the camera
    retraces them backwards, so generated frame j is context frame context-1-j (its pose is
    the action of a pose-conditioned model) and the last generated frame is the start.
    ``min(generate, context)`` frames are generated. Recorded actions do not describe a
    reversed path: the generated part gets null actions (the model takes poses from state)."""
    if len(episode.frames) < context:
        raise EvalError(
            f"{episode.name}: {len(episode.frames)} frames, fewer than the {context}-frame "
            "context; use a shorter --context"
        )
    back = np.arange(context - 1, context - 1 - min(generate, context), -1)
    order = np.concatenate([np.arange(context), back])
    actions = np.array(episode.actions[order])
    actions[context:] = 0
    return dataclasses.replace(
        episode,
        frames=np.array(episode.frames[order]),
        actions=actions,
        context=context,
        state={key: np.array(value[order]) for key, value in episode.state.items()},
    )


def _dataset_split(meta: dict[str, Any], protocol: str, context: int, stride: int) -> int:
    """Context length in kept frames (every stride-th frame of the episode)."""
    info = meta.get("policy_info") or {}
    if protocol == "retrieval" and "return_start_frame" in info:
        # The retrieval policy explored for return_start_frame steps: raw frames 0..that are
        # the context path, the return starts at the next frame.
        return -(-(int(info["return_start_frame"]) + 1) // stride)
    return context


def dataset_episodes(
    root: str | Path,
    protocol: str,
    context: int,
    generate: int,
    episodes: int | None = None,
    first: int = 0,
    frame_stride: int = 1,
) -> list[EvalEpisode]:
    """Episodes first, first+1, ... of the dataset at ``root``, split into context and
    generated frames (see the module docstring); with ``frame_stride`` k every k-th frame."""
    from lsswm.collect.dataset import open_dataset
    from lsswm.collect.errors import DatasetError

    if context < 1 or generate < 1:
        raise EvalError("--context and --generate must be >= 1")
    if episodes is not None and episodes < 1:
        raise EvalError(f"--episodes must be >= 1, got {episodes}")
    try:
        # Every file checked (sha256 cached per file) before any frame is read.
        dataset = open_dataset(root, check="checksums")
    except DatasetError as error:
        raise EvalError(str(error)) from error
    if not len(dataset):
        raise EvalError(
            f"{root} holds no episodes (0 of {dataset.manifest.episodes_requested} requested "
            "were recorded); finish the collection or pass another --data"
        )
    if not 0 <= first < len(dataset):
        raise EvalError(
            f"--first-episode {first} is outside {root}, which holds {len(dataset)} episodes "
            f"(positions 0..{len(dataset) - 1}); pass a smaller --first-episode"
        )
    last = len(dataset) if episodes is None else min(len(dataset), first + episodes)
    if episodes is not None and first + episodes > len(dataset):
        # Evaluate what exists, loudly: the default --episodes (8) exceeds small datasets,
        # and the results JSON records the count actually evaluated.
        _warn(
            f"--episodes {episodes} asked for more episodes than {root} has from position "
            f"{first} ({len(dataset)} in all): evaluating only {last - first} "
            f"(positions {first}..{last - 1}); pass --episodes {last - first} to silence this"
        )
    positions = range(first, last)
    found = []
    for position in positions:
        episode = dataset[position]
        kept_frames = -(-episode.num_frames // frame_stride)
        if protocol == "retrieval-reverse":
            if kept_frames < context:
                _warn(f"{episode.folder.name}: {kept_frames} frames, fewer than {context}; skipped")
                continue
            view = slice(0, (context - 1) * frame_stride + 1, frame_stride)
            raw = _stored_episode(episode, view, context, root)
            found.append(reversed_return(raw, context, generate))
            continue
        split = _dataset_split(episode.meta, protocol, context, frame_stride)
        if kept_frames <= split:
            _warn(
                f"{episode.folder.name}: {kept_frames} frames, not more than the "
                f"{split}-frame context; skipped"
            )
            continue
        end = (min(kept_frames, split + generate) - 1) * frame_stride + 1
        found.append(_stored_episode(episode, slice(0, end, frame_stride), split, root))
    if not found:
        raise EvalError(
            f"none of the {len(positions)} episodes of {root} from position {first} is longer "
            f"than the context ({context} frames); pass a smaller --context"
        )
    return found


def _stored_episode(episode: Any, view: slice, context: int, root: str | Path) -> EvalEpisode:
    """The frames, actions and state of a dataset episode at ``view`` as an EvalEpisode."""
    return EvalEpisode(
        name=episode.folder.name,
        frames=np.array(episode["frames"][view]),
        actions=np.array(episode["actions"][view]),
        context=context,
        state={key: np.array(value[view]) for key, value in episode.state.items()},
        seed=episode.meta.get("seed"),
        source=str(Path(root)),
    )


@dataclass(frozen=True)
class EpisodeOptions:
    """Which evaluation episodes to use (the eval commands' episode options): recorded from
    ``env_id`` on seeds ``seed_base + i``, or read from the dataset ``data`` (it wins) from
    position ``first``; lengths default to the protocol's (None)."""

    env_id: str | None = None
    data: str | None = None
    episodes: int = 8
    first: int = 0
    seed_base: int = DEFAULT_EVAL_SEED_BASE
    context: int | None = None
    generate: int | None = None
    retrieval_mode: str = "auto"  # "auto", or one of RETRIEVAL_MODES
    progress: bool = True

    def environment(self) -> str | None:
        """The env the episodes come from: ``env_id``, or the one that recorded ``data``."""
        if not self.data:
            return self.env_id
        from lsswm.collect.manifest import load_manifest

        try:
            return load_manifest(self.data).env_id
        except Exception as error:  # any unreadable manifest is the user's --data
            raise EvalError(f"--data {self.data}: {error}") from error


def choose_retrieval_mode(requested: str, checkpoints: list[str]) -> str:
    """'reverse' or 'drive' for ``requested`` ('auto', 'reverse' or 'drive'): auto is reverse
    when every checkpoint takes poses as actions, else drive; reverse needs pose models."""
    from lsswm.eval.generation import checkpoint_inputs

    pose = {str(c): checkpoint_inputs(c).actions == "pose" for c in checkpoints}
    if requested == "auto":
        return "reverse" if all(pose.values()) else "drive"
    if requested == "reverse" and not all(pose.values()):
        others = [c for c, is_pose in pose.items() if not is_pose]
        raise EvalError(
            f"--retrieval-mode reverse replays camera poses, but {', '.join(others)} take(s) "
            "recorded actions, not poses; use --retrieval-mode drive"
        )
    return requested


def evaluation_episodes(
    options: EpisodeOptions,
    protocol: str,
    checkpoints: list[str],
    default_lengths: tuple[int, int],
) -> tuple[list[EvalEpisode], EpisodeSpec]:
    """The episodes on which ``checkpoints`` are evaluated under ``protocol``, and the spec
    the results JSON records. Retrieval picks its mode first (choose_retrieval_mode);
    models trained on every k-th frame see every k-th frame (lengths count kept frames)."""
    from lsswm.eval.generation import common_frame_stride

    mode = None
    if protocol == "retrieval":
        mode = choose_retrieval_mode(options.retrieval_mode, checkpoints)
    built = "retrieval-reverse" if mode == "reverse" else protocol
    context = options.context if options.context is not None else default_lengths[0]
    generate = options.generate if options.generate is not None else default_lengths[1]
    stride = common_frame_stride(checkpoints)
    if options.data:
        episodes = dataset_episodes(
            options.data,
            built,
            context,
            generate,
            options.episodes,
            first=options.first,
            frame_stride=stride,
        )
    else:
        episodes = env_episodes(
            str(options.env_id),
            built,
            context,
            generate,
            options.episodes,
            options.seed_base,
            progress=options.progress,
            frame_stride=stride,
        )
    from_env = not options.data
    spec = EpisodeSpec(
        "env" if from_env else "dataset",
        protocol,
        context,
        generate,
        len(episodes),
        env_id=options.env_id if from_env else None,
        seed_base=options.seed_base if from_env else None,
        data=options.data,
        frame_stride=stride,
        retrieval_mode=mode,
    )
    return episodes, spec


def batches(items: list[EvalEpisode], size: int) -> Iterator[list[EvalEpisode]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dataset_seed_range(root: str | Path) -> tuple[int, int] | None:
    """[first, last] env seed of a collected dataset (None for imports / unknown)."""
    from lsswm.collect.manifest import load_manifest

    try:
        manifest = load_manifest(Path(root))
    except Exception:  # a missing or foreign dataset simply gives no seed information
        return None
    if manifest.seed_base is None:
        return None
    count = max(manifest.episodes_requested, len(manifest.episodes))
    return manifest.seed_base, manifest.seed_base + max(count - 1, 0)
