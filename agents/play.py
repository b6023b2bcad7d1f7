"""`lsswm play`: drive the real Memory Maze and the world model's imagination side by side.

A local Gradio web app (optional extra ``pip install 'lsswm[play]'``). Both sides start from
the same real frames: the env is reset with a seed, the model observes the first ``context``
real frames (a few left turns, so it sees more than one view), then every action the user
chooses steps the real env AND ``stream.imagine`` with that action, so one sees where the
model's picture drifts from the real maze. The page shows the frame count, the bytes the
model's stream carries (``stream.nbytes()``, constant for SSM states, growing for caches),
the predicted and the real reward. Buttons (or keys) pick one of Memory Maze's six discrete
actions; "turn around" spins a full turn (20 left turns); "record" writes the play-through
as an mp4, real | imagined side by side (collect.video.write_video).

:class:`PlaySession` holds the game and has no Gradio dependency (tests and benchmarks use it
directly); :func:`build_app` wraps it in a Gradio ``Blocks`` app whose buttons are also API
endpoints (``/action_forward``, ``/turn_around``, ``/reset``, ``/record``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lsswm.agents.errors import AgentError

DEFAULT_ENV = "lsswm/MemoryMaze-9x9-v0"
ACTION_NAMES = ("noop", "forward", "left", "right", "forward_left", "forward_right")
LEFT = ACTION_NAMES.index("left")
FULL_TURN = 20  # left turns in one full turn (Memory Maze turns 18 degrees a step)
KEYS = {  # keyboard shortcuts of the web page
    "noop": " ",
    "forward": "w",
    "left": "a",
    "right": "d",
    "forward_left": "q",
    "forward_right": "e",
}
DISPLAY_SIDE = 256  # px: frames are shown (and recorded) upscaled, nearest neighbour


@dataclass
class PlayStatus:
    frames: int = 0
    state_bytes: int = 0
    predicted_reward: float = 0.0
    real_reward: float = 0.0
    real_return: float = 0.0
    seconds_per_action: float = 0.0

    def text(self) -> str:
        return (
            f"frame {self.frames} | model state {self.state_bytes:,} bytes | predicted reward "
            f"{self.predicted_reward:+.3f} | real reward {self.real_reward:+.1f} (return "
            f"{self.real_return:.1f}) | {self.seconds_per_action:.3f} s/action"
        )


@dataclass
class PlaySession:
    """The real env and the model's stream, stepped together."""

    model: Any  # FrameWorldModel
    env_id: str = DEFAULT_ENV
    # A pose-conditioned model (data.actions=pose) is given the real env's camera pose after
    # each action instead of the action: the paper's Memory Maze protocol.
    poses: bool = False
    context: int = 4
    denoising_steps: int | None = None
    seed: int = 0
    env: Any = None
    stream: Any = None
    real: list[np.ndarray] = field(default_factory=list)
    imagined: list[np.ndarray] = field(default_factory=list)
    status: PlayStatus = field(default_factory=PlayStatus)
    # MuJoCo's OpenGL context belongs to the thread that made the env, and web servers call
    # handlers from a pool: every env call runs on this one thread.
    worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="lsswm-play-env")
    )

    def on_env_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        return self.worker.submit(function, *args).result()

    def __post_init__(self) -> None:
        import lsswm.envs
        from lsswm.agents.model_io import (
            check_model_fits,
            describe_space,
            env_image_shape,
        )

        if self.context < 1:
            raise AgentError(f"--context must be >= 1 real frame, got {self.context}")
        self.env = self.on_env_thread(lsswm.envs.make, self.env_id)
        check_model_fits(
            self.model,
            env_image_shape(self.env),
            None if self.poses else describe_space(self.env.action_space),
            f"env {self.env_id}",
        )
        self.reset(self.seed)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def _model_frame(self, frame: np.ndarray) -> np.ndarray:
        from lsswm.agents.model_io import to_model_frames

        return to_model_frames(np.asarray(frame)[None], self.model)[0]

    def _model_action(self, action: int, info: Any) -> Any:
        """What the model is conditioned on: the env action, or the pose it led to."""
        if not self.poses:
            return action
        from lsswm.agents.model_io import pose_from_state

        return pose_from_state(info.get("state"))

    def reset(self, seed: int) -> PlayStatus:
        """A new maze (``seed``): the model observes ``context`` real frames, the first one
        from the reset (null action), then left turns."""
        import torch

        self.seed = int(seed)
        observation, info = self.on_env_thread(lambda: self.env.reset(seed=self.seed))
        frames, actions = [observation], [self._model_action(0, info)]
        for _ in range(self.context - 1):
            observation, _, _, _, info = self.on_env_thread(self.env.step, LEFT)
            frames.append(observation)
            actions.append(self._model_action(LEFT, info))
        model_frames = np.stack([self._model_frame(f) for f in frames])
        self.stream = self.model.start_stream(1)
        with torch.no_grad():
            self.stream.observe_frames(
                torch.as_tensor(model_frames[None], device=self.device),
                torch.as_tensor(np.asarray(actions)[None], device=self.device),
            )
        self.real = list(model_frames)
        self.imagined = list(model_frames)  # the context is real on both sides
        self.status = PlayStatus(frames=len(frames), state_bytes=self.stream.nbytes)
        return self.status

    def act(self, action: int | str) -> PlayStatus:
        """One action on both sides: the real env steps, the model imagines the next frame."""
        import torch

        if isinstance(action, str):
            index = ACTION_NAMES.index(action) if action in ACTION_NAMES else -1
        else:
            index = int(action)
        if not 0 <= index < len(ACTION_NAMES):
            raise AgentError(f"action {action!r}: choose one of {', '.join(ACTION_NAMES)}")
        start = time.perf_counter()
        observation, reward, terminated, truncated, info = self.on_env_thread(self.env.step, index)
        action_in = np.asarray(self._model_action(index, info))[None, None]
        with torch.no_grad():
            out = self.stream.imagine(
                torch.as_tensor(action_in, device=self.device), self.denoising_steps
            )
        self.real.append(self._model_frame(observation))
        self.imagined.append(out.frames[0, -1].cpu().numpy())
        status = self.status
        status.frames += 1
        status.state_bytes = self.stream.nbytes
        status.predicted_reward = float(out.rewards[0, -1])
        status.real_reward = float(reward)
        status.real_return += float(reward)
        status.seconds_per_action = time.perf_counter() - start
        if terminated or truncated:  # the real episode ended: start the same maze again
            self.reset(self.seed)
        return self.status

    def turn_around(self) -> PlayStatus:
        for _ in range(FULL_TURN):
            self.act(LEFT)
        return self.status

    def views(self) -> tuple[np.ndarray, np.ndarray]:
        """The latest real and imagined frames, upscaled for display."""
        return _display(self.real[-1]), _display(self.imagined[-1])

    def record(self, path: str | Path, fps: int = 8) -> Path:
        """The play-through so far as a video: real | imagined, labelled, side by side."""
        from lsswm.collect.video import label_panels, write_video

        real, imagined = np.stack(self.real), np.stack(self.imagined)
        gap = np.full((len(real), real.shape[1], 2, 3), 255, np.uint8)
        tiled = np.concatenate([real, gap, imagined], axis=2)
        video = label_panels(
            tiled, [f"real, seed {self.seed}", "model imagination"], gap=2, min_side=DISPLAY_SIDE
        )
        return write_video(path, video, fps=fps)

    def close(self) -> None:
        self.on_env_thread(self.env.close)
        self.worker.shutdown()


