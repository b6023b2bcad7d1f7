"""The results JSON every suite writes: its common header and the writer (docs/evaluation.md).

A results file is one JSON object that starts with ``new_results(suite, title, settings,
device)``: suite, schema_version, title, command, created, environment, settings, tables,
plots, videos and notes. Suites add their own fields and save it with ``write_results``
(standard JSON: NaN/inf become null).

It lives in the agents layer, the lowest one with suites (``lsswm agents
train-in-imagination``, ``lsswm bench planner``), so that they and every eval suite share
one header: layers import only downwards. ``lsswm.eval.results`` re-exports these names and
adds the reading side (``read_results``, ``find_results``) and the training-data notes.
"""

from __future__ import annotations

import datetime
import json
import math
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


def environment_info(device: str | None = None) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "device": device,
    }
    if device and device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def invoked_command() -> str | None:
    """The `lsswm ...` command line of this process, when it was started as `lsswm`."""
    program = Path(sys.argv[0]).name if sys.argv else ""
    if program in ("lsswm", "main.py", "__main__.py"):
        return "lsswm " + shlex.join(sys.argv[1:])
    return None


def new_results(
    suite: str, title: str, settings: dict[str, Any], device: str | None = None
) -> dict:
    return {
        "suite": suite,
        "schema_version": SCHEMA_VERSION,
        "title": title,
        "command": invoked_command(),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": environment_info(device),
        "settings": settings,
        "tables": [],
        "plots": [],
        "videos": [],
        "notes": [],
    }


def _finite(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars/arrays by plain Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _finite(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_results(path: str | Path, results: dict[str, Any]) -> Path:
    if "suite" not in results:
        raise ValueError("results need a 'suite' field")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_finite(results), indent=1, allow_nan=False)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)
    return path
