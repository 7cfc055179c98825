"""``aimds policy``: list, validate and check temporal agent policies against recorded traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from aimds.cli._common import EXIT_OK, EXIT_STOPPED, cli_errors

policy_app = typer.Typer(help="Temporal policies for agents.", no_args_is_help=True)


def _lists(values: list[str] | None) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for value in values or []:
        name, sep, items = value.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"--list wants NAME=a,b,c, got {value!r}")
        lists[name.strip()] = [item.strip() for item in items.split(",") if item.strip()]
    return lists


def _load(paths: list[Path], lists: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    from aimds.agents.policy import default_policies, load_policies

    return load_policies(paths, lists) if paths else default_policies(lists)


ListOption = typer.Option(None, "--list", "-l", help="override a named list: NAME=a,b,c (repeatable)")


@policy_app.command("check")
def check(
    policies: Path = typer.Argument(..., help="policy YAML file or directory ('default' for the shipped library)"),
    trace: Path = typer.Argument(..., help="JSONL trace, one event per line (or a JSON OpenAI message list)"),
    lists: Optional[list[str]] = ListOption,
    openai: bool = typer.Option(False, "--openai", help="TRACE is an OpenAI-style chat message list"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Check a recorded TRACE against POLICIES; exit 1 when any policy is violated."""
    from aimds.agents.check import check_trace
    from aimds.agents.events import from_openai_messages, read_trace
    from aimds.errors import InvalidInput

    with cli_errors():
        policy_set = _load([] if str(policies) == "default" else [policies], _lists(lists))
        if openai:
            try:
                messages = json.loads(trace.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{trace} is not JSON: {exc}") from None
            if not isinstance(messages, list):
                raise InvalidInput(f"{trace} must hold a JSON list of chat messages")
            events = from_openai_messages(messages, start_time=0.0)
        else:
            events = read_trace(trace)
        report = check_trace(policy_set, events)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = Console()
        console.print(f"{report.events} events in {report.sessions} sessions, {report.policies} policies")
        if report.violations:
            table = Table("policy", "severity", "action", "agent/session", "events")
            for v in report.violations:
                table.add_row(v.policy, v.severity, v.action, f"{v.agent_id}/{v.session_id}",
                              ", ".join(map(str, v.events)))
            console.print(table)
        else:
            console.print("[green]no violations[/green]")
    raise typer.Exit(EXIT_STOPPED if report.violations else EXIT_OK)


@policy_app.command("list")
def list_policies(
    policies: Optional[list[Path]] = typer.Argument(None, help="policy files or directories (default: shipped)"),
    lists: Optional[list[str]] = ListOption,
) -> None:
    """Show policies with their mode (runtime or offline), severity and action."""
    from aimds.agents.policy import describe

    with cli_errors():
        policy_set = _load(list(policies or []), _lists(lists))
    table = Table("name", "mode", "severity", "action", "description")
    for policy in policy_set.policies:
        row = describe(policy)
        table.add_row(row["name"], row["mode"], row["severity"], row["action"], row["description"][:80])
    Console().print(table)


@policy_app.command("validate")
def validate(
    policies: list[Path] = typer.Argument(..., help="policy files or directories"),
    lists: Optional[list[str]] = ListOption,
) -> None:
    """Parse and compile POLICIES; errors name the file, policy, line and column."""
    from aimds.agents.monitor import Monitor

    with cli_errors():
        policy_set = _load(list(policies), _lists(lists))
        Monitor(policy_set.runtime)
    typer.echo(f"ok: {len(policy_set.runtime)} runtime and {len(policy_set.offline)} offline policies")


def register(app: typer.Typer) -> None:
    app.add_typer(policy_app, name="policy")