def _display(frame: np.ndarray) -> np.ndarray:
    from lsswm.collect.video import upscale_nearest

    return upscale_nearest(frame, min_side=DISPLAY_SIDE)


_KEY_SCRIPT = """
() => {
  const keys = %s;
  document.addEventListener("keydown", (event) => {
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea") return;
    const id = keys[event.key.toLowerCase()];
    if (!id) return;
    const button = document.getElementById(id);
    if (button) { event.preventDefault(); button.click(); }
  });
}
"""


def build_app(session: PlaySession, record_dir: str | Path = "runs/play") -> Any:
    """The Gradio Blocks app around ``session`` (one session: a local, single-user app)."""
    import json

    import gradio as gr

    record_dir = Path(record_dir)

    def show() -> tuple[np.ndarray, np.ndarray, str]:
        real, imagined = session.views()
        return real, imagined, session.status.text()

    key_ids = {key: f"action-{name}" for name, key in KEYS.items()} | {"t": "turn-around"}
    with gr.Blocks(title="lsswm play") as app:
        gr.Markdown(
            "### lsswm play: the real Memory Maze (left) and the world model's imagination "
            "(right), same start, same actions.  Keys: "
            + ", ".join(f"`{'space' if k == ' ' else k}` {n}" for n, k in KEYS.items())
            + ", `t` turn around."
        )
        with gr.Row():
            real = gr.Image(label="real env", type="numpy", interactive=False)
            imagined = gr.Image(label="model imagination", type="numpy", interactive=False)
        status = gr.Markdown()
        outputs = [real, imagined, status]
        with gr.Row():
            for name in ACTION_NAMES:
                button = gr.Button(
                    f"{name} [{'space' if KEYS[name] == ' ' else KEYS[name]}]",
                    elem_id=f"action-{name}",
                )
                button.click(
                    lambda name=name: (session.act(name), show())[1],
                    outputs=outputs,
                    api_name=f"action_{name}",
                )
            turn = gr.Button("turn around [t]", elem_id="turn-around")
            turn.click(
                lambda: (session.turn_around(), show())[1], outputs=outputs, api_name="turn_around"
            )
        with gr.Row():
            seed = gr.Number(value=session.seed, precision=0, label="seed")
            reset = gr.Button("reset to this seed")
            record = gr.Button("record (mp4)")
            recording = gr.File(label="recording")
        reset.click(
            lambda value: (session.reset(int(value)), show())[1],
            inputs=seed,
            outputs=outputs,
            api_name="reset",
        )

        def save() -> str:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            return str(session.record(record_dir / f"play_seed{session.seed}_{stamp}.mp4"))

        record.click(save, outputs=recording, api_name="record")
        app.load(show, outputs=outputs, js=_KEY_SCRIPT % json.dumps(key_ids))
    return app


