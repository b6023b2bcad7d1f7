"""Results JSON shared by every suite (schema in docs/evaluation.md).

Every results file is one JSON object with at least::

    {"suite": "recall", "schema_version": 1, "title": "...", "command": "lsswm eval ...",
     "created": "2025-...Z", "environment": {...}, "settings": {...},
     "tables": [{"title", "columns", "rows"}], "plots": ["x.png"], "videos": ["x.mp4"],
     "notes": ["..."], ...suite-specific fields}

Paths in ``plots`` and ``videos`` are relative to the JSON file's folder. ``lsswm report``
reads any JSON with a ``"suite"`` field, so other suites (navigation) follow the same keys.
Numbers that are not finite are written as null: the files are standard JSON.
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

from lsswm.eval.errors import EvalError

SCHEMA_VERSION = 1
RESULTS_SUFFIX = ".json"
# Notes that start with this are warnings about the evaluation itself (the report flags them).
TRAINING_DATA_WARNING = "warning: evaluated on training data:"


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


def overlaps_training(overlap: dict[str, Any] | None) -> bool:
    """Whether a model record's ``seed_overlap`` says the evaluation saw its training worlds."""
    return bool(overlap) and bool(
        overlap.get("same_dataset") or overlap.get("overlapping_episodes")
    )


def seed_overlap_note(name: str, overlap: dict[str, Any] | None) -> str | None:
    """The warning for ``notes`` when model ``name`` was evaluated on its own training data
    (``overlap`` is a model record's ``seed_overlap``), else None."""
    if not overlaps_training(overlap):
        return None
    assert overlap is not None
    first, last = overlap.get("training_seeds") or (None, None)
    if overlap.get("same_dataset"):
        what = "the evaluation episodes come from that same dataset"
    else:
        what = f"{overlap['overlapping_episodes']} evaluation episode(s) use seeds from that range"
    return (
        f"{TRAINING_DATA_WARNING} {name} was trained on {overlap.get('training_data')} "
        f"(seeds {first}..{last}); {what}: these are not held-out worlds. Use --seed-base "
        "outside the training range or a held-out dataset."
    )


def seed_overlap_notes(records: list[dict[str, Any]]) -> list[str]:
    """One ``seed_overlap_note`` per model record that was evaluated on its training data."""
    notes = [seed_overlap_note(r.get("name", "?"), r.get("seed_overlap")) for r in records]
    return [note for note in notes if note]


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


def read_results(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise EvalError(f"{path} is not a readable results JSON ({error})") from error
    if not isinstance(data, dict) or "suite" not in data:
        raise EvalError(f"{path} has no 'suite' field; it is not an lsswm results file")
    return data


def find_results(paths: list[str | Path]) -> list[Path]:
    """Results JSON files among ``paths`` (files, or folders searched recursively)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            for candidate in sorted(path.rglob(f"*{RESULTS_SUFFIX}")):
                if _has_suite(candidate):
                    found.append(candidate)
        else:
            raise EvalError(f"{path} does not exist; pass result JSON files or run folders")
    unique: list[Path] = []
    for path in found:
        if path.resolve() not in {p.resolve() for p in unique}:
            unique.append(path)
    return unique


def _has_suite(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
        return '"suite"' in head and isinstance(json.loads(path.read_text("utf-8")), dict)
    except (OSError, ValueError):
        return False
