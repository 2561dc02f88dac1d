"""Bulk writing to Elasticsearch that never loses an accepted document.

Order of operations for every batch: first replay whatever is in the spool
(in order), then send the new batch. Every document ends in one of three places,
and :class:`WriteOutcome` counts them:

- **stored**: Elasticsearch took it (or had it already: documents carry
  deterministic ids and are written with ``op_type: create``, so a replay of a
  batch that partly succeeded before counts the "already exists" conflicts as
  success and never duplicates a document);
- **spooled**: Elasticsearch did not take it *now*: unreachable, 5xx or pushing
  back (retried with back-off first), or it refused the whole request (a
  template it will not install, a request it cannot parse). The batch is appended
  to the spool (fsync'd), and so is every batch of the next few seconds without
  asking again; it goes out with a later batch or :meth:`StoreWriter.replay_spool`;
- **dead-lettered**: Elasticsearch refused that document itself as invalid (a
  4xx in the bulk response, such as ``mapper_parsing_exception``), or the
  document alone is larger than the server takes in one request. Sending it
  again cannot help, so it goes to the dead-letter file with the error, loudly.

A request refused as too large (413, from Elasticsearch or a proxy before it) is
split in halves until the parts go through. Nothing here raises for a document's
fate: the caller gets the outcome, and ``on_outcome`` hears, per job, how many of
its documents were spooled or dead-lettered (the composition root records those
counts in the job record).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from benchfarm.errors import RequestTooLargeError, ServiceUnavailableError, StoreError
from benchfarm.store.spool import Spool
from benchfarm.store.templates import METRICS_MAPPING_VERSION, index_names, templates

log = logging.getLogger(__name__)


@dataclass
class StoreCounts:
    """How many of one job's documents took the long way to the store."""

    spooled: int = 0  # kept in the spool for a later replay (delayed, not lost)
    dead_lettered: int = 0  # refused by Elasticsearch as invalid, kept in the dead-letter file


@dataclass
class WriteOutcome:
    """What became of the documents of one write (or replay).

    True (``delivered``) when nothing had to be spooled: every document reached
    Elasticsearch, stored or refused for good.
    """

    stored: int = 0
    spooled: int = 0
    dead_lettered: int = 0
    by_job: dict[str, StoreCounts] = field(default_factory=dict)  # spooled/dead-lettered, per ``job_id``

    @property
    def delivered(self) -> bool:
        return self.spooled == 0

    def __bool__(self) -> bool:
        return self.delivered

    def _count(self, actions: list[dict[str, Any]], what: str) -> None:
        setattr(self, what, getattr(self, what) + len(actions))
        for a in actions:
            job_id = (a.get("_source") or {}).get("job_id")
            if job_id:
                counts = self.by_job.setdefault(str(job_id), StoreCounts())
                setattr(counts, what, getattr(counts, what) + 1)


OutcomeListener = Callable[[dict[str, StoreCounts]], None]


