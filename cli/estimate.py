"""The one-line time estimate that long commands print when they start.

    collect: this will take about 3 min on 2 CPU cores (16000 env steps at ~0.02 s/step on
    2 workers, assumed; + ~12 s set-up); for a quick look use --episodes 2 --steps 200

A command sums one or more :class:`Part` (units of work at a rate), each either measured on
this machine (a first step, a first chunk) or assumed (a documented per-unit rate of the
project's 2-core CPU, named where it is defined). Its progress bars then show the live ETA.

Like ``lsswm.cli.registry`` this is a dependency-free leaf (standard library only), so every
layer may import it without importing anything above itself (tests/test_cli.py checks both).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# Below this, the quick-look flags are not worth a mention.
QUICK_HINT_AFTER_S = 120.0


@dataclass(frozen=True)
class Part:
    """``count`` units (``unit``, plural, e.g. "env steps") at ``seconds_each``; ``parallel``
    of them at a time (worker processes). ``measured``: the rate was timed on this machine
    just now; otherwise it is a documented assumption."""

    count: float
    unit: str
    seconds_each: float
    measured: bool = False
    parallel: int = 1
    where: str = ""  # e.g. "on 2 workers"; shown after the rate
    per: str = ""  # the unit in "s/step"; default: the last word of ``unit``, singular

    @property
    def seconds(self) -> float:
        return max(0.0, self.count) * max(0.0, self.seconds_each) / max(1, self.parallel)

    def describe(self) -> str:
        per = self.per or (_singular(self.unit.split()[-1]) if self.unit else "unit")
        where = f" {self.where}" if self.where else ""
        how = "measured" if self.measured else "assumed"
        rate = f"~{_rate(self.seconds_each)}" if self.seconds_each >= 0.001 else "<0.001"
        return f"{_count(self.count)} {self.unit} at {rate} s/{per}{where}, {how}"


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 2.5 h', 'about 4 days': one rounded figure."""
    seconds = max(0.0, float(seconds))
    if seconds < 55:
        step = 1 if seconds < 10 else 5
        return f"about {max(1, round(seconds / step) * step)} s"
    minutes = seconds / 60
    if minutes < 99.5:
        return f"about {max(1, round(minutes))} min"
    hours = minutes / 60
    if hours < 9.95:
        return f"about {hours:.1f} h"
    if hours < 47.5:
        return f"about {round(hours)} h"
    return f"about {round(hours / 24)} days"


def estimate_seconds(parts: Sequence[Part], overhead_s: float = 0.0) -> float:
    return max(0.0, overhead_s) + sum(part.seconds for part in parts)


def estimate_line(
    parts: Sequence[Part],
    *,
    overhead_s: float = 0.0,
    quick: str | None = None,
    label: str | None = None,
    remaining: bool = False,
    machine: str | None = None,
) -> str:
    """The estimate as one line (see the module docstring). ``overhead_s``: fixed seconds
    (start-up) on top of the parts; ``quick``: flags for a laptop-sized run, shown when the
    estimate exceeds QUICK_HINT_AFTER_S; ``remaining``: say "the rest will take" (a
    measurement taken after the start); ``machine``: what assumed rates hold for (default
    "on 2 CPU cores", the project's documented machine; "on this machine" when a part was
    measured here)."""
    total = estimate_seconds(parts, overhead_s)
    if machine is None:
        measured = any(part.measured for part in parts)
        machine = "on this machine" if measured else "on 2 CPU cores"
    details = "; ".join(part.describe() for part in parts)
    if overhead_s >= 1:
        details += f"; + ~{round(overhead_s)} s set-up"
    verb = "the rest will take" if remaining else "this will take"
    line = f"{verb} {format_duration(total)} {machine} ({details})"
    if quick and total > QUICK_HINT_AFTER_S:
        line += f"; for a quick look use {quick}"
    return f"{label}: {line}" if label else line


def print_estimate(
    parts: Sequence[Part],
    *,
    overhead_s: float = 0.0,
    write: Callable[[str], None] | None = None,
    **line_options: Any,
) -> float:
    """Print the estimate line (estimate_line's options: quick, label, remaining, machine) to
    stderr, or through ``write`` (e.g. ``tqdm.write`` while a bar is on screen); return the
    estimated seconds."""
    _emit(estimate_line(parts, overhead_s=overhead_s, **line_options), write)
    return estimate_seconds(parts, overhead_s)


def print_no_estimate(
    count: float,
    unit: str,
    why: str,
    *,
    quick: str | None = None,
    label: str | None = None,
    write: Callable[[str], None] | None = None,
) -> None:
    """The line for work whose rate is unknown (``why``, e.g. "no documented rate for the
    small preset on cpu"): its size, and that the progress bar's ETA is the estimate."""
    line = (
        f"{_count(count)} {unit} to run; {why}, so no estimate up front: the progress bar "
        "shows the ETA after the first ones"
    )
    if quick:
        line += f"; for a quick look use {quick}"
    _emit(f"{label}: {line}" if label else line, write)


def _emit(line: str, write: Callable[[str], None] | None) -> None:
    if write is None:
        print(line, file=sys.stderr, flush=True)
    else:
        write(line)


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _count(count: float) -> str:
    return str(round(count)) if float(count).is_integer() or count >= 10 else f"{count:.1f}"


def _rate(seconds: float) -> str:
    if seconds >= 10:
        return f"{seconds:.0f}"
    return f"{seconds:.2g}"
