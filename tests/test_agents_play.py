"""`lsswm play`: the real Memory Maze and the model's imagination, stepped together."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from lsswm.agents.errors import AgentError
from lsswm.agents.play import DISPLAY_SIDE, FULL_TURN, PlaySession
from lsswm.worldmodel.checkpoint import save_world_model


@pytest.fixture(scope="module")
def maze_model(tiny_frame_model):
    """The tests' tiny random world model (conftest.py) for 64x64 Memory Maze frames and its
    6 actions."""
    return tiny_frame_model(image_size=64, action_size=6)


@pytest.fixture(scope="module")
def session(maze_model):
    play = PlaySession(maze_model, context=3, seed=5)
    yield play
    play.close()


def test_both_sides_start_from_the_same_real_frames_and_step_together(session, tmp_path):
    session.reset(5)
    assert session.status.frames == 3
    np.testing.assert_array_equal(np.stack(session.real), np.stack(session.imagined))
    state = session.status.state_bytes
    assert state > 0
    first_real = session.real[0].copy()
    session.act("forward")
    session.act(3)
    assert session.status.frames == 5
    assert len(session.real) == len(session.imagined) == 5
    assert session.imagined[-1].shape == (64, 64, 3) and session.imagined[-1].dtype == np.uint8
    assert isinstance(session.status.predicted_reward, float)
    real, imagined = session.views()
    assert real.shape == imagined.shape == (DISPLAY_SIDE, DISPLAY_SIDE, 3)
    session.turn_around()
    assert session.status.frames == 5 + FULL_TURN
    # Same seed, same start: a reset replays the same real frames.
    session.reset(5)
    np.testing.assert_array_equal(session.real[0], first_real)
    session.act("forward")
    path = session.record(tmp_path / "play.mp4")
    assert path.is_file() and path.stat().st_size > 0
    with pytest.raises(AgentError, match="choose one of"):
        session.act("jump")


def test_play_app_through_gradio_client(session, maze_model, tmp_path):
    pytest.importorskip("gradio", reason="the [play] extra (gradio) is not installed")
    gradio_client = pytest.importorskip(
        "gradio_client", reason="the [play] extra (gradio_client) is not installed"
    )
    from PIL import Image

    # The CLI path: a checkpoint saved here, loaded like `lsswm play --ckpt` does.
    from lsswm.agents.model_io import load_frame_world_model
    from lsswm.agents.play import build_app

    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, maze_model)
    play = PlaySession(load_frame_world_model(ckpt), context=2, seed=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = build_app(play, tmp_path / "recordings")
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
    )
    try:
        client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        start = time.perf_counter()
        for name in ("forward", "left", "forward_right"):
            real, imagined, status = client.predict(api_name=f"/action_{name}")
        per_action = (time.perf_counter() - start) / 3
        for image in (real, imagined):
            path = image if isinstance(image, str) else image.get("path") or image["value"]
            assert np.asarray(Image.open(path)).shape[:2] == (DISPLAY_SIDE, DISPLAY_SIDE)
        assert "frame 5" in status
        real, imagined, status = client.predict(7, api_name="/reset")
        assert "frame 2" in status and play.seed == 7
        client.predict(api_name="/turn_around")
        assert play.status.frames == 2 + FULL_TURN
        recording = client.predict(api_name="/record")
        path = recording if isinstance(recording, str) else recording.get("path")
        assert Path(path).stat().st_size > 0
        print(f"seconds per action through the app: {per_action:.3f}")
    finally:
        app.close()
        play.close()


def test_play_command_loads_the_checkpoint_and_launches(maze_model, tmp_path, monkeypatch):
    gradio = pytest.importorskip("gradio", reason="the [play] extra (gradio) is not installed")
    from lsswm.cli.main import main

    launched = {}

    def fake_launch(self, **kwargs):
        launched.update(kwargs)

    monkeypatch.setattr(gradio.Blocks, "launch", fake_launch)
    ckpt = tmp_path / "tiny.safetensors"
    save_world_model(ckpt, maze_model)
    argv = ["play", "--ckpt", str(ckpt), "--port", "7999", "--no-browser", "--device", "cpu"]
    assert main(argv) == 0
    assert launched == {"server_name": "127.0.0.1", "server_port": 7999, "inbrowser": False}


def test_a_pose_model_is_driven_by_the_real_env_poses(tiny_frame_model, tmp_path):
    """A data.actions=pose model (the shipped Memory Maze models) plays too: each action
    steps the real env, and the model imagines the view at the pose the env reached."""
    from lsswm.agents.model_io import load_frame_world_model, pose_from_state, takes_poses

    model = tiny_frame_model(image_size=32, pose=True)
    ckpt = tmp_path / "pose.safetensors"
    train_data = '{"actions": "pose", "frame_stride": 1, "image_size": 32}'
    save_world_model(ckpt, model, {"train_data": train_data})
    assert takes_poses(ckpt)
    with pytest.raises(AgentError, match="pose actions"):
        load_frame_world_model(ckpt)  # planners cannot feed poses
    play = PlaySession(load_frame_world_model(ckpt, allow_poses=True), poses=True, context=2)
    try:
        play.act("forward")
        assert len(play.imagined) == 3 and play.imagined[-1].shape == (32, 32, 3)
        _, info = play.on_env_thread(lambda: play.env.reset(seed=0))
        pose = pose_from_state(info["state"])
        assert pose.shape == (4,) and np.all(np.abs(pose) <= 1.0)
    finally:
        play.close()
