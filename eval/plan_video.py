"""A video of the planning agent: the real view beside its best imagined plan.

One real episode of the planner (``PlanningAgent``). After every planning call the best
sequence is imagined once more from the same stream state with decoding on (the planner
itself scores candidates without decoding), and the video shows, per real step:

* left: the real frame (at the model's resolution) with the step, the real reward so far and
  the action taken;
* right: the imagined plan, frames 1..H of the best sequence side by side, each labelled with
  the model's predicted reward for that step (the score the planner ranked it by).

The re-imagination draws fresh sampler noise, so its frames are a sample of the plan, not the
exact sample that was scored; the predicted rewards shown are those the planner scored.
Rendering costs extra model passes: use ``lsswm eval navigation`` for timing, not this.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ACTION_NAMES = ("noop", "forward", "left", "right", "fwd-left", "fwd-right")


@dataclass
class PlanVideoOptions:
    ckpt: str
    out: str
    env_id: str = "lsswm/MemoryMaze-9x9-v0"
    seed: int = 1_000_000_000
    steps: int = 120
    device: str = "cpu"
    fps: int = 4
    scale: int = 4


def record_plan_video(options: PlanVideoOptions, planner: Any) -> dict[str, Any]:
    """Run one episode of the planner and write ``plan_video.mp4`` (or .gif) under ``out``;
    returns a small summary (steps, real targets, path)."""
    import torch

    from lsswm.agents.agent_factory import make_planning_agent
    from lsswm.agents.model_io import to_model_frames
    from lsswm.agents.planner import _device_of
    from lsswm.agents.real_env import make_real_env
    from lsswm.collect.recorder import frame_of
    from lsswm.collect.video import write_video

    env = make_real_env(options.env_id, options.steps)
    agent = make_planning_agent(env, options.ckpt, planner, options.device, 0)
    obs, info = env.reset(seed=options.seed)
    agent.reset(options.seed, obs, info)
    images, total = [], 0.0
    plan_frames: np.ndarray | None = None
    plan_rewards: np.ndarray | None = None
    plan_age = 0
    for step in range(options.steps):
        planned_before = agent.last_plan
        action = agent.act(obs, info)
        if agent.last_plan is not planned_before:  # a new plan: render it
            plan = agent.last_plan
            branch = agent.stream.select([0])
            device = _device_of(agent.stream)
            with torch.no_grad():
                out = branch.imagine(
                    torch.as_tensor(plan.actions[None], dtype=torch.long, device=device),
                    denoising_steps=planner.denoising_steps,
                )
            plan_frames = np.asarray(out.frames[0].cpu().numpy(), dtype=np.uint8)
            plan_rewards = plan.predicted_rewards
            plan_age = 0
        real = to_model_frames(np.ascontiguousarray(frame_of(obs)), agent.model)
        assert plan_frames is not None and plan_rewards is not None
        images.append(
            _compose(real, plan_frames, plan_rewards, plan_age, step, total, action, options)
        )
        plan_age += 1
        obs, reward, terminated, truncated, info = env.step(action)
        total += float(reward)
        if terminated or truncated:
            break
    env.close()
    out_dir = Path(options.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_video(out_dir / "plan_video.mp4", np.stack(images), fps=options.fps)
    return {"steps": len(images), "targets": total, "video": str(path), "seed": options.seed}


def _compose(
    real: np.ndarray,
    plan: np.ndarray,
    rewards: np.ndarray,
    age: int,
    step: int,
    total: float,
    action: int,
    options: PlanVideoOptions,
) -> np.ndarray:
    """real | gap | plan frame 1 .. H, each under a label strip."""
    from lsswm.eval.videos import CONTEXT_COLOUR, MODEL_COLOUR, TRUTH_COLOUR, compose_frame

    name = ACTION_NAMES[action] if action < len(ACTION_NAMES) else str(action)
    panels = [(f"t={step} R={total:g} {name}", real)]
    colours = [TRUTH_COLOUR]
    for k, (frame, reward) in enumerate(zip(plan, rewards, strict=False)):
        panels.append((f"+{k + 1} r={reward:+.2f}", frame))
        # steps of the plan already executed are greyed out
        colours.append(CONTEXT_COLOUR if k < age else MODEL_COLOUR)
    return compose_frame(panels, colours, options.scale)
