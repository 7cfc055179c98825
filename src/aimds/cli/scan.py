"""``aimds scan``: check one text and print the verdict."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from aimds.cli._common import EXIT_OK, EXIT_STOPPED, ConfigOption, cli_errors, read_input
from aimds.types import Action, Role, Verdict

_STYLE = {Action.ALLOW: "green", Action.SANITIZE: "cyan", Action.REVIEW: "yellow", Action.BLOCK: "bold red"}


def scan(
    text: Optional[str] = typer.Argument(None, help="text to check (else --file or stdin)"),
    file: Optional[str] = typer.Option(None, "--file", "-f", help="read the text from a file"),
    role: Role = typer.Option(Role.USER, "--role", "-r", help="where the text came from"),
    as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON"),
    config: Optional[str] = ConfigOption,
) -> None:
    """Check TEXT for manipulation. Exit 0: allowed or sanitized; 1: blocked or review; 2: error."""
    with cli_errors():
        from aimds.guard import Guard

        content = read_input(text, file)
        verdict = Guard(config=config).check(content, role=role)
    if as_json:
        typer.echo(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        _print(verdict)
    raise typer.Exit(EXIT_STOPPED if verdict.action.stops else EXIT_OK)


def _print(verdict: Verdict) -> None:
    console = Console()
    style = _STYLE[verdict.action]
    console.print(
        f"[{style}]{verdict.action.value.upper()}[/{style}]  risk {verdict.risk:.2f}  "
        f"({verdict.latency_ms:.2f} ms, role {verdict.role.value})"
    )
    if verdict.findings:
        table = Table(show_header=True, header_style="bold")
        for column in ("kind", "score", "detector", "where", "why"):
            table.add_column(column)
        for f in verdict.findings:
            where = f"{f.span.start}-{f.span.end}" if f.span else "-"
            table.add_row(f.kind.value, f"{f.score:.2f}", f.detector + (f" {f.rule_id}" if f.rule_id else ""), where, f.reason)
        console.print(table)
    if verdict.sanitized_text is not None:
        console.print("[cyan]sanitized text:[/cyan]")
        console.print(verdict.sanitized_text, markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
