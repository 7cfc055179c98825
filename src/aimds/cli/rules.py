"""``aimds rules``: list the loaded signature rules and test a pack against its own examples."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from aimds.cli._common import EXIT_OK, EXIT_STOPPED, ConfigOption, cli_errors

rules_app = typer.Typer(help="Signature rule packs.", no_args_is_help=True)


@rules_app.command("test")
def test(
    packs: list[Path] = typer.Argument(..., help="rule pack YAML files"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show passing examples too"),
) -> None:
    """Compile each PACK and check every rule against its own match / no_match examples."""
    from aimds.detect.rulepack import load_pack
    from aimds.detect.signatures import check_examples

    console = Console()
    failures = total = 0
    with cli_errors():
        for path in packs:
            pack = load_pack(path)
            rows = check_examples(pack)
            bad = [r for r in rows if r[2] != r[3]]
            failures += len(bad)
            total += len(rows)
            console.print(f"[bold]{pack.name}[/bold] {pack.version}: {len(pack.rules)} rules, "
                          f"{len(rows) - len(bad)}/{len(rows)} examples pass")
            for rule_id, text, expected, matched in rows:
                if expected != matched or verbose:
                    mark = "[green]ok[/green]" if expected == matched else "[red]FAIL[/red]"
                    want = "should match" if expected else "should not match"
                    console.print(f"  {mark} {rule_id} {want}: {text!r}", highlight=False)
    console.print(f"{total - failures} passed, {failures} failed")
    raise typer.Exit(EXIT_STOPPED if failures else EXIT_OK)


@rules_app.command("list")
def list_rules(config: Optional[str] = ConfigOption) -> None:
    """List every loaded rule (shipped packs plus those in the rule_packs setting)."""
    from aimds.config import load_settings
    from aimds.detect.rulepack import load_packs

    with cli_errors():
        packs = load_packs(load_settings(config).rule_packs)
    table = Table("pack", "rule", "kind", "score", "reason")
    for pack in packs:
        for rule in pack.rules:
            table.add_row(f"{pack.name} {pack.version}", rule.id, rule.kind.value, f"{rule.score:.2f}", rule.reason)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(rules_app, name="rules")
