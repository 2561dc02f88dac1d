"""`benchfarm tokens`: API tokens per user or team, with a role (submit, operate, admin).

Runs on the farm host and talks to Redis through the composition root, not to the API: a
farm admin needs no token to make the first one. Only each token's SHA-256 is kept, so
``create`` prints the token once. Creating and revoking are audited (``<prefix>-audit``).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from benchfarm.access.tokens import Role
from benchfarm.cli.console import out, print_json
from benchfarm.cli.farm import audit, farm

app = typer.Typer(help="API tokens per user or team: create, list, revoke.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_ROLES = [Role.SUBMIT.value, Role.OPERATE.value, Role.ADMIN.value]


@app.command()
def create(
    user: Annotated[str, typer.Option("--user", help="Who holds it (a person or a CI system).")],
    team: Annotated[str, typer.Option("--team", help="The team whose jobs it reaches.")],
    role: Annotated[str, typer.Option("--role", help=f"One of {', '.join(_ROLES)}.")] = Role.SUBMIT.value,
    as_json: JsonOpt = False,
) -> None:
    """Make a token; it is printed this once (only its hash is kept)."""
    token, record = farm().tokens.create(user, team, role)
    audit("tokens.create", record.id, f"{record.user} of {record.team} as {record.role.value}")
    if as_json:
        print_json({**record.public(), "token": token})
        return
    out.print(f"token {record.id} for {record.user} of team {record.team} ({record.role.value}):")
    out.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every token issued, newest first, revoked ones included (never the tokens themselves)."""
    rows = [r.public() for r in farm().tokens.list()]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "user", "team", "role", "created", "revoked")
    for r in rows:
        table.add_row(r["id"], r["user"], r["team"], r["role"], r["created"], r["revoked"] or "-")
    out.print(table)


@app.command()
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id, as `tokens list` shows it.")],
           as_json: JsonOpt = False) -> None:
    """Revoke a token: the API answers 401 to it from now on."""
    record = farm().tokens.revoke(token_id)
    audit("tokens.revoke", record.id, f"{record.user} of {record.team}")
    print_json(record.public()) if as_json else out.print(f"token {record.id} of {record.user} revoked")
