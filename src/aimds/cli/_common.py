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
