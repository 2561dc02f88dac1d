"""Team rules shared by the resources a team owns (campaigns, schedules): who sees one, who changes it.

A submit token sees its own team's and public ones and changes its own team's; operate and admin tokens
reach every team's, and their change of another team's is audited.
"""

from __future__ import annotations

from benchfarm.access.audit import AuditLog
from benchfarm.access.tokens import Principal
from benchfarm.errors import ForbiddenError


def visible_to(caller: Principal, team: str | None, visibility: str) -> bool:
    """Whether ``caller`` may see a resource of ``team`` with ``visibility``."""
    return caller.sees_all_teams() or visibility == "public" or team in (None, caller.team)


def require_own_team_or_operator(audit: AuditLog, caller: Principal, *, kind: str, item_id: str, team: str | None,
                                 verb: str, action: str, path: str) -> None:
    """Refuse (403) a change of another team's ``kind`` unless ``caller`` is an operator; audit the operator's.

    Raises:
        ForbiddenError: the resource is another team's and the caller is not an operator.
    """
    if team in (None, caller.team):
        return
    if not caller.sees_all_teams():
        raise ForbiddenError(f"{kind} {item_id} belongs to team {team}: {caller.user} may not {verb} it",
                             hint=f"only its team or an operator may {verb} it")
    audit.record(action, "allowed", caller, target=item_id, reason=f"a {kind} of team {team}", method="DELETE",
                 path=path)
