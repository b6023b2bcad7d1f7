"""Navigation suite: agents in the real Memory Maze (or Crafter) on held-out seeds.

Each agent plays ``episodes`` episodes of at most ``max_steps`` steps; episode i uses env
seed ``seed_base + i`` for every agent (the same mazes for all of them). Scores:

* Memory Maze: targets reached per episode (the sum of rewards), compared with the human
  and oracle-max references of the Memory Maze paper (Pasukonis et al. 2022, arXiv
  2210.13383). Those are per full episode (1000/2000/3000/4000 steps for
  9x9/11x11/13x13/15x15); for shorter (or longer)
  episodes they are scaled linearly by ``max_steps / native_steps`` - a rate assumption
  (targets per step stay constant), which slightly flatters short episodes' references
  because the first target of an episode takes longer to find than later ones.
* Crafter: achievements unlocked per episode (and which ones).

Writes ``navigation.json`` (the results schema of docs/evaluation.md, ``"suite":
"navigation"``), ``navigation.md`` (the table) and one video per agent (its first episode).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.agents.planner_config import PlannerConfig
from lsswm.eval.errors import EvalError

# The Memory Maze paper (Pasukonis et al. 2022, arXiv 2210.13383): maze size -> (human,
# oracle max) targets per full episode.
MAZE_REFERENCES = {9: (26.4, 34.8), 11: (44.3, 58.0), 13: (55.5, 74.5), 15: (67.7, 87.7)}
RESULTS_FILE = "navigation.json"
TABLE_FILE = "navigation.md"
VIDEO_SCALE = 4


@dataclass
class NavigationOptions:
    agents: list[str]
    env_id: str = "lsswm/MemoryMaze-9x9-v0"
    episodes: int = 5
    max_steps: int = 1000
    seed_base: int = 1_000_000_000
    out: str = "runs/navigation"
    ckpt: str | None = None
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    device: str = "cpu"
    video: bool = True
    video_fps: int = 8
    progress: bool = True

    def validate(self) -> None:
        if not self.agents:
            raise EvalError("no agent given; pass --agent random,oracle,planner or sb3:PATH")
        if self.episodes < 1 or self.max_steps < 1:
            raise EvalError(
                f"--episodes and --max-steps must be >= 1 (got {self.episodes}, {self.max_steps})"
            )
        if "planner" in self.agents and self.ckpt is None:
            raise EvalError("--agent planner needs a world model: pass --ckpt MODEL.safetensors")


def references_for(env: Any, max_steps: int) -> dict[str, Any] | None:
    """The Memory Maze paper's human / oracle-max scores for this maze, scaled to
    ``max_steps``."""
    unwrapped = getattr(env, "unwrapped", env)
    size = getattr(unwrapped, "maze_size", None)
    native = getattr(unwrapped, "native_episode_steps", None)
    if size not in MAZE_REFERENCES or not native:
        return None
    human, oracle = MAZE_REFERENCES[size]
    scale = max_steps / native
    return {
        "maze_size": size,
        "native_episode_steps": native,
        "human": human,
        "oracle_max": oracle,
        "scale": scale,
        "human_scaled": human * scale,
        "oracle_max_scaled": oracle * scale,
        "source": "Memory Maze paper (Pasukonis et al. 2022, arXiv 2210.13383); scaled linearly by "
        "max_steps / native episode steps",
    }


# Student's t, two-sided 95% (the 0.975 quantile) by degrees of freedom; 1.96 beyond 30.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t_quantile_975(dof: int) -> float:
    return T_975[dof - 1] if dof <= len(T_975) else 1.96


def summarize(scores: list[float]) -> dict[str, float]:
    """Mean, spread and a 95% t-interval of the mean (mean +- t_{0.975, n-1} * sem)."""
    values = np.asarray(scores, dtype=np.float64)
    mean = float(values.mean())
    sem = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    half = t_quantile_975(len(values) - 1) * sem if len(values) > 1 else 0.0
    return {
        "mean": mean,
        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "sem": sem,
        "ci95_low": mean - half,
        "ci95_high": mean + half,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def run_navigation(options: NavigationOptions) -> dict[str, Any]:
    """Run every agent, write the JSON, table and videos under ``options.out``; return the
    results dict."""
    from lsswm.agents.agent_factory import make_agent
    from lsswm.agents.real_env import SCORE_NAMES, env_kind, make_real_env
    from lsswm.eval.results import new_results, write_results
    from lsswm.eval.tables import make_table, markdown_table, text_table

    options.validate()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [options.seed_base + i for i in range(options.episodes)]
    ckpt = _resolve_ckpt(options.ckpt) if "planner" in options.agents else options.ckpt
    env = make_real_env(options.env_id, options.max_steps)
    kind = env_kind(env)
    references = references_for(env, options.max_steps) if kind == "memory_maze" else None
    settings = {
        "env_id": options.env_id,
        "agents": options.agents,
        "episodes": options.episodes,
        "max_steps": options.max_steps,
        "seed_base": options.seed_base,
        "seeds": seeds,
        "checkpoint": str(ckpt) if ckpt else None,
        "planner": options.planner.to_dict() if "planner" in options.agents else None,
    }
    results = new_results(
        "navigation", f"Navigation: {options.env_id}", settings, device=options.device
    )
    results["score_name"] = SCORE_NAMES[kind]
    results["references"] = references
    results["agents"] = []
    if ckpt is not None:
        _warn_on_seen_seeds(ckpt, seeds, results["notes"])
    announce_estimate(options)
    for name in options.agents:
        agent = make_agent(
            name, env, ckpt=ckpt, planner=options.planner, device=options.device, seed=0
        )
        record = _run_agent(name, agent, env, seeds, options, out)
        results["agents"].append(record)
        if record.get("video"):
            results["videos"].append(record["video"])
        print(
            f"{name}: {results['score_name']} {record['mean']:.2f} ± {record['std']:.2f} "
            f"over {len(seeds)} episodes",
            file=sys.stderr,
        )
    env.close()
    results["tables"].append(make_table(*_score_table(results)))
    if kind == "crafter":
        results["tables"].append(make_table(*_achievement_table(results)))
    if references is not None:
        results["notes"].append(references["source"])
    write_results(out / RESULTS_FILE, results)
    markdown = "\n\n".join(f"### {t['title']}\n\n{markdown_table(t)}" for t in results["tables"])
    (out / TABLE_FILE).write_text(markdown + "\n", encoding="utf-8")
    for table in results["tables"]:
        print(text_table(table))
    return results


def assumed_seconds_per_step(name: str, options: NavigationOptions) -> float:
    """One real step of agent ``name``: the env's assumed rate (lsswm.envs.speed), plus the
    planner's assumed planning time (PlannerConfig.assumed_seconds_per_step)."""
    from lsswm.envs.speed import assumed_step_seconds

    seconds = assumed_step_seconds(options.env_id)
    if name == "planner":
        seconds += options.planner.assumed_seconds_per_step()
    return seconds


