"""The `aimds` command line. Each command group lives in its own module with a ``register(app)``.

Exit status everywhere: 0 allowed or sanitized, 1 blocked or sent to review, 2 error.
"""

from __future__ import annotations

from importlib import import_module

import typer

app = typer.Typer(
    name="aimds",
    help="AIMDS: detect prompt injection, jailbreaks and data exfiltration, offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One line per command module; each exposes register(app: typer.Typer) -> None.
COMMAND_MODULES: list[str] = [
    "aimds.cli.scan",
    "aimds.cli.rules",
    "aimds.cli.eval",
    "aimds.cli.serve",
    "aimds.cli.keys",
    "aimds.cli.audit",
    "aimds.cli.train",
    "aimds.cli.train_semantic",
    "aimds.cli.policy",
]

for _module in COMMAND_MODULES:
    import_module(_module).register(app)


def main() -> None:
    app()
