"""`lsswm report`: the results JSON of every suite gathered into one Markdown page.

Any JSON with a ``"suite"`` field is taken (results.py). Known suites come in a fixed order
(recall, crafter-recall, navigation, scaling); unknown suites follow, rendered generically
from the common keys (title, command, tables, plots, videos, notes), or, without tables,
from their top-level numbers. Plots are embedded and videos linked with paths relative to
the report, so the page works wherever the folder is copied.
"""

from __future__ import annotations

import datetime
import os
import urllib.parse
from pathlib import Path
from typing import Any

from lsswm.eval.errors import EvalError
from lsswm.eval.results import (
    TRAINING_DATA_WARNING,
    find_results,
    overlaps_training,
    read_results,
)
from lsswm.eval.tables import markdown_table

SUITE_ORDER = ("recall", "crafter-recall", "navigation", "train-in-imagination", "scaling")
TRAINING_DATA_FLAG = "(⚠ evaluated on its training data)"
# The reference numbers (SSIM / LPIPS / PSNR) of Po et al., "Long-Context State-Space Video
# World Models" (ICCV 2025, arXiv 2505.20171), for orientation next to our numbers.
PAPER_REFERENCE = {
    "title": "Paper reference (Po et al. 2025, ~200M parameters, Memory Maze; not our runs)",
    "columns": ["model", "retrieval SSIM", "LPIPS", "PSNR", "reasoning SSIM", "LPIPS", "PSNR"],
    "rows": [
        ["causal attention, 192-frame context", 0.829, 0.147, 26.4, 0.839, 0.125, 27.1],
        ["Mamba2 (no local attention)", 0.747, 0.313, 20.4, 0.827, 0.150, 26.4],
        ["Mamba2 + frame-local attention", 0.735, 0.336, 19.3, 0.845, 0.113, 27.5],
        ["SSM + frame-local attention, block-wise", 0.898, 0.069, 30.8, 0.855, 0.099, 28.2],
        ["causal attention, full context", 0.914, 0.057, 32.6, 0.860, 0.089, 28.8],
    ],
}


def _relative(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _link(target: Path, start: Path) -> str:
    """A Markdown link target: the relative path, percent-encoded (spaces, parentheses and
    other characters that would end or break the link; slashes kept)."""
    return urllib.parse.quote(_relative(target, start), safe="/")


def _suite_rank(suite: str) -> int:
    return SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)


def _episode_source(results: dict[str, Any]) -> str:
    """What a recall run evaluated on, in a few words: its env (and seed base) or dataset."""
    episodes = results.get("episodes") or {}
    if episodes.get("data"):
        return f"data {episodes['data']}"
    if episodes.get("env_id"):
        seeds = episodes.get("seed_base")
        return f"env {episodes['env_id']}" + ("" if seeds is None else f" seeds {seeds}+")
    return "?"


def glance_table(
    recall_results: list[dict[str, Any]], sources: list[str] | None = None
) -> dict[str, Any] | None:
    """Models x protocols (SSIM / LPIPS / PSNR), gathered from every recall file.

    One row per (model name, checkpoint, evaluation episodes): the same checkpoint evaluated
    with both protocols on the same episodes shares a row; anything else gets its own row,
    so two runs that share a model name never hide each other. A model evaluated on its own
    training data is flagged in the row. ``sources`` (the results files, in the order of
    ``recall_results``) name the file when two rows would otherwise look the same."""
    protocols: list[str] = []
    rows_by_key: dict[tuple[str, ...], dict[str, Any]] = {}
    for index, results in enumerate(recall_results):
        protocol = results.get("protocol", "?")
        if protocol not in protocols:
            protocols.append(protocol)
        source = _episode_source(results)
        for model in results.get("models", []):
            key: tuple[str, ...] = (model["name"], str(model.get("checkpoint") or "?"), source)
            # The same key and protocol twice (a rerun): keep both, told apart by file.
            if protocol in rows_by_key.get(key, {}).get("cells", {}):
                where = sources[index] if sources else f"results file {index + 1}"
                key = (*key[:2], f"{source} ({where})")
            row = rows_by_key.setdefault(key, {"cells": {}, "flag": False})
            row["cells"][protocol] = model.get("overall", {})
            row["flag"] = row["flag"] or overlaps_training(model.get("seed_overlap"))
    if not rows_by_key:
        return None
    paper_order = ("retrieval", "reasoning")  # the paper's table order
    protocols.sort(key=lambda p: paper_order.index(p) if p in paper_order else len(paper_order))
    columns = ["model", "checkpoint", "suite (episodes)"]
    for protocol in protocols:
        columns += [f"{protocol} SSIM ↑", "LPIPS ↓", "PSNR ↑"]
    rows = []
    for (name, checkpoint, source), row_data in rows_by_key.items():
        label = f"{name} {TRAINING_DATA_FLAG}" if row_data["flag"] else name
        row: list[Any] = [label, checkpoint, f"recall: {source}"]
        for protocol in protocols:
            overall = row_data["cells"].get(protocol, {})
            row += [overall.get("ssim"), overall.get("lpips"), overall.get("psnr")]
        rows.append(row)
    return {"title": "Recall at a glance", "columns": columns, "rows": rows}