class StoreWriter:
    """Writes bulk actions through an EsClient, spooling to disk while it is away.

    Args:
        es: the EsClient (or a fake with its interface).
        spool: where batches wait while Elasticsearch does not take them.
        prefix: the indices' name prefix.
        retries: attempts per request while Elasticsearch is unavailable (5xx, 429, unreachable).
        dead_letter: the dead-letter file (default: beside the spool).
        cooldown_s: after a failure, batches go straight to the spool for this long.
        on_outcome: told, per job id, how many documents were spooled or dead-lettered; its errors are logged.
    """

    def __init__(self, es: Any, spool: Spool, prefix: str = "benchfarm", retries: int = 3,
                 dead_letter: Path | None = None, cooldown_s: float = 5.0,
                 on_outcome: OutcomeListener | None = None) -> None:
        self.es = es
        self.spool = spool
        self.prefix = prefix
        self.names = index_names(prefix)
        self.retries = retries
        self.dead_letter = dead_letter or spool.path.with_name(spool.path.stem + ".rejected.jsonl")
        self.on_outcome = on_outcome
        self._templates_ok = False
        self.spooled_batches = 0
        # after Elasticsearch failed to answer, batches go straight to the spool for this long: the sampler
        # ships on its own thread, and must not spend seconds in retries for every batch of an outage
        self.cooldown_s = cooldown_s
        self._away_until = 0.0

    # ----------------------------------------------------------------------------
    def install_templates(self) -> None:
        """Install every index template (idempotent: PUT replaces with the same body), then roll the metrics
        data stream over if its write index has an older mapping, so new samples get the new one."""
        for name, body in templates(self.prefix).items():
            self.es.put_index_template(name, body)
        metrics = self.names["metrics"]
        current = self.es.write_index_version(metrics)
        if current is not None and current < METRICS_MAPPING_VERSION:
            log.warning("the %s data stream's write index has mapping version %d, the template %d: rolling it over",
                        metrics, current, METRICS_MAPPING_VERSION)
            self.es.rollover(metrics)
        self._templates_ok = True

    def _send(self, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One bulk request, retried with back-off while Elasticsearch is unavailable; returns the per-document
        errors that are final (4xx other than 409).

        Raises:
            ServiceUnavailableError: still unavailable after ``retries`` attempts.
            RequestTooLargeError: the request is too large for the server (413).
            StoreError: the server refused the request itself (a template, a request it cannot read).
        """

        @retry(retry=retry_if_exception_type(ServiceUnavailableError), stop=stop_after_attempt(self.retries),
               wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
        def attempt() -> list[dict[str, Any]]:
            if not self._templates_ok:
                self.install_templates()
            _, errors = self.es.bulk(actions)
            # 409: already there from an earlier try; a delete's 404: already gone (or never written)
            real = [e for e in errors if _status(e) != 409 and not ("delete" in e and _status(e) == 404)]
            # 401/403: the farm's credentials or roles are refused (an operator fixes that), not the document
            unavailable = [e for e in real if _status(e) in (401, 403, 429) or _status(e) >= 500]
            if unavailable:  # the whole batch again: what went in answers 409 (create) or is rewritten (index)
                raise ServiceUnavailableError(f"Elasticsearch could not take {len(unavailable)} documents now "
                                              f"(first: {_status(unavailable[0])})",
                                              hint="is Elasticsearch overloaded, or are the farm's credentials "
                                                   "refused? `benchfarm stack status`")
            return real

        return attempt()

    def _deliver(self, actions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Send ``actions``, halving any request refused as too large; returns (action, error) for each
        document refused for good. Raises what :meth:`_send` raises, except RequestTooLargeError."""
        if not actions:
            return []
        try:
            errors = self._send(actions)
        except RequestTooLargeError as exc:
            if len(actions) == 1:
                (a,) = actions
                op = a.get("_op_type", "index")
                return [(a, {op: {"_index": a.get("_index"), "_id": a.get("_id"), "status": 413,
                                  "error": {"type": "request_too_large", "reason": exc.message}}})]
            half = len(actions) // 2
            log.info("Elasticsearch refused %d documents in one request as too large: sending halves",
                     len(actions))
            return self._deliver(actions[:half]) + self._deliver(actions[half:])
        if not errors:
            return []
        by_id = {a.get("_id"): a for a in actions}
        return [(by_id.get(_error_body(e).get("_id"), {}), e) for e in errors]

    def _dead_letter(self, refused: list[tuple[dict[str, Any], dict[str, Any]]], outcome: WriteOutcome) -> None:
        """Documents the server refuses for good go to the dead-letter file with the error, loudly."""
        if not refused:
            return
        with open(self.dead_letter, "a") as f:
            for action, error in refused:
                f.write(json.dumps({**error, "action": action}, default=str) + "\n")
        outcome._count([a for a, _ in refused], "dead_lettered")
        first = _error_body(refused[0][1]).get("error")
        log.error("Elasticsearch refused %d documents as invalid (first: %s); kept in %s", len(refused), first,
                  self.dead_letter)

    def write(self, actions: list[dict[str, Any]]) -> WriteOutcome:
        """Write actions durably: to Elasticsearch, or to the spool; never drops one.

        The spool is replayed first, so documents reach Elasticsearch in the order they were written.

        Returns:
            What became of the new actions (and of any documents of the replay refused for good): stored,
            spooled or dead-lettered; true when nothing was spooled.
        Raises:
            OSError: the spool or the dead-letter file could not be written (the disk is full).
        """
        outcome = WriteOutcome()
        with self.spool.locked():
            if time.monotonic() < self._away_until:
                self._spool(actions, outcome, "Elasticsearch was away moments ago")
            else:
                pending = self.spool.read()
                try:
                    if pending:
                        self._dead_letter(self._deliver(pending), outcome)
                        self.spool.clear()  # refused ones are in the dead-letter file: never a poison pill
                        log.warning("replayed %d spooled documents to Elasticsearch", len(pending))
                    refused = self._deliver(actions)
                    outcome.stored = len(actions) - len(refused)
                    self._dead_letter(refused, outcome)
                except (ServiceUnavailableError, StoreError) as exc:
                    outcome.stored = 0
                    self._away_until = time.monotonic() + self.cooldown_s
                    self._spool(actions, outcome, exc.message)
        self._tell(outcome)
        return outcome

    def _spool(self, actions: list[dict[str, Any]], outcome: WriteOutcome, why: str) -> None:
        if actions:
            self.spool.append(actions)
            self.spooled_batches += 1
            outcome._count(actions, "spooled")
            log.warning("%d documents spooled to %s: %s", len(actions), self.spool.path, why)

    def _tell(self, outcome: WriteOutcome) -> None:
        if self.on_outcome is None or not outcome.by_job:
            return
        try:
            self.on_outcome(outcome.by_job)
        except Exception:  # the counts are bookkeeping: the documents themselves are safe
            log.warning("recording the store's outcome for jobs %s failed", sorted(outcome.by_job), exc_info=True)

    def replay_spool(self) -> int:
        """Send what the spool holds, in order.

        Returns:
            How many actions were replayed (0 when the spool is empty or Elasticsearch still does not take
            them). Documents refused for good are counted, logged and kept in the dead-letter file.
        """
        outcome = WriteOutcome()
        with self.spool.locked():
            pending = self.spool.read()
            if not pending:
                return 0
            try:
                self._dead_letter(self._deliver(pending), outcome)
            except (ServiceUnavailableError, StoreError) as exc:
                self._away_until = time.monotonic() + self.cooldown_s
                log.warning("replaying %d spooled documents failed; kept for later: %s", len(pending), exc.message)
                return 0
            self.spool.clear()
            self._away_until = 0.0  # back: the next write goes straight to Elasticsearch
        self._tell(outcome)
        return len(pending)

    def index_docs(self, index: str, docs: list[tuple[str, dict[str, Any]]], *,
                   op_type: str = "create") -> WriteOutcome:
        """Write (id, document) pairs to ``index``; ``op_type`` create (exactly once) or index (upsert)."""
        return self.write([{"_op_type": op_type, "_index": index, "_id": doc_id, "_source": doc}
                           for doc_id, doc in docs])


def _error_body(error: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = next(iter(error.values()), {})
    return body


def _status(error: dict[str, Any]) -> int:
    return int(_error_body(error).get("status", 0))
