"""Drift: run the farm's states in test mode on the hosts and list what Salt would change.

By policy a drifted host is quarantined until it is re-provisioned (a highstate
that leaves nothing to change); nobody fixes a pool host by logging in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class DriftItem:
    state_id: str  # the SLS id, e.g. benchfarm-worker-config
    name: str  # what the state manages, e.g. the file path
    function: str  # e.g. file.managed
    sls: str
    comment: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class HostDrift:
    host_id: str
    drifted: bool
    items: list[DriftItem] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_state_key(key: str) -> tuple[str, str, str]:
    """Split a state return key ``fun_|-id_|-name_|-fun2`` into (module.function, id, name)."""
    parts = key.split("_|-")
    if len(parts) != 4:
        return "", key, ""
    return f"{parts[0]}.{parts[3]}", parts[1], parts[2]


def drift_from_return(host_id: str, ret: Any) -> HostDrift:
    """A host's drift from its ``state.apply test=True`` return.

    A state whose test result is ``None`` (would change) or that lists changes is drift;
    a return that is not a state dict (a render error, no answer) is reported as an error.
    """
    if not isinstance(ret, dict):
        return HostDrift(host_id, drifted=False, error=str(ret) if ret is not None else "no answer")
    items = []
    errors = []
    for key, st in ret.items():
        if not isinstance(st, dict):
            errors.append(str(st))
            continue
        fun, sid, name = parse_state_key(key)
        if st.get("result") is False:
            errors.append(f"{sid}: {st.get('comment', '')}")
        if st.get("result") is None or st.get("changes"):
            items.append(DriftItem(state_id=sid, name=name, function=fun, sls=str(st.get("__sls__", "")),
                                   comment=str(st.get("comment", "")), changes=st.get("changes") or {}))
    items.sort(key=lambda i: i.state_id)
    return HostDrift(host_id, drifted=bool(items), items=items, error="; ".join(errors) or None)


def detect_drift(salt, target: str = "*", timeout: int = 300, tgt_type: str = "glob") -> list[HostDrift]:
    """Apply the highstate in test mode on ``target`` and report each host's drift.

    Args:
        salt: a :class:`benchfarm.adapters.salt_master.SaltMaster` (or one with its ``cmd``).
    """
    out = salt.cmd(target, "state.apply", [], timeout=timeout, tgt_type=tgt_type, kwarg={"test": True})
    return [drift_from_return(mid, ret) for mid, ret in sorted(out.items())]