def render_results(results: dict[str, Any], source: Path, report_dir: Path) -> str:
    """One section: title, provenance, tables, plots, videos, notes."""
    lines = [f"## {results.get('title') or results['suite']}", ""]
    lines.append(f"Suite `{results['suite']}`, from `{_relative(source, report_dir)}`.")
    if results.get("created"):
        lines[-1] += f" Written {results['created']}."
    environment = results.get("environment") or {}
    if environment:
        described = ", ".join(
            f"{k} {v}" for k, v in environment.items() if v is not None and k != "platform"
        )
        lines.append(f"Machine: {described}.")
    if results.get("command"):
        lines += ["", "```bash", results["command"], "```"]
    tables = results.get("tables") or []
    if not tables:
        scalars = [
            [key, value]
            for key, value in results.items()
            if isinstance(value, (int, float, str, bool)) and key not in ("suite", "title")
        ]
        if scalars:
            tables = [{"title": "Values", "columns": ["field", "value"], "rows": scalars}]
    for table in tables:
        lines += ["", f"**{table.get('title', '')}**", "", markdown_table(table)]
    base = source.parent
    for plot in results.get("plots") or []:
        lines += ["", f"![{Path(plot).stem}]({_link(base / plot, report_dir)})"]
    videos = results.get("videos") or []
    if videos:
        links = ", ".join(f"[{Path(v).stem}]({_link(base / v, report_dir)})" for v in videos)
        lines += ["", f"Videos (ground truth | generated): {links}"]
    for note in results.get("notes") or []:
        if note.startswith(TRAINING_DATA_WARNING):
            note = "**⚠ Not held out:** " + note[len(TRAINING_DATA_WARNING) :].strip()
        lines += ["", f"> {note}"]
    lines.append("")
    return "\n".join(lines)


def build_report(inputs: list[str | Path], out: str | Path, title: str) -> tuple[str, int]:
    """The Markdown text and the number of results files it covers."""
    paths = find_results(list(inputs))
    if not paths:
        raise EvalError(
            f"no results JSON (a file with a 'suite' field) under {', '.join(map(str, inputs))}; "
            "run `lsswm eval recall ... --out DIR` first"
        )
    report_dir = Path(out).resolve().parent
    loaded = [(path, read_results(path)) for path in paths]
    loaded.sort(key=lambda item: (_suite_rank(item[1]["suite"]), str(item[0])))
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# {title}", "", f"Generated {now} from {len(loaded)} results file(s).", ""]
    suites = sorted({r["suite"] for _, r in loaded}, key=_suite_rank)
    lines.append("Contents: " + ", ".join(f"`{s}`" for s in suites) + ".")
    recall = [(p, r) for p, r in loaded if r["suite"] == "recall"]
    glance = glance_table(
        [r for _, r in recall], [_relative(p.resolve(), report_dir) for p, _ in recall]
    )
    if glance:
        lines += ["", f"**{glance['title']}**", "", markdown_table(glance)]
        lines += ["", f"*{PAPER_REFERENCE['title']}*", "", markdown_table(PAPER_REFERENCE)]
    lines.append("")
    for path, results in loaded:
        lines.append(render_results(results, path.resolve(), report_dir))
    return "\n".join(lines), len(loaded)


def write_report(inputs: list[str | Path], out: str | Path, title: str) -> tuple[Path, int]:
    text, count = build_report(inputs, out, title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out, count
