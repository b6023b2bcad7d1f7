"""Results JSON shared by every suite (schema in docs/evaluation.md).

Every results file is one JSON object with at least::

    {"suite": "recall", "schema_version": 1, "title": "...", "command": "lsswm eval ...",
     "created": "2025-...Z", "environment": {...}, "settings": {...},
     "tables": [{"title", "columns", "rows"}], "plots": ["x.png"], "videos": ["x.mp4"],
     "notes": ["..."], ...suite-specific fields}

Paths in ``plots`` and ``videos`` are relative to the JSON file's folder. ``lsswm report``
reads any JSON with a ``"suite"`` field, so other suites (navigation) follow the same keys.
Numbers that are not finite are written as null: the files are standard JSON.
``new_results`` and ``write_results`` come from ``lsswm.agents.results`` (the agents layer
writes results files too); this module adds reading, finding and the training-data notes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The header and the writer live one layer down, shared with the agents' suites.
from lsswm.agents.results import new_results, write_results  # noqa: F401 (re-exported)
from lsswm.eval.errors import EvalError

RESULTS_SUFFIX = ".json"
# Notes that start with this are warnings about the evaluation itself (the report flags them).
TRAINING_DATA_WARNING = "warning: evaluated on training data:"


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
