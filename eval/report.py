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
from pathlib import Path
from typing import Any

from lsswm.eval.errors import EvalError
from lsswm.eval.results import find_results, read_results
from lsswm.eval.tables import markdown_table

SUITE_ORDER = ("recall", "crafter-recall", "navigation", "scaling")
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


def _suite_rank(suite: str) -> int:
    return SUITE_ORDER.index(suite) if suite in SUITE_ORDER else len(SUITE_ORDER)


def glance_table(recall_results: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Models x protocols (SSIM / LPIPS / PSNR), gathered from every recall file."""
    protocols: list[str] = []
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for results in recall_results:
        protocol = results.get("protocol", "?")
        if protocol not in protocols:
            protocols.append(protocol)
        for model in results.get("models", []):
            cells.setdefault(model["name"], {})[protocol] = model.get("overall", {})
    if not cells:
        return None
    paper_order = ("retrieval", "reasoning")  # the paper's table order
    protocols.sort(key=lambda p: paper_order.index(p) if p in paper_order else len(paper_order))
    columns = ["model"]
    for protocol in protocols:
        columns += [f"{protocol} SSIM ↑", "LPIPS ↓", "PSNR ↑"]
    rows = []
    for name, by_protocol in cells.items():
        row: list[Any] = [name]
        for protocol in protocols:
            overall = by_protocol.get(protocol, {})
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
        lines += ["", f"![{Path(plot).stem}]({_relative(base / plot, report_dir)})"]
    videos = results.get("videos") or []
    if videos:
        links = ", ".join(f"[{Path(v).stem}]({_relative(base / v, report_dir)})" for v in videos)
        lines += ["", f"Videos (ground truth | generated): {links}"]
    for note in results.get("notes") or []:
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
    glance = glance_table([r for _, r in loaded if r["suite"] == "recall"])
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
