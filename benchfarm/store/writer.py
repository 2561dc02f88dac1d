"""Bulk writing to Elasticsearch that never loses an accepted document.

Order of operations for every batch: first replay whatever is in the spool
(in order), then send the new batch. When Elasticsearch does not answer after
a few retries with back-off, the batch is appended to the spool (fsync'd), and
so is every batch of the next few seconds without asking again; the call
returns normally: the caller's data is safe on disk and goes out with
a later batch or an explicit :meth:`StoreWriter.replay_spool`. Documents carry
deterministic ids and are written with ``op_type: create``, so a replay of a
batch that partly succeeded before counts the "already exists" conflicts as
success and never duplicates a document.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from benchfarm.errors import ServiceUnavailableError, StoreError
from benchfarm.store.spool import Spool
from benchfarm.store.templates import index_names, templates

log = logging.getLogger(__name__)


class StoreWriter:
    """Writes bulk actions through an EsClient, spooling to disk while it is away."""

    def __init__(self, es, spool: Spool, prefix: str = "benchfarm", retries: int = 3,
                 dead_letter: Path | None = None, cooldown_s: float = 5.0) -> None:
        self.es = es
        self.spool = spool
        self.prefix = prefix
        self.names = index_names(prefix)
        self.retries = retries
        self.dead_letter = dead_letter or spool.path.with_name(spool.path.stem + ".rejected.jsonl")
        self._templates_ok = False
        self.spooled_batches = 0
        # after Elasticsearch failed to answer, batches go straight to the spool for this long: the sampler
        # ships on its own thread, and must not spend seconds in retries for every batch of an outage
        self.cooldown_s = cooldown_s
        self._away_until = 0.0

    # ----------------------------------------------------------------------------
    def install_templates(self) -> None:
        """Install every index template (idempotent: PUT replaces with the same body)."""
        for name, body in templates(self.prefix).items():
            self.es.put_index_template(name, body)
        self._templates_ok = True

    def _send(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Bulk-send with retries; returns the documents the server refused for good (also written to the
        dead-letter file). Raises ServiceUnavailableError when Elasticsearch stays away, StoreError when it
        refuses the whole request."""

        @retry(retry=retry_if_exception_type(ServiceUnavailableError), stop=stop_after_attempt(self.retries),
               wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
        def attempt() -> list[dict[str, Any]]:
            if not self._templates_ok:
                self.install_templates()
            _, errors = self.es.bulk(actions)
            real = [e for e in errors if _status(e) != 409]  # 409: already there from an earlier try
            unavailable = [e for e in real if _status(e) in (429, 503)]
            if unavailable:  # the whole batch again: what went in answers 409 (create) or is rewritten (index)
                raise ServiceUnavailableError(f"Elasticsearch pushed back on {len(unavailable)} documents",
                                              hint="is Elasticsearch overloaded? `benchfarm stack status`")
            return real

        rejected = attempt()
        if rejected:
            self._dead_letter(rejected)
        return rejected

    def _dead_letter(self, errors: list[dict[str, Any]]) -> None:
        """Documents the server refuses for good (mapping errors) go to a dead-letter file, loudly."""
        with open(self.dead_letter, "a") as f:
            for e in errors:
                f.write(json.dumps(e, default=str) + "\n")
        log.error("Elasticsearch refused %d documents; kept in %s", len(errors), self.dead_letter)

    def _refused(self, rejected: list[dict[str, Any]]) -> StoreError:
        first: dict[str, Any] = next(iter(rejected[0].values()), {})
        return StoreError(f"Elasticsearch refused {len(rejected)} documents (first: {first.get('error')}); "
                          f"they are kept in {self.dead_letter}",
                          hint="a mapping conflict: check the document against `benchfarm.store.templates`")

    def write(self, actions: list[dict[str, Any]]) -> bool:
        """Write actions durably: to Elasticsearch, or to the spool.

        The spool is replayed first, so documents reach Elasticsearch in the order they were written.

        Returns:
            True if they reached Elasticsearch, False if they were spooled (Elasticsearch away).
        Raises:
            StoreError: Elasticsearch refused some documents for good (the others were stored, the spool
                was emptied, and the refused ones are in the dead-letter file), or refused the request.
        """
        with self.spool.locked():
            if time.monotonic() < self._away_until:
                self._spool(actions)
                return False
            pending = self.spool.read()
            rejected: list[dict[str, Any]] = []
            try:
                if pending:
                    try:
                        rejected += self._send(pending)
                    except StoreError:  # the whole replay request refused: keep the new batch behind it
                        self._spool(actions)
                        raise
                    self.spool.clear()  # refused ones are in the dead-letter file: never a poison pill
                    log.warning("replayed %d spooled documents to Elasticsearch", len(pending))
                if actions:
                    rejected += self._send(actions)
            except ServiceUnavailableError:
                self._away_until = time.monotonic() + self.cooldown_s
                self._spool(actions)
                return False
        if rejected:
            raise self._refused(rejected)
        return True

    def _spool(self, actions: list[dict[str, Any]]) -> None:
        if actions:
            self.spool.append(actions)
            self.spooled_batches += 1
            log.warning("Elasticsearch away: %d documents spooled to %s", len(actions), self.spool.path)

    def replay_spool(self) -> int:
        """Send what the spool holds, in order.

        Returns:
            How many actions were replayed (0 when the spool is empty or Elasticsearch is still away).
            Documents refused for good are counted, logged and kept in the dead-letter file.
        """
        with self.spool.locked():
            pending = self.spool.read()
            if not pending:
                return 0
            try:
                self._send(pending)
            except ServiceUnavailableError:
                self._away_until = time.monotonic() + self.cooldown_s
                return 0
            self.spool.clear()
            self._away_until = 0.0  # back: the next write goes straight to Elasticsearch
            return len(pending)

    def index_docs(self, index: str, docs: list[tuple[str, dict[str, Any]]], *, op_type: str = "create") -> bool:
        """Write (id, document) pairs to ``index``; ``op_type`` create (exactly once) or index (upsert)."""
        return self.write([{"_op_type": op_type, "_index": index, "_id": doc_id, "_source": doc}
                           for doc_id, doc in docs])


def _status(error: dict[str, Any]) -> int:
    body: dict[str, Any] = next(iter(error.values()), {})
    return int(body.get("status", 0))
