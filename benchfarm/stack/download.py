"""Downloads into the cache, once, with progress and a checksum check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from benchfarm.errors import SetupError


def sha512_of(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def published_checksum(url: str) -> tuple[str, str] | None:
    """The checksum published beside ``url`` as (algorithm, hex), or None when none is published."""
    for algo in ("sha512", "sha256", "sha1"):
        try:
            resp = httpx.get(f"{url}.{algo}", timeout=30, follow_redirects=True)
        except httpx.HTTPError:
            continue
        if resp.status_code == 200 and resp.text.strip():
            return algo, resp.text.split()[0].strip().lower()
    return None


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download_verified(url: str, dest: Path, *, pinned_sha512: str | None) -> Path:
    """Download ``url`` to ``dest`` unless already there and valid; verify its checksum.

    The checksum published beside the artifact is preferred; when the registry
    publishes none, the sha512 pinned in the code is used.  A mismatch deletes
    the file and raises SetupError.
    """
    if dest.exists() and pinned_sha512 and sha512_of(dest) == pinned_sha512:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    try:
        with httpx.stream("GET", url, timeout=60, follow_redirects=True) as resp:
            if resp.status_code != 200:
                raise SetupError(
                    f"downloading {url} failed: HTTP {resp.status_code}",
                    hint="check the network and the pinned version in benchfarm/stack/services/elasticsearch.py",
                )
            total = int(resp.headers.get("content-length", 0)) or None
            with Progress(
                "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
            ) as bar, open(part, "wb") as f:
                task = bar.add_task(f"downloading {dest.name}", total=total)
                for chunk in resp.iter_bytes(1 << 20):
                    f.write(chunk)
                    bar.advance(task, len(chunk))
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise SetupError(f"downloading {url} failed: {exc}", hint="check the network connection") from exc
    published = published_checksum(url)
    if published is not None:
        algo, expected = published
    elif pinned_sha512:
        algo, expected = "sha512", pinned_sha512
    else:
        part.unlink(missing_ok=True)
        raise SetupError(f"no checksum is published for {url} and none is pinned; refusing an unverified download")
    actual = _digest(part, algo)
    if actual != expected:
        part.unlink(missing_ok=True)
        raise SetupError(f"checksum mismatch for {url}: {algo} {actual} != expected {expected}")
    part.rename(dest)
    return dest
