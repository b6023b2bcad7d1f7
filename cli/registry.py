"""A tiny command registry so each subpackage owns its own subcommands.

Every subpackage has a ``commands`` module with ``register(registry)``. Registration must be
cheap (no torch / mujoco imports): handlers import their heavy modules when they run, so
``lsswm --help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

Handler = Callable[[argparse.Namespace], int | None]
Configure = Callable[[argparse.ArgumentParser], None]


@dataclass
class Command:
    name: str
    help: str
    configure: Configure
    run: Handler
    group: str | None = None  # e.g. "bench", "data", "eval": nested under `lsswm <group> <name>`


@dataclass
class CommandRegistry:
    commands: list[Command] = field(default_factory=list)
    group_help: dict[str, str] = field(default_factory=dict)

    def add(
        self,
        name: str,
        help: str,
        configure: Configure,
        run: Handler,
        group: str | None = None,
    ) -> None:
        for existing in self.commands:
            if existing.name == name and existing.group == group:
                where = f"{group} {name}" if group else name
                raise ValueError(f"command 'lsswm {where}' registered twice")
        self.commands.append(Command(name, help, configure, run, group))

    def describe_group(self, group: str, help: str) -> None:
        self.group_help.setdefault(group, help)