def announce_estimate(options: NavigationOptions) -> float:
    """Print the suite's expected duration from assumed rates; the planner's measured rate
    follows once it has taken a few steps (_StepTimer)."""
    from lsswm.cli.estimate import Part, print_estimate
    from lsswm.envs.speed import RESET_SECONDS

    steps = options.episodes * options.max_steps
    parts = [
        Part(steps, f"{name} steps", assumed_seconds_per_step(name, options))
        for name in options.agents
    ]
    quick = None
    if options.episodes > 2 or options.max_steps > 200:
        quick = f"--episodes {min(options.episodes, 2)} --max-steps {min(options.max_steps, 200)}"
    overhead = RESET_SECONDS * options.episodes * len(options.agents)
    return print_estimate(parts, overhead_s=overhead, quick=quick, label="navigation")


class _StepTimer:
    """Times an agent's real steps once it is warm (step 1 to 1 + n of its first episode,
    n covering two plans) and prints the measured estimate of the rest of its episodes:
    always for the planner, for other agents when the rest takes over a minute."""

    def __init__(
        self, name: str, options: NavigationOptions, write: Any, clock: Any = time.perf_counter
    ) -> None:
        self.name, self.write, self.clock = name, write, clock
        self.total = options.episodes * options.max_steps
        self.episodes = options.episodes
        self.window = max(4, 2 * options.planner.replan_every)
        self.steps = 0
        self.first: float | None = None
        self.done = False

    def step(self) -> None:
        self.steps += 1
        if self.done:
            return
        if self.steps == 1:
            self.first = self.clock()
        elif self.first is not None and self.steps == 1 + self.window:
            self.done = True
            self._report((self.clock() - self.first) / self.window)

    def episode_end(self) -> None:
        # Only the first episode's steps are timed (a reset is not a step).
        self.done = True

    def _report(self, seconds: float) -> None:
        from lsswm.cli.estimate import Part, estimate_line
        from lsswm.envs.speed import RESET_SECONDS

        left = self.total - self.steps
        overhead = RESET_SECONDS * (self.episodes - 1)
        part = Part(left, "steps", seconds, measured=True)
        if self.name == "planner" or part.seconds + overhead > 60:
            self.write(estimate_line([part], overhead_s=overhead, label=self.name, remaining=True))


