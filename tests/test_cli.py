"""The console command and the package layout: one namespace, subcommands from each layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lsswm.cli.main import build_parser, build_registry, main

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("envs", "collect", "worldmodel", "agents", "eval", "experiments")
CLI_LEAVES = ("lsswm.cli.registry", "lsswm.cli.estimate")


def test_subpackages_import_from_their_folders():
    import importlib

    for layer in LAYERS:
        module = importlib.import_module(f"lsswm.{layer}")
        assert Path(module.__file__).resolve().parent == REPO / layer


def test_lower_layers_never_import_higher_ones():
    # Data flows envs -> collect -> worldmodel -> agents -> eval -> experiments; a module may
    # import its own layer and the ones before it, never one after it. The exceptions are
    # the dependency-free leaves of cli/ (CLI_LEAVES): `lsswm.cli.registry`, which every
    # layer's commands.py registers into, and `lsswm.cli.estimate`, the start-of-run time
    # estimate. Subpackages (worldmodel/train/) belong to their folder's layer.
    import ast

    for index, layer in enumerate(LAYERS):
        forbidden = {f"lsswm.{higher}" for higher in LAYERS[index + 1 :]} | {"lsswm.cli"}
        for path in (REPO / layer).rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    if name in CLI_LEAVES:
                        continue
                    top = ".".join(name.split(".")[:2])
                    assert top not in forbidden, f"{path.relative_to(REPO)} imports {name}"


def test_the_cli_leaves_import_only_the_standard_library():
    # What makes them safe to import from every layer: they pull in nothing of the project
    # (and nothing heavy).
    import ast

    for leaf in CLI_LEAVES:
        path = REPO / "cli" / f"{leaf.rsplit('.', 1)[-1]}.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (path.name, name)


def test_the_model_never_imports_its_training():
    # worldmodel/ is the model; worldmodel/train/ trains it and may import it, never the reverse.
    import ast

    for path in (REPO / "worldmodel").glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("lsswm.worldmodel.train"), path.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("lsswm.worldmodel.train"), path.name


def test_help_lists_every_registered_command(capsys):
    registry = build_registry()
    parser = build_parser(registry)
    help_text = parser.format_help()
    top_level = {c.group or c.name for c in registry.commands}
    for name in top_level:
        assert name in help_text
    assert "demo" in top_level


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: lsswm" in capsys.readouterr().out


def test_user_facing_errors_are_one_line(capsys, monkeypatch):
    class BadInput(ValueError):
        user_facing = True

    def handler(args):
        raise BadInput("no such thing; use another")

    registry = build_registry()
    registry.add("explode", "test", lambda p: None, handler)
    monkeypatch.setattr("lsswm.cli.main.build_registry", lambda: registry)
    assert main(["explode"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "lsswm: error: no such thing; use another"


def test_bugs_keep_their_traceback(monkeypatch):
    registry = build_registry()
    registry.add("crash", "test", lambda p: None, lambda a: 1 / 0)
    monkeypatch.setattr("lsswm.cli.main.build_registry", lambda: registry)
    with pytest.raises(ZeroDivisionError):
        main(["crash"])


def test_console_script_runs():
    exe = Path(sys.executable).with_name("lsswm")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: lsswm" in result.stdout


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped-models", "tiny-fallback"])
def test_every_demo_stage_is_a_valid_lsswm_command(shipped, tmp_path):
    # The demo is a list of ordinary subcommands: a renamed command or flag must fail here,
    # not in front of a user; with the shipped checkpoints and without them.
    import argparse

    from lsswm.cli.pipeline import PRETRAINED, demo_stages

    parser = build_parser(build_registry())
    pretrained = str(Path(__file__).parents[1] / PRETRAINED) if shipped else str(tmp_path)
    options = argparse.Namespace(
        out="runs/x", episodes=2, steps=50, workers=1, train_steps=3, pretrained=pretrained
    )
    stages = demo_stages(options)
    commands = " ".join(" ".join(argv) for _, argv in stages)
    assert ("hybrid-target.safetensors" in commands) is shipped
    assert ("hybrid-pose.safetensors" in commands) is shipped
    assert stages[0][0] == "collect"
    for _, argv in stages:
        parsed = parser.parse_args(argv)
        assert parsed._handler is not None


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    argv = f"demo --out {out} --episodes 2 --steps 60 --workers 1 --train-steps 4"
    code = main(argv.split())
    assert code == 0
    assert (out / "report.md").read_text().startswith("# lsswm evaluation report")
    assert (out / "hybrid" / "world_model.safetensors").exists()
    assert any(out.glob("episodes.*"))


def test_every_option_with_a_default_shows_it_in_help():
    """--help shows each option's default (issue: --workers, --episodes, the planner and PPO
    options hid theirs)."""
    import argparse

    from lsswm.cli.main import build_parser, build_registry

    parser = build_parser(build_registry())
    missing = []

    def walk(p: argparse.ArgumentParser) -> None:
        text = "".join(p.format_help().split())  # unwrapped (wraps may split at hyphens)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    walk(sub)
                continue
            default = action.default
            if not action.option_strings or default in (None, argparse.SUPPRESS):
                continue
            if default is False or action.help == argparse.SUPPRESS:
                continue
            shown = "".join(str(default).split())
            if shown not in text and "default" not in (action.help or "").lower():
                missing.append(f"{p.prog} {action.option_strings[0]}")

    walk(parser)
    assert missing == []
    navigation = parser.parse_args(["eval", "navigation", "--agent", "random"])
    assert navigation.episodes == 5


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "DATA", "--preset", "tiny", "--run-dir", "FILE"],
        [
            "eval",
            "navigation",
            "--agent",
            "random",
            "--episodes",
            "1",
            "--max-steps",
            "3",
            "--out",
            "FILE",
        ],
        ["experiment", "memory-synthetic", "--budget", "smoke", "--out", "FILE"],
    ],
    ids=["train", "eval-navigation", "experiment"],
)
def test_an_output_folder_that_is_a_file_is_one_clear_error(argv, tmp_path, capsys):
    from lsswm.cli.main import main
    from lsswm.worldmodel.train.synthetic import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", episodes=2, steps=12)
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    argv = [str(data) if a == "DATA" else str(blocker) if a == "FILE" else a for a in argv]
    assert main(argv) == 2
    assert "is a file where an output folder is needed" in capsys.readouterr().err
    assert blocker.read_text() == "keep me"  # nothing lost
