"""Pick a headless OpenGL backend for MuJoCo before mujoco is imported.

MuJoCo (and dm_control) read ``MUJOCO_GL`` once, at import time. Without it dm_control tries
GLFW first, which needs an X display and fails on servers. We choose instead:

1. ``MUJOCO_GL`` as the user set it (never overridden);
2. ``egl``: Mesa or NVIDIA EGL, works without a display (Mesa's llvmpipe on CPU machines);
3. ``osmesa``: pure software rendering, same pixels as EGL/llvmpipe, slower.

A backend is accepted only if a tiny OpenGL context can really be created with it: a library
that loads is not enough (libglvnd's ``libEGL.so.1`` loads even when no EGL driver exists), so
the check runs in a short subprocess (~0.3 s) that cannot disturb this process's GL state. The
choice is written to ``os.environ`` so child processes (data-collection workers) inherit it and
skip the probe.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from dataclasses import dataclass

from lsswm.envs.errors import HeadlessGLError


@dataclass(frozen=True)
class _Backend:
    name: str  # the MUJOCO_GL value
    libraries: tuple[str, ...]  # shared objects of which at least one must load
    install_hint: str


_CANDIDATES = (
    _Backend("egl", ("libEGL.so.1", "libEGL.so"), "apt-get install libegl1 libegl-mesa0"),
    _Backend(
        "osmesa", ("libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so"), "apt-get install libosmesa6"
    ),
)

# The probe builds and frees an 8x8 context with the same code path MuJoCo uses for rendering.
_PROBE_SCRIPT = (
    "import mujoco\ncontext = mujoco.GLContext(8, 8)\ncontext.make_current()\ncontext.free()\n"
)
_PROBE_TIMEOUT_S = 60.0

_chosen_backend: str | None = None


def configure_headless_gl() -> str:
    """Set ``MUJOCO_GL`` to a working headless backend and return its name.

    Call this before the first ``import mujoco`` / ``dm_control`` / ``memory_maze``. A value the
    user already set is respected as is. Raises :class:`HeadlessGLError` (user-facing, naming the
    apt package to install) when neither EGL nor OSMesa works.
    """
    global _chosen_backend
    user_choice = os.environ.get("MUJOCO_GL")
    if user_choice:
        return user_choice
    if _chosen_backend is not None:
        os.environ["MUJOCO_GL"] = _chosen_backend
        return _chosen_backend

    failures: list[str] = []
    for backend in _CANDIDATES:
        problem = _library_problem(backend) or _context_problem(backend)
        if problem is None:
            _select(backend.name)
            return backend.name
        failures.append(f"{backend.name}: {problem} (install: `{backend.install_hint}`)")
    raise HeadlessGLError(
        "no headless OpenGL backend works for MuJoCo rendering; "
        + "; ".join(failures)
        + ". Install one of them (EGL preferred, e.g. `sudo apt-get install libegl1 libegl-mesa0`"
        " or `sudo apt-get install libosmesa6`), or set MUJOCO_GL to a backend that works here"
    )


def _select(name: str) -> None:
    global _chosen_backend
    _chosen_backend = name
    os.environ["MUJOCO_GL"] = name
    # PyOpenGL must use the same platform; dm_control and mujoco set it when unset, and refuse
    # to start when it disagrees, so only fill it in when nobody chose.
    os.environ.setdefault("PYOPENGL_PLATFORM", name)


def _library_problem(backend: _Backend) -> str | None:
    """Cheap first filter: None if one of the backend's shared libraries loads."""
    for library in backend.libraries:
        try:
            ctypes.CDLL(library)
        except OSError:
            continue
        return None
    return f"library {backend.libraries[0]} not found"


def _context_problem(backend: _Backend) -> str | None:
    """None if a subprocess can create an OpenGL context with this backend, else why not."""
    environment = dict(os.environ, MUJOCO_GL=backend.name, PYOPENGL_PLATFORM=backend.name)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT],
            env=environment,
            capture_output=True,
            text=True,
            timeout=_PROBE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"creating an OpenGL context took over {_PROBE_TIMEOUT_S:.0f} s"
    if result.returncode == 0:
        return None
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return f"creating an OpenGL context failed ({lines[-1] if lines else 'no error message'})"