def _run_agent(
    name: str,
    agent: Any,
    env: Any,
    seeds: list[int],
    options: NavigationOptions,
    out: Path,
) -> dict[str, Any]:
    from tqdm import tqdm

    from lsswm.agents.real_env import run_episode

    bar = tqdm(
        total=len(seeds) * options.max_steps,
        desc=name,
        unit="step",
        disable=not options.progress,
        file=sys.stderr,
    )
    timer = _StepTimer(name, options, lambda line: tqdm.write(line, file=sys.stderr))

    def on_step() -> None:
        bar.update(1)
        timer.step()

    episodes, video = [], None
    start = time.perf_counter()
    for index, seed in enumerate(seeds):
        keep = options.video and index == 0
        outcome = run_episode(
            env, agent, seed, options.max_steps, keep_frames=keep, on_step=on_step
        )
        timer.episode_end()
        bar.set_postfix(score=outcome.score)
        episodes.append(
            {
                "seed": outcome.seed,
                "score": outcome.score,
                "return": outcome.episode_return,
                "steps": outcome.steps,
                "seconds": outcome.seconds,
                "achievements": outcome.achievements,
                "agent_info": outcome.agent_info,
            }
        )
        if keep and outcome.frames is not None:
            video = _write_episode_video(
                out / f"navigation_{_file_label(name)}.mp4",
                outcome.frames,
                name,
                seed,
                options.video_fps,
            )
    bar.close()
    seconds = time.perf_counter() - start
    steps = sum(e["steps"] for e in episodes)
    scores = [e["score"] for e in episodes]
    return {
        "agent": name,
        "scores": scores,
        **summarize(scores),
        "seconds_per_step": seconds / max(steps, 1),
        "episodes": episodes,
        "video": video.relative_to(out).as_posix() if video else None,
    }


def _score_table(results: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    settings, references = results["settings"], results["references"]
    columns = ["agent", "episodes", "mean", "95% CI low", "95% CI high", "std", "min", "max"]
    columns += ["s/step"]
    if references:
        columns += ["% of human", "% of oracle max"]
    rows = []
    for record in results["agents"]:
        row = [record["agent"], len(record["scores"]), record["mean"]]
        row += [record["ci95_low"], record["ci95_high"], record["std"]]
        row += [record["min"], record["max"], record["seconds_per_step"]]
        if references:
            row += [
                100 * record["mean"] / references["human_scaled"],
                100 * record["mean"] / references["oracle_max_scaled"],
            ]
        rows.append(row)
    if references:
        for label, key in (
            ("human (Memory Maze paper)", "human_scaled"),
            ("oracle max (Memory Maze paper)", "oracle_max_scaled"),
        ):
            value = references[key]
            human = 100 * value / references["human_scaled"]
            oracle = 100 * value / references["oracle_max_scaled"]
            rows.append([label, None, value, None, None, None, None, None, None, human, oracle])
    title = (
        f"{results['score_name']} per episode: {settings['env_id']}, "
        f"{settings['max_steps']} steps, seeds {settings['seeds'][0]}..{settings['seeds'][-1]}"
    )
    return title, columns, rows


def _achievement_table(results: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    from lsswm.envs.crafter_env import ACHIEVEMENT_KEYS

    agents = results["agents"]
    rows = []
    for achievement in ACHIEVEMENT_KEYS:
        fractions = [
            float(np.mean([achievement in (e["achievements"] or []) for e in a["episodes"]]))
            for a in agents
        ]
        if any(fractions):
            rows.append([achievement, *fractions])
    return (
        "Crafter: fraction of episodes that unlocked each achievement",
        ["achievement", *(a["agent"] for a in agents)],
        rows,
    )


def _file_label(name: str) -> str:
    if name.startswith("sb3:"):
        return "sb3_" + Path(name[4:]).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def _write_episode_video(
    path: Path, frames: np.ndarray, agent: str, seed: int, fps: int
) -> Path | None:
    """The episode's frames, upscaled, under a strip with the agent, step and seed."""
    from lsswm.collect.video import write_video
    from lsswm.eval.videos import MODEL_COLOUR, compose_frame

    images = [
        compose_frame([(f"{agent} seed {seed} t={t}", frame)], [MODEL_COLOUR], VIDEO_SCALE)
        for t, frame in enumerate(frames)
    ]
    return write_video(path, np.stack(images), fps=fps)


def _resolve_ckpt(ckpt: str | None) -> Path | None:
    from lsswm.worldmodel.checkpoint import resolve_checkpoint_path

    return None if ckpt is None else resolve_checkpoint_path(ckpt)


def _warn_on_seen_seeds(ckpt: Path, seeds: list[int], notes: list[str]) -> None:
    """Navigation seeds must be held out from the world model's training data."""
    from lsswm.eval.generation import LoadedModel, training_seed_range
    from lsswm.worldmodel.checkpoint import read_metadata

    found = training_seed_range(LoadedModel(None, str(ckpt), ckpt.stem, read_metadata(ckpt)))
    if found is None:
        return
    data, (first, last) = found
    seen = [s for s in seeds if first <= s <= last]
    if seen:
        message = (
            f"warning: seeds {seen[0]}..{seen[-1]} are in the training data's seed range "
            f"{first}..{last} ({data}); pass a --seed-base outside it for held-out mazes"
        )
        print(message, file=sys.stderr)
        notes.append(message)
