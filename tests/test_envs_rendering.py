"""Headless OpenGL backend selection (envs/rendering.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lsswm.envs import HeadlessGLError, rendering


@pytest.fixture
def no_user_choice(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Unset MUJOCO_GL / PYOPENGL_PLATFORM for the test and restore them afterwards."""
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM"):
        monkeypatch.setenv(name, "placeholder")  # records the original value for teardown
        monkeypatch.delenv(name)
    monkeypatch.setattr(rendering, "_chosen_backend", None)
    return monkeypatch


def test_user_setting_is_respected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(rendering, "_context_problem", lambda backend: pytest.fail("probed"))
    assert rendering.configure_headless_gl() == "osmesa"


def test_egl_is_preferred_then_osmesa(no_user_choice: pytest.MonkeyPatch) -> None:
    import os

    no_user_choice.setattr(rendering, "_library_problem", lambda backend: None)
    no_user_choice.setattr(
        rendering,
        "_context_problem",
        lambda backend: "no EGL device" if backend.name == "egl" else None,
    )
    assert rendering.configure_headless_gl() == "osmesa"
    assert os.environ["MUJOCO_GL"] == "osmesa"
    assert os.environ["PYOPENGL_PLATFORM"] == "osmesa"


def test_error_names_the_apt_packages_when_nothing_works(
    no_user_choice: pytest.MonkeyPatch,
) -> None:
    no_user_choice.setattr(rendering, "_library_problem", lambda backend: "library not found")
    with pytest.raises(HeadlessGLError) as caught:
        rendering.configure_headless_gl()
    message = str(caught.value)
    assert "apt-get install libegl1" in message
    assert "apt-get install libosmesa6" in message
    assert "MUJOCO_GL" in message
    assert caught.value.user_facing


def test_missing_library_is_detected_without_a_subprocess() -> None:
    backend = rendering._Backend("egl", ("libDoesNotExist-lsswm.so.1",), "apt-get install x")
    assert rendering._library_problem(backend) == "library libDoesNotExist-lsswm.so.1 not found"


def test_real_probe_picks_a_working_backend_here() -> None:
    # The project's setup installs EGL and OSMesa; one of them must work on its machines.
    code = (
        "import os\n"
        "os.environ.pop('MUJOCO_GL', None); os.environ.pop('PYOPENGL_PLATFORM', None)\n"
        "from lsswm.envs.rendering import configure_headless_gl\n"
        "print(configure_headless_gl(), os.environ['MUJOCO_GL'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    chosen, exported = result.stdout.split()
    assert chosen in ("egl", "osmesa")
    assert exported == chosen
