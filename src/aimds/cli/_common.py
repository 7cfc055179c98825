"""Helpers shared by command modules: building a Guard from CLI options, errors as exit code 2."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console

from aimds.errors import AimdsError

EXIT_OK, EXIT_STOPPED, EXIT_ERROR = 0, 1, 2

err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", "-c", help="YAML settings file (else AIMDS_CONFIG)")


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn library errors into a one-line message and exit status 2."""
    try:
        yield
    except AimdsError as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None
    except (OSError, typer.BadParameter) as exc:
        err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(EXIT_ERROR) from None


def read_input(text: str | None, file: str | None) -> str:
    if text is not None and file is not None:
        raise typer.BadParameter("give TEXT or --file, not both")
    if file is not None:
        with open(file, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read()
    if text is not None:
        return text
    if sys.stdin.isatty():
        raise typer.BadParameter("give TEXT, --file, or pipe text on stdin")
    return sys.stdin.read()


def print_loso(console: Console, result: dict, out: object) -> None:
    """The leave-one-source-out table a training run reports (with the indirect-injection column
    when the trainer measured it), then the means and where the artifact went."""
    from rich.table import Table

    indirect = any("indirect_catch_rate" in v for v in result["loso"].values())
    table = Table(title="leave-one-source-out (review threshold)")
    for col in ("family", "attacks", "catch", "benign", "FPR") + (("indirect catch",) if indirect else ()):
        table.add_column(col)
    for family, v in result["loso"].items():
        row = [family, str(v["n_attack"]), _pct(v["catch_rate"] if v["n_attack"] else None), str(v["n_benign"]),
               _pct(v["fpr"] if v["n_benign"] else None)]
        table.add_row(*row, *((_pct(v.get("indirect_catch_rate")),) if indirect else ()))
    console.print(table)
    console.print(f"mean catch {_pct(result['loso_mean_catch_rate'])}, mean FPR {_pct(result['loso_mean_fpr'])}, "
                  f"wide-benign FPR {_pct(result['wide_benign_fpr'])}; written to {out}")


def _pct(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{100 * x:.1f}%"
