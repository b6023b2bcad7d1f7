"""The start-of-run time estimate (lsswm.cli.estimate) and the long commands that print it."""

from __future__ import annotations

import re

import pytest

from lsswm.cli.estimate import (
    QUICK_HINT_AFTER_S,
    Part,
    estimate_line,
    format_duration,
    print_estimate,
)

TOY = "lsswm.collect.toy_env:lsswm-toy/ToyGrid-v0"
DURATION = re.compile(r"about \d+(\.\d)? (s|min|h|days) ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.3, "about 1 s"),
        (7.4, "about 7 s"),
        (42, "about 40 s"),
        (100, "about 2 min"),
        (45 * 60, "about 45 min"),
        (2.5 * 3600, "about 2.5 h"),
        (30 * 3600, "about 30 h"),
        (5 * 86400, "about 5 days"),
    ],
)
def test_durations_read_as_one_rounded_figure(seconds, text):
    assert format_duration(seconds) == text


def test_the_line_sums_its_parts_and_names_each_rate():
    parts = [
        Part(16000, "env steps", 0.02, parallel=2, where="on 2 workers"),
        Part(3, "models to score", 100, measured=True, per="model"),
    ]
    line = estimate_line(parts, overhead_s=12, quick="--episodes 2", label="collect")
    # 16000 * 0.02 / 2 + 3 * 100 + 12 = 472 s
    assert line == (
        "collect: this will take about 8 min on this machine (16000 env steps at ~0.02 s/step "
        "on 2 workers, assumed; 3 models to score at ~100 s/model, measured; + ~12 s set-up); "
        "for a quick look use --episodes 2"
    )


def test_assumed_rates_say_which_machine_and_short_runs_get_no_quick_hint(capsys):
    seconds = print_estimate([Part(30, "steps", 1.0)], quick="--steps 5", label="x")
    assert seconds == 30 < QUICK_HINT_AFTER_S
    err = capsys.readouterr().err
    assert err == "x: this will take about 30 s on 2 CPU cores (30 steps at ~1 s/step, assumed)\n"
