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
        {
            "name": name,
            "checkpoint": f"runs/{name}",
            "variant": name,
            "overall": {"psnr": value, "ssim": 0.5, "lpips": None},
        }
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
    assert "| hybrid | runs/hybrid | recall: ? | 0.500 | - | 30.50 | 0.500 | - | 27.00 |" in glance
    assert (
        "| causal-window | runs/causal-window | recall: ? | 0.500 | - | 21.25 | - | - | - |"
        in glance
    )
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


def test_glance_keeps_every_model_that_shares_a_name(tmp_path):
    """Two runs named "hybrid" (different checkpoints, or the same one on other episodes,
    or a rerun) each keep their row, told apart by checkpoint and episodes."""
    first = recall_results("retrieval", {"hybrid": 30.0})
    first["episodes"] = {"env_id": "lsswm/MemoryMaze-9x9-v0", "seed_base": 1000}
    second = recall_results("retrieval", {"hybrid": 20.0})
    second["models"][0]["checkpoint"] = "other/hybrid"
    second["episodes"] = first["episodes"]
    third = recall_results("retrieval", {"hybrid": 25.0})
    third["episodes"] = {"data": "data/held-out"}
    rerun = recall_results("retrieval", {"hybrid": 26.0})
    rerun["episodes"] = first["episodes"]
    for name, results in (("a", first), ("b", second), ("c", third), ("d", rerun)):
        write_results(tmp_path / name / "recall_retrieval.json", results)
    text, _ = build_report([tmp_path], tmp_path / "report.md", "r")
    glance = text[text.index("**Recall at a glance**") : text.index("Paper reference")]
    rows = [line for line in glance.splitlines() if line.startswith("| hybrid")]
    assert len(rows) == 4
    assert len(set(rows)) == 4
    assert any("runs/hybrid | recall: env lsswm/MemoryMaze-9x9-v0 seeds 1000+ |" in r for r in rows)
    assert any("other/hybrid" in r and "20.00" in r for r in rows)
    assert any("recall: data data/held-out" in r and "25.00" in r for r in rows)
    assert any("d/recall_retrieval.json" in r and "26.00" in r for r in rows)


def test_report_links_survive_spaces_in_paths(tmp_path):
    folder = tmp_path / "my runs" / "eval (1)"
    results = recall_results("retrieval", {"hybrid": 30.0})
    results["plots"] = ["psnr vs distance.png"]
    results["videos"] = ["videos/ep 0.mp4"]
    write_results(folder / "recall_retrieval.json", results)
    text, _ = build_report([tmp_path], tmp_path / "report.md", "r")
    assert "![psnr vs distance](my%20runs/eval%20%281%29/psnr%20vs%20distance.png)" in text
    assert "[ep 0](my%20runs/eval%20%281%29/videos/ep%200.mp4)" in text


def test_report_renders_train_in_imagination_results(tmp_path):
    from lsswm.agents.results import new_results as agents_new_results
    from lsswm.agents.train_imagination import SUITE, summary_tables

    summary = agents_new_results(SUITE, "Train in imagination (PPO inside m)", {}, "cpu")
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


def test_distance_plot_draws_points_with_intervals_not_lines(tmp_path, monkeypatch):
    from lsswm.eval import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda figure, path: figures.append(figure) or path)

    def row(label, count, psnr, std):
        return {"label": label, "hi": None, "count": count, "psnr": psnr, "psnr_std": std}

    rows = [row("1-10", 4, 20.0, 2.0), row("11-25", 0, None, None), row("26-50", 1, 18.0, 0.0)]
    rows.append(row("unseen", 3, 10.0, 1.0))
    plots.plot_metric_vs_distance({"hybrid": rows}, "psnr", tmp_path / "p.png", "t")
    (axis,) = figures[0].axes
    data_lines = [line for line in axis.lines if len(line.get_xdata()) > 1]
    assert data_lines, "the points are drawn"
    # No line joins the filled bins across the empty one.
    assert all(line.get_linestyle() in ("None", "none", "") for line in data_lines)
    assert list(data_lines[0].get_xdata()) == [0, 2]
    # A 95% interval on the bin with a spread and 4 frames: 1.96 * 2 / sqrt(4).
    assert plots.confidence_95(rows[0], "psnr") == pytest.approx((1.96, 1.96))
    assert plots.confidence_95(rows[2], "psnr") is None  # one frame: no interval
    assert axis.collections, "error bars are drawn"
