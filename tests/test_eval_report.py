"""`lsswm report`: results JSON of any suite into one Markdown page."""

from __future__ import annotations

import json

import pytest

from lsswm.cli.main import main
from lsswm.eval.errors import EvalError
from lsswm.eval.report import build_report
from lsswm.eval.results import new_results, read_results, write_results
from lsswm.eval.tables import make_table, markdown_table, text_table


def recall_results(protocol: str, psnr: dict[str, float]) -> dict:
    results = new_results("recall", f"Recall ({protocol})", {"episodes": 2})
    results["protocol"] = protocol
    results["models"] = [
        {"name": name, "variant": name, "overall": {"psnr": value, "ssim": 0.5, "lpips": None}}
        for name, value in psnr.items()
    ]
    results["tables"] = [
        make_table("Recall", ["model", "PSNR ↑"], [[n, v] for n, v in psnr.items()])
    ]
    results["plots"] = ["recall_psnr.png"]
    results["videos"] = ["videos/ep.mp4"]
    results["notes"] = ["LPIPS skipped: no weights"]
    return results


def test_report_gathers_known_and_unknown_suites(tmp_path):
    runs = tmp_path / "runs"
    write_results(
        runs / "a" / "recall_retrieval.json",
        recall_results("retrieval", {"hybrid": 30.5, "causal-window": 21.25}),
    )
    write_results(
        runs / "a" / "recall_reasoning.json", recall_results("reasoning", {"hybrid": 27.0})
    )
    (runs / "a" / "recall_psnr.png").write_bytes(b"png")
    navigation = new_results("navigation", "Navigation on 9x9", {})
    navigation["tables"] = [make_table("Score", ["agent", "mean"], [["oracle", 33.5]])]
    write_results(runs / "nav" / "navigation.json", navigation)
    # A suite this report has never heard of, without tables: its top-level numbers show.
    (runs / "other").mkdir()
    (runs / "other" / "thing.json").write_text(json.dumps({"suite": "mystery", "score": 0.25}))
    (runs / "other" / "config.json").write_text(json.dumps({"not": "results"}))

    text, count = build_report([runs], tmp_path / "out" / "report.md", "My report")
    assert count == 4
    assert text.startswith("# My report")
    # At a glance: both protocols side by side, models as rows.
    glance = text[text.index("**Recall at a glance**") :]
    assert "| retrieval SSIM ↑ | LPIPS ↓ | PSNR ↑ | reasoning SSIM ↑ |" in glance
    assert "| hybrid | 0.500 | - | 30.50 | 0.500 | - | 27.00 |" in glance
    assert "| causal-window | 0.500 | - | 21.25 | - | - | - |" in glance
    assert "Paper reference" in text
    # Sections in suite order, plots and videos relative to the report.
    assert text.index("## Recall") < text.index("## Navigation on 9x9") < text.index("## mystery")
    assert "![recall_psnr](../runs/a/recall_psnr.png)" in text
    assert "[ep](../runs/a/videos/ep.mp4)" in text
    assert "> LPIPS skipped: no weights" in text
    assert "| oracle | 33.50 |" in text
    assert "| score | 0.250 |" in text


def test_report_command_writes_markdown(tmp_path, capsys):
    write_results(tmp_path / "r.json", recall_results("retrieval", {"hybrid": 30.0}))
    out = tmp_path / "report.md"
    assert main(["report", str(tmp_path / "r.json"), "--out", str(out)]) == 0
    assert "## Recall (retrieval)" in out.read_text()
    assert "1 result files" in capsys.readouterr().out


def test_report_without_results_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(EvalError, match="no results JSON"):
        build_report([tmp_path], tmp_path / "report.md", "t")
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_results_are_standard_json_and_tables_render(tmp_path):
    results = new_results("scaling", "t", {})
    results["value"] = float("nan")
    results["tables"] = [make_table("T", ["name", "x"], [["a", 1234567.0], ["b", None]])]
    path = write_results(tmp_path / "s.json", results)
    assert "NaN" not in path.read_text()
    assert read_results(path)["value"] is None
    assert "1,234,567" in text_table(results["tables"][0])
    assert "| b | - |" in markdown_table(results["tables"][0])
    with pytest.raises(ValueError):
        make_table("bad", ["a", "b"], [[1]])


def test_report_renders_train_in_imagination_results(tmp_path):
    from lsswm.agents.train_imagination import SUITE, results_header, summary_tables

    summary = results_header(SUITE, "Train in imagination (PPO inside m)", {}, "cpu")
    # One schema: the agents-side header has every key of the eval-side one.
    assert set(new_results("x", "t", {})) <= set(summary)
    summary["settings"] = {"algo": "ppo", "policy": "MlpPolicy", "timesteps": 64, "env_id": "E"}
    summary["training"] = {
        "seconds": 2.0,
        "imagined_steps_per_second": 32.0,
        "imagined_episode_return_recent_mean": None,
    }
    summary["real_env"] = {
        "score_name": "return",
        "seeds": [7, 8],
        "trained in imagination": {"scores": [1.0, 2.0], "mean": 1.5},
        "random": {"scores": [0.0, 1.0], "mean": 0.5},
    }
    summary["tables"] = summary_tables(summary)
    path = tmp_path / "run" / "train_in_imagination.json"
    path.parent.mkdir()
    path.write_text(json.dumps(summary))
    text, count = build_report([tmp_path], tmp_path / "report.md", "r")
    assert count == 1
    assert "## Train in imagination (PPO inside m)" in text
    assert "| trained in imagination | 1.500 | 2 |" in text
    assert "| random | 0.500 | 2 |" in text
    assert "| ppo | MlpPolicy | 64 | 2.000 | 32.00 | - |" in text
