"""``aimds train``: train model artifacts from a folder of labelled JSONL (needs the ``train`` extra).

``train_app`` is importable so other model trainers (``aimds train semantic``) add their command to it.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from aimds.cli._common import EXIT_ERROR, cli_errors, print_loso

train_app = typer.Typer(help="Train detector models from labelled JSONL files.", no_args_is_help=True)

DataOption = typer.Option(Path("../shared/datasets"), "--data", "-d", help="folder of *.jsonl training files")


@train_app.command("fast")
def fast(
    data: Path = DataOption,
    out: Path = typer.Option(Path("fast-model"), "--out", "-o", help="folder for the artifact, metrics and card"),
    seed: int = typer.Option(0, "--seed", help="seed for generation, windows and solver"),
) -> None:
    """Train the fast learned detector with leave-one-source-out validation and write its model card."""
    console = Console()
    if not data.is_dir():
        console.print(f"[red]error:[/red] data folder {data} not found", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    from aimds.train.fast import train_fast

    with cli_errors(), Progress(TextColumn("{task.description:<40}"), BarColumn(), TimeElapsedColumn(),
                                console=console, transient=False) as bar:
        task = bar.add_task("starting", total=1.0)
        result = train_fast(data, out, seed=seed,
                            progress=lambda stage, frac: bar.update(task, description=stage, completed=frac))
    print_loso(console, result, out)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