def run_play(
    ckpt: str,
    *,
    env_id: str = DEFAULT_ENV,
    seed: int = 0,
    context: int = 4,
    denoising_steps: int | None = None,
    device: str = "auto",
    host: str = "127.0.0.1",
    port: int | None = None,
    record_dir: str = "runs/play",
    open_browser: bool = True,
) -> None:
    from lsswm.agents.model_io import load_frame_world_model, takes_poses
    from lsswm.worldmodel.checkpoint import resolve_checkpoint_path, resolve_device

    try:
        import gradio  # noqa: F401
    except ImportError as error:
        raise AgentError(
            "lsswm play needs Gradio: pip install 'lsswm[play]' (or bash scripts/setup.sh "
            "with LSSWM_EXTRAS=test,play)"
        ) from error
    path = resolve_checkpoint_path(ckpt)
    model = load_frame_world_model(path, resolve_device(device), allow_poses=True)
    session = PlaySession(
        model,
        env_id,
        poses=takes_poses(path),
        context=context,
        denoising_steps=denoising_steps,
        seed=seed,
    )
    app = build_app(session, record_dir)
    try:
        app.launch(server_name=host, server_port=port, inbrowser=open_browser)
    finally:
        # Free MuJoCo's GL context on the thread that owns it (else an EGL error at exit).
        session.close()
