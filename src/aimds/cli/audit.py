"""``aimds audit``: verify the hash chain and export records as JSONL."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from aimds.errors import AimdsError

audit_app = typer.Typer(help="Inspect the audit trail.", no_args_is_help=True)


def _log():  # noqa: ANN202 - imports stay lazy so `aimds` starts without the server extra
    from aimds.audit import AuditLog
    from aimds.server.main import read_config
    from aimds.server.settings import load_server_settings
    from aimds.store.factory import open_store

    section, _ = read_config(os.environ.get("AIMDS_CONFIG"))
    settings = load_server_settings(section)
    return AuditLog(open_store(settings.store_location, data_dir=settings.data_dir))


@audit_app.command("verify")
def verify(
    file: Optional[Path] = typer.Option(None, "--file", help="verify a JSONL export instead of the store"),
    head: Optional[str] = typer.Option(None, help="SEQ:HASH noted earlier, to detect truncation"),
) -> None:
    """Check that no record was edited, dropped or reordered. Exit 0 intact, 1 broken, 2 error."""
    import orjson

    from aimds.audit import verify_records

    try:
        expect = None
        if head:
            seq, _, digest = head.partition(":")
            if not seq.isdigit() or len(digest) != 64:
                raise typer.BadParameter("--head must be SEQ:HASH (64 hex digits)")
            expect = (int(seq), digest)
        if file is not None:
            with file.open("rb") as fh:
                result = verify_records((orjson.loads(line) for line in fh if line.strip()), expect)
        else:
            result = _log().verify(expect)
    except (AimdsError, OSError, orjson.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if result.ok:
        typer.echo(f"ok: {result.records} records intact; head {result.head_seq}:{result.head_hash}")
        return
    typer.echo(f"BROKEN at record {result.bad_seq}: {result.problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("export")
def export(output: Optional[Path] = typer.Option(None, "-o", help="file to write (default stdout)")) -> None:
    """Write every record as one JSON object per line."""
    try:
        log = _log()
        if output is None:
            count = log.export_jsonl(sys.stdout.buffer)
        else:
            with output.open("wb") as fh:
                count = log.export_jsonl(fh)
    except (AimdsError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"exported {count} records", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
