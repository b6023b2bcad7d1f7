"""Entry point of the `lsswm` command.

The dispatcher sits above all six layers: it imports each subpackage's ``commands`` module
(cheap by contract) and builds one argparse tree from what they register.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lsswm.cli.registry import CommandRegistry

# Order is the data-flow order of the project; it is also the order in `lsswm --help`.
COMMAND_MODULES = (
    "lsswm.envs.commands",
    "lsswm.collect.commands",
    "lsswm.worldmodel.commands",
    "lsswm.worldmodel.train.commands",
    "lsswm.agents.commands",
    "lsswm.eval.commands",
    "lsswm.eval.navigation_commands",
    "lsswm.experiments.commands",
    "lsswm.cli.pipeline",
)


def build_registry() -> CommandRegistry:
    registry = CommandRegistry()
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # A subpackage without commands yet is fine; a broken import inside one is not.
            if error.name == module_name:
                continue
            raise
        module.register(registry)
    return registry


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, unless the help already names it or there
    is none to show (None, False switches, suppressed)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        hidden = default is None or default is False or default is argparse.SUPPRESS
        if "default" in text.lower() or hidden or not action.option_strings:
            return text
        return f"{text.strip()} (default: %(default)s)".strip()


def _show_every_default(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = DefaultsHelpFormatter
    for action in parser._actions:
        shown = action.default is not None and action.default is not False
        if action.help is None and action.option_strings and shown:
            action.help = "(default: %(default)s)"  # argparse shows no line without a help


def build_parser(registry: CommandRegistry) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsswm",
        description="Long-memory video world models: collect data, train, evaluate, plan.",
    )
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    group_parsers: dict[str, argparse._SubParsersAction] = {}
    for command in registry.commands:
        if command.group is None:
            sub = top.add_parser(command.name, help=command.help, description=command.help)
        else:
            if command.group not in group_parsers:
                group_help = registry.group_help.get(command.group, f"{command.group} commands")
                group_parser = top.add_parser(
                    command.group, help=group_help, description=group_help
                )
                group_parsers[command.group] = group_parser.add_subparsers(
                    dest=f"{command.group}_command", metavar="SUBCOMMAND", required=True
                )
            sub = group_parsers[command.group].add_parser(
                command.name, help=command.help, description=command.help
            )
        command.configure(sub)
        _show_every_default(sub)
        sub.set_defaults(_handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    registry = build_registry()
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    handler = getattr(args, "_handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        result = handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileExistsError, NotADirectoryError) as error:
        # An output folder (--out, --run-dir) given as the path of a file, or under one: every
        # command creates its folders with mkdir, so one message here covers them all.
        if os.environ.get("LSSWM_DEBUG"):
            raise
        print(
            f"lsswm: error: {error.filename} is a file where an output folder is needed; "
            "pass a folder path (--out / --run-dir) that is not a file, or move the file",
            file=sys.stderr,
        )
        return 2
    except Exception as error:
        # Bad input is reported as one clear line; anything else is a bug and keeps its
        # traceback. Each subpackage marks its input errors with `user_facing = True`
        # (set LSSWM_DEBUG=1 to see their tracebacks too).
        if not getattr(error, "user_facing", False) or os.environ.get("LSSWM_DEBUG"):
            raise
        print(f"lsswm: error: {error}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
