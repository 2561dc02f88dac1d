"""The audit trail: every operator action and every refused request, one document each in ``<prefix>-audit``.

Why a background thread: the audit must never slow or fail the request it records, and
the store writer may retry Elasticsearch with backoff. :meth:`AuditLog.record` only
queues the document; a daemon thread hands it to the writer (which spools to disk while
Elasticsearch is away, so an accepted document is not lost). :meth:`AuditLog.close`
(the composition root registers it to run at exit) writes what is still queued.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchfarm.access.tokens import Principal

log = logging.getLogger(__name__)

#: Writes (id, document) pairs to the audit index (the store writer's ``index_docs`` on ``<prefix>-audit``).
AuditSink = Callable[[list[tuple[str, dict[str, Any]]]], Any]


def audit_document(action: str, outcome: str, principal: Principal | None, *, status: int | None = None,
                   target: str | None = None, reason: str | None = None, method: str | None = None,
                   path: str | None = None, client: str | None = None) -> dict[str, Any]:
    """One audit document: who (user, team, role; none for an unknown token), did what, to what, and how it ended."""
    return {
        "@timestamp": datetime.now(UTC).isoformat(), "action": action, "outcome": outcome, "status": status,
        "user": principal.user if principal else None, "team": principal.team if principal else None,
        "role": principal.role.value if principal else None, "target": target, "reason": reason,
        "method": method, "path": path, "client": client,
    }


class AuditLog:
    """Queues audit documents and writes them from a daemon thread (``record`` never blocks).

    Args:
        sink: writes a batch of (id, document) pairs; what it raises is logged, never raised to the caller.
    """

    def __init__(self, sink: AuditSink) -> None:
        self.sink = sink
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="audit-log")
        self._thread.start()
        self._closed = False

    def record(self, action: str, outcome: str, principal: Principal | None, **fields: Any) -> dict[str, Any]:
        """Queue one document (see :func:`audit_document`) and return it."""
        doc = audit_document(action, outcome, principal, **fields)
        self._queue.put(doc)
        return doc

    def _run(self) -> None:
        while True:
            doc = self._queue.get()
            if doc is None:
                return
            batch = [doc]
            while not self._queue.empty() and len(batch) < 500:
                nxt = self._queue.get_nowait()
                if nxt is None:
                    self._write(batch)
                    return
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.sink([(uuid.uuid4().hex, doc) for doc in batch])
        except Exception:  # the audit must never take the API down; the log keeps what was lost
            log.error("could not write %d audit documents: %s", len(batch), batch, exc_info=True)

    def close(self, timeout_s: float = 10.0) -> bool:
        """Write what is queued and stop the thread; returns whether it finished in time. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
