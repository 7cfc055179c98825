"""``aimds keys``: create, list and revoke API keys in the configured store."""

from __future__ import annotations

import os

import typer

from aimds.errors import AimdsError

keys_app = typer.Typer(help="Manage API keys (stored only as salted hashes).", no_args_is_help=True)


def _ring():  # noqa: ANN202 - imports stay lazy so `aimds` starts without the server extra
    from aimds.auth import KeyRing
    from aimds.server.main import read_config
    from aimds.server.settings import load_server_settings
    from aimds.store.factory import open_store

    section, _ = read_config(os.environ.get("AIMDS_CONFIG"))
    settings = load_server_settings(section)
    return KeyRing(open_store(settings.store_location, data_dir=settings.data_dir))


@keys_app.command("create")
def create(
    role: str = typer.Option(..., help="checker, auditor or admin"),
    name: str = typer.Option("", help="a label to recognise the key by"),
) -> None:
    """Create a key and print it once; it cannot be shown again."""
    if role not in ("checker", "auditor", "admin"):
        typer.echo("error: --role must be checker, auditor or admin", err=True)
        raise typer.Exit(2)
    try:
        key, record = _ring().create(role, name)
    except AimdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created key {record['id']} with role {record['role']}; it is shown only once:")
    typer.echo(key)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="the key id (the part after 'aimds_')")) -> None:
    """Revoke a key; every instance sharing the store refuses it from the next request."""
    try:
        done = _ring().revoke(key_id)
    except AimdsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not done:
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def list_keys(show_revoked: bool = typer.Option(False, "--all", help="include revoked keys")) -> None:
    """List keys (ids, roles, names; never secrets)."""
    for record in _ring().list():
        if record["revoked"] and not show_revoked:
            continue
        state = "revoked" if record["revoked"] else "active"
        typer.echo(f"{record['id']}\t{record['role']}\t{state}\t{record['name']}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
