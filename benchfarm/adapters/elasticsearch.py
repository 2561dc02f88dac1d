"""Elasticsearch adapter: the only module that imports ``elasticsearch``.

One table (``_translate``) turns the client's errors into benchfarm errors:
unreachable, timed out, 429, any 5xx, or any other transport failure ->
ServiceUnavailableError (the store retries, then spools to disk); 413 ->
RequestTooLargeError (the store sends the request in halves); anything else the
server refuses (4xx) -> StoreError.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Self, cast

import elastic_transport
from elasticsearch import ApiError, Elasticsearch, helpers
from elasticsearch.serializer import JsonSerializer

from benchfarm.errors import RequestTooLargeError, ServiceUnavailableError, StoreError
from benchfarm.settings import Settings, redact_url


@contextmanager
def _translate(url: str, action: str) -> Iterator[None]:
    try:
        yield
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise ServiceUnavailableError(f"Elasticsearch at {url} is not answering ({action})",
                                      hint="is Elasticsearch up? `benchfarm stack status`") from exc
    except ApiError as exc:
        status = exc.meta.status
        if status == 429 or status >= 500:  # pushed back, failing inside or a proxy without a server: try later
            raise ServiceUnavailableError(f"Elasticsearch at {url} is unavailable ({action}: {status})",
                                          hint="is Elasticsearch up? `benchfarm stack status`") from exc
        if status == 413:
            raise RequestTooLargeError(f"Elasticsearch at {url} refused {action} as too large (413)",
                                       hint="send less per request, or raise http.max_content_length (or the "
                                            "proxy's body limit)") from exc
        raise StoreError(f"Elasticsearch refused {action}: {exc.meta.status} {exc.message}",
                         hint="a mapping conflict or a bad request: see the cause below") from exc
    except elastic_transport.TransportError as exc:  # TLS, serialisation: the conversation itself failed
        raise ServiceUnavailableError(f"talking to Elasticsearch at {url} failed ({action}): {exc}",
                                      hint="is Elasticsearch up? `benchfarm stack status`") from exc


BULK_CHUNK = 1000  # actions per _bulk request (helpers.bulk's default chunk)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=JsonSerializer().default).encode


class EsClient:
    """The calls the store makes, over the official client."""

    def __init__(self, url: str, request_timeout: float = 30.0, ca_certs: str | None = None) -> None:
        """``url`` may carry basic-auth credentials (``https://user:password@host:9200``)."""
        self.url = redact_url(url)  # for messages: the credentials in ``url`` stay out of them
        tls: dict[str, Any] = {"ca_certs": ca_certs} if ca_certs else {}
        self.raw = Elasticsearch(url, request_timeout=request_timeout, max_retries=0, retry_on_timeout=False, **tls)

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        ca = settings.elasticsearch_ca_certs
        return cls(settings.effective_elasticsearch_url, ca_certs=str(ca) if ca else None)

    def health(self) -> str:
        with _translate(self.url, "cluster health"):
            return str(self.raw.cluster.health()["status"])

    def put_index_template(self, name: str, body: dict[str, Any]) -> None:
        with _translate(self.url, f"index template {name}"):
            self.raw.indices.put_index_template(name=name, **body)

    def write_index_version(self, name: str) -> int | None:
        """``_meta.version`` of the mapping of the data stream's newest backing index (0 without one);
        None when there is no such data stream yet."""
        with _translate(self.url, f"mapping of {name}"):
            res = self.raw.options(ignore_status=404).indices.get_mapping(index=name)
        if res.meta.status == 404 or not res.body:
            return None
        newest = max(res.body, key=lambda idx: (idx.rsplit("-", 1)[-1], idx))  # .ds-<name>-<date>-<generation>
        return int((res.body[newest].get("mappings", {}).get("_meta") or {}).get("version", 0))

    def rollover(self, name: str) -> None:
        """A new write index for the data stream ``name``, made from its template as it is now."""
        with _translate(self.url, f"rollover of {name}"):
            self.raw.indices.rollover(alias=name)

    def bulk(self, actions: Iterable[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        """Send bulk actions; returns (successes, per-document errors).

        Raises:
            ServiceUnavailableError: unreachable, 429 or 5xx for the request.
            RequestTooLargeError: the request is too large for the server (413).
            StoreError: the server refused the request itself.
        """
        ok, errors = 0, cast("list[dict[str, Any]]", [])
        chunk: list[dict[str, Any]] = []
        for action in actions:
            chunk.append(action)
            if len(chunk) == BULK_CHUNK:
                ok += self._bulk_chunk(chunk, errors)
                chunk = []
        if chunk:
            ok += self._bulk_chunk(chunk, errors)
        return ok, errors

    def _bulk_chunk(self, actions: list[dict[str, Any]], errors: list[dict[str, Any]]) -> int:
        """One ``_bulk`` request: the body written in one pass, the answer cut to what an error needs.

        Faster than ``helpers.bulk`` (bench/ingest.py, issue 16): no per-action dict copies, one encoder
        call per line, and the server leaves out every item's index, version, shards and sequence number
        (items come back in request order, so their ids are the actions'). Errors keep helpers.bulk's shape.
        """
        lines: list[str] = []
        first = actions[0]["_index"]
        one_index = all(a["_index"] == first for a in actions)  # the usual batch: named once, in the URL
        for a in actions:
            op = a.get("_op_type", "index")
            meta = {} if one_index else {"_index": a["_index"]}
            if "_id" in a:
                meta["_id"] = a["_id"]
            lines.append(_encode({op: meta}))
            if op != "delete":
                lines.append(_encode(a["_source"]))
        lines.append("")
        with _translate(self.url, "bulk indexing"):
            # the client passes a ready NDJSON body through as it is (its type hints say only a list of dicts)
            body = cast("Any", "\n".join(lines).encode())
            res = self.raw.bulk(operations=body, index=first if one_index else None,
                                filter_path="errors,items.*.status,items.*.error")
        if not res.body.get("errors"):
            return len(actions)
        ok = 0
        for a, item in zip(actions, res.body["items"], strict=True):
            op, body = next(iter(item.items()))
            if 200 <= int(body.get("status", 0)) < 300:
                ok += 1
            else:
                errors.append({op: {"_index": a["_index"], "_id": a.get("_id"), **body}})
        return ok

    def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        with _translate(self.url, f"search of {index}"):
            return self.raw.search(index=index, **body, ignore_unavailable=True).body

    def scan(self, index: str, query: dict[str, Any], sort: list[Any] | None = None,
             source: list[str] | None = None, page: int = 2000) -> Iterator[dict[str, Any]]:
        """Every hit of ``query`` (past the 10,000-hit window), in ``sort`` order, through a scroll."""
        body: dict[str, Any] = {"query": query}
        if sort:
            body["sort"] = sort
        if source is not None:
            body["_source"] = source
        with _translate(self.url, f"scan of {index}"):
            yield from helpers.scan(self.raw, query=body, index=index, size=page, preserve_order=bool(sort),
                                    ignore_unavailable=True)

    def count(self, index: str, query: dict[str, Any] | None = None) -> int:
        with _translate(self.url, f"count of {index}"):
            return int(self.raw.count(index=index, query=query or {"match_all": {}},
                                      ignore_unavailable=True)["count"])

    def get(self, index: str, doc_id: str) -> dict[str, Any] | None:
        with _translate(self.url, f"get {index}/{doc_id}"):
            res = self.raw.options(ignore_status=404).get(index=index, id=doc_id)
            return res.body.get("_source") if res.body.get("found") else None

    def refresh(self, index: str) -> None:
        with _translate(self.url, f"refresh of {index}"):
            self.raw.indices.refresh(index=index, ignore_unavailable=True)

    def delete_index(self, pattern: str) -> None:
        with _translate(self.url, f"deleting {pattern}"):
            self.raw.options(ignore_status=404).indices.delete(index=pattern, ignore_unavailable=True)

    def close(self) -> None:
        self.raw.close()
