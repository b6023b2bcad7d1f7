"""``lsswm bench planner``: seconds per real step of the planning agent, per setting.

Each setting plays ``steps`` real steps of :class:`PlanningAgent` (after ``warmup`` steps)
and reports the wall time of ``act`` per step: observing the real frame (one pass of batch
1) plus planning (divided over ``replan_every`` steps), model passes and rows per step.
Frames are random 64x64 images: the cost of a pass depends on the shapes, not on the pixels
or the weights, so a random-weight model shaped like the ``tiny`` preset (``--ckpt``
omitted) costs what the trained one does. Prints a table and writes ``planner_bench.json``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsswm.agents.planner_config import PlannerConfig
from lsswm.agents.results import new_results, write_results

OLD_DEFAULTS = PlannerConfig(
    horizon=8,
    population=64,
    iterations=3,
    elites=8,
    denoising_steps=4,
    replan_every=1,
    warm_start=0.0,
)
DOCS_SETTING = PlannerConfig(
    horizon=5,
    population=16,
    iterations=2,
    elites=4,
    denoising_steps=2,
    replan_every=2,
    warm_start=0.0,
)


@dataclass
class BenchSetting:
    label: str
    config: PlannerConfig


def default_settings() -> list[BenchSetting]:
    return [
        BenchSetting("old defaults", OLD_DEFAULTS),
        BenchSetting("docs/agents.md measurement (before)", DOCS_SETTING),
        BenchSetting("defaults", PlannerConfig()),
    ]


def parse_setting(text: str) -> BenchSetting:
    """``P,H,I,D,R`` (population, horizon, iterations, denoising steps, replan every)."""
    population, horizon, iterations, steps, replan = (int(v) for v in text.split(","))
    config = PlannerConfig(
        population=population,
        horizon=horizon,
        iterations=iterations,
        elites=max(1, min(population, population // 8 or 1)),
        denoising_steps=steps,
        replan_every=replan,
    )
    return BenchSetting(f"P{population} H{horizon} I{iterations} d{steps} r{replan}", config)


def tiny_preset_model(seed: int = 0) -> Any:
    """A random-weight FrameWorldModel with the ``tiny`` preset's shapes (32 px patchify,
    4x4x192 latents, d_model 64, 2 layers, chunk 5; 6 actions)."""
    from lsswm.worldmodel.frame_model import FrameWorldModel
    from lsswm.worldmodel.model import WorldModel
    from lsswm.worldmodel.tokenizer import Tokenizer, TokenizerConfig
    from lsswm.worldmodel.train.config import train_preset

    torch.manual_seed(seed)
    preset = train_preset("tiny")
    tokenizer = Tokenizer(
        TokenizerConfig(
            kind="patchify",
            image_size=preset.data.image_size,
            downsample=preset.tokenizer.patch_size,
        )
    )
    height, width, channels = tokenizer.config.latent_shape
    config = preset.model.replace(
        latent_height=height, latent_width=width, latent_channels=channels, action_size=6
    )
    return FrameWorldModel(WorldModel(config), tokenizer).eval()


def bench_setting(
    model: Any,
    setting: BenchSetting,
    steps: int,
    warmup: int,
    seed: int = 0,
    heads: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``heads``: the planner's critic / critic_weights / motion paths, timed with it."""
    from lsswm.agents.agent_factory import load_planner_heads
    from lsswm.agents.planner import PlanningAgent

    rng = np.random.default_rng(seed)

    def frame() -> np.ndarray:
        return rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)

    config = dataclasses.replace(setting.config, **(heads or {}))
    critics, motion = load_planner_heads(config)
    agent = PlanningAgent(model, config, seed=seed, critic=critics, motion=motion)
    agent.reset(seed, frame(), {})
    for _ in range(warmup):
        agent.act(frame(), {})
    calls, rows = agent.counter.calls, agent.counter.rows
    start = time.perf_counter()
    for _ in range(steps):
        agent.act(frame(), {})
    seconds = (time.perf_counter() - start) / steps
    return {
        "setting": setting.label,
        "planner": config.to_dict(),
        "seconds_per_step": seconds,
        "model_passes_per_step": (agent.counter.calls - calls) / steps,
        "model_rows_per_step": (agent.counter.rows - rows) / steps,
        "steps": steps,
    }


def run_bench(
    settings: list[BenchSetting],
    ckpt: str | None,
    steps: int,
    warmup: int,
    out: str | Path,
    device: str = "cpu",
    heads: dict[str, str] | None = None,
) -> dict[str, Any]:
    from lsswm.agents.model_io import load_frame_world_model

    model = load_frame_world_model(ckpt, device=device) if ckpt else tiny_preset_model()
    records = [bench_setting(model, s, steps, warmup, heads=heads) for s in settings]
    run_settings = {
        "checkpoint": ckpt,
        "steps": steps,
        "warmup": warmup,
        "model": model.config.to_dict(),
    }
    results = new_results("planner-bench", "Planner cost per real step", run_settings, device)
    results["records"] = records
    columns = ["setting", "P", "H", "iters", "denoise", "replan", "passes/step", "rows/step"]
    columns.append("s/step")
    rows = []
    for record in records:
        config = record["planner"]
        rows.append(
            [
                record["setting"],
                config["population"],
                config["horizon"],
                config["iterations"],
                config["denoising_steps"],
                config["replan_every"],
                record["model_passes_per_step"],
                record["model_rows_per_step"],
                record["seconds_per_step"],
            ]
        )
    results["tables"].append(
        {"title": "Planner cost per real step", "columns": columns, "rows": rows}
    )
    results["notes"].append(
        "wall time of PlanningAgent.act per real step (observe + planning), random 64x64 "
        f"frames, torch threads {torch.get_num_threads()}"
    )
    write_results(Path(out) / "planner_bench.json", results)
    print(_text_table(results["tables"][0]))
    return results


def _text_table(table: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = [[cell(v) for v in row] for row in table["rows"]]
    widths = [max(len(str(c)), *(len(r[i]) for r in rows)) for i, c in enumerate(table["columns"])]
    lines = [
        table["title"],
        "  ".join(str(c).ljust(w) for c, w in zip(table["columns"], widths, strict=True)),
    ]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)
