"""``aimds eval``: how well the configured guard does on labelled JSONL files.

Input rows have the training-folder shape: ``{"text": ..., "label": 0|1, ...}`` (an optional
``role`` field says where the text came from). A text counts as caught when the verdict stops it
(review or block); AUC and recall at 1% FPR use the verdict's risk.
"""

from __future__ import annotations

import json
import time
from itertools import islice
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aimds.cli._common import EXIT_ERROR, ConfigOption, cli_errors, err_console
from aimds.train.corpus import read_rows as corpus_rows
from aimds.train.metrics import recall_at_fpr, roc_auc

MAX_ROWS_PER_FILE = 1_000_000


@dataclass
class FileResult:
    name: str
    labels: list[int] = field(default_factory=list)
    risks: list[float] = field(default_factory=list)
    stopped: list[bool] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        y = np.array(self.labels, dtype=np.int8)
        stopped = np.array(self.stopped, dtype=bool)
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "file": self.name,
            "n_attack": int((y == 1).sum()),
            "n_benign": int((y == 0).sum()),
            "catch_rate": _mean(stopped[y == 1]),
            "fpr": _mean(stopped[y == 0]),
            "auc": roc_auc(y, self.risks) if len(y) else None,
            "recall_at_1pct_fpr": recall_at_fpr(y, self.risks, 0.01) if (y == 0).any() and (y == 1).any() else None,
            "latency_ms_p50": float(np.percentile(lat, 50)),
            "latency_ms_p99": float(np.percentile(lat, 99)),
        }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size else None


def read_rows(path: Path, limit: int | None) -> list[dict[str, Any]]:
    return list(islice(corpus_rows(path), limit or MAX_ROWS_PER_FILE))


def evaluate(guard: Any, files: list[Path], limit: int | None = None, role: str | None = None,
             progress: Progress | None = None) -> list[FileResult]:
    results = []
    for path in files:
        rows = read_rows(path, limit)
        result = FileResult(path.name)
        task = progress.add_task(path.name, total=len(rows)) if progress else None
        for row in rows:
            started = time.perf_counter()
            verdict = guard.check(row["text"], role=role or row.get("role") or "user")
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.labels.append(int(row["label"]))
            result.risks.append(verdict.risk)
            result.stopped.append(verdict.action.stops)
            if progress is not None:
                progress.advance(task)
        results.append(result)
    return results


def eval_command(
    files: list[Path] = typer.Argument(..., help="JSONL files with text and label"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    roc: Optional[Path] = typer.Option(None, "--roc", help="write a ROC plot (PNG) here"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="at most this many rows per file"),
    role: Optional[str] = typer.Option(None, "--role", help="role for every row (else the row's role, else user)"),
    no_cache: bool = typer.Option(True, "--no-cache/--cache", help="measure without the decision cache"),
    config: Optional[str] = ConfigOption,
) -> None:
    """Per file: catch rate, false-positive rate, AUC, recall at 1% FPR and latency."""
    with cli_errors():
        from aimds.guard import Guard

        guard = Guard(config=config, **({"cache_size": 0} if no_cache else {}))
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err_console, transient=True, disable=as_json) as progress:
            results = evaluate(guard, files, limit, role, progress)
    summaries = [r.summary() for r in results]
    overall = _macro(summaries)
    if as_json:
        typer.echo(json.dumps({"files": summaries, "macro": overall}, indent=2))
    else:
        _print(summaries, overall)
    if roc is not None:
        _plot_roc(results, roc)


def _macro(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    def avg(key: str) -> float | None:
        values = [s[key] for s in summaries if s[key] is not None]
        return float(np.mean(values)) if values else None

    return {key: avg(key) for key in ("catch_rate", "fpr", "auc", "recall_at_1pct_fpr", "latency_ms_p50")}


def _fmt(value: float | None, percent: bool = True) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.1%}" if percent else f"{value:.3f}"


def _print(summaries: list[dict[str, Any]], overall: dict[str, Any]) -> None:
    table = Table("file", "attacks", "benign", "caught", "false pos.", "AUC", "recall@1%FPR", "p50 ms", "p99 ms")
    for s in summaries:
        table.add_row(s["file"], str(s["n_attack"]), str(s["n_benign"]), _fmt(s["catch_rate"]), _fmt(s["fpr"]),
                      _fmt(s["auc"], False), _fmt(s["recall_at_1pct_fpr"]), f"{s['latency_ms_p50']:.2f}",
                      f"{s['latency_ms_p99']:.2f}")
    table.add_row("mean over files", "", "", _fmt(overall["catch_rate"]), _fmt(overall["fpr"]),
                  _fmt(overall["auc"], False), _fmt(overall["recall_at_1pct_fpr"]), "", "", style="bold")
    Console().print(table)


def _plot_roc(results: list[FileResult], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        err_console.print("[red]error:[/red] --roc needs matplotlib (pip install 'aimds[plot]')")
        raise typer.Exit(EXIT_ERROR) from None
    fig, ax = plt.subplots(figsize=(6, 5))
    for r in results:
        y, s = np.array(r.labels), np.array(r.risks)
        if not ((y == 0).any() and (y == 1).any()):
            continue
        thresholds = np.unique(s)[::-1]
        tpr = [float(((s >= t) & (y == 1)).sum() / (y == 1).sum()) for t in thresholds]
        fpr = [float(((s >= t) & (y == 0)).sum() / (y == 0).sum()) for t in thresholds]
        ax.plot([0, *fpr, 1], [0, *tpr, 1], label=f"{r.name} (AUC {roc_auc(y, s):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("catch rate")
    ax.set_title("AIMDS ROC")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
