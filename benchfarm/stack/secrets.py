"""The stack's passwords: generated once at `stack up`, kept root-only under <state_dir>/secrets.

One file per secret (0600 in a 0700 directory), named ``redis-<user>`` or
``elasticsearch-<user>``; ``Settings.redis_credentials`` and
``Settings.elasticsearch_credentials`` read them, so every process on the host (CLI,
API, worker, tests; all root) finds its credentials without any password on a command
line, in an environment variable or in a log.
"""

from __future__ import annotations

import os
import secrets

from benchfarm.settings import Settings

REDIS_API_USER = "benchfarm-api"
REDIS_WORKER_USER = "benchfarm-worker"
REDIS_READER_USER = "benchfarm-reader"
REDIS_USERS = (REDIS_API_USER, REDIS_WORKER_USER, REDIS_READER_USER)
# Redis 7.0 replays the append-only file as its `default` user: a default user that is off (or lacks
# commands) makes every MULTI/EXEC in the file fail at start ("NOPERM ... ACLs rules changed") and the
# writes in it are lost. So `default` keeps every command behind a password nobody is given.
REDIS_DEFAULT_USER = "default"

ES_SUPERUSER = "elastic"  # the built-in superuser; its password is the keystore's bootstrap.password
ES_WRITER_USER = "benchfarm-writer"
ES_READER_USER = "benchfarm-reader"
ES_USERS = (ES_SUPERUSER, ES_WRITER_USER, ES_READER_USER)


def write_private(path: os.PathLike[str] | str, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (created 0600, replaced atomically)."""
    tmp = f"{os.fspath(path)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_secrets(settings: Settings) -> None:
    """Create the secrets directory and any missing password (existing ones are kept)."""
    directory = settings.secrets_dir
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    names = [f"redis-{u}" for u in (*REDIS_USERS, REDIS_DEFAULT_USER)] + [f"elasticsearch-{u}" for u in ES_USERS]
    for name in names:
        path = directory / name
        if path.exists():
            os.chmod(path, 0o600)
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another `stack up` wrote it just now
            continue
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))


def stack_secret(settings: Settings, name: str) -> str:
    """A secret `ensure_secrets` wrote; generates the set first when it is missing."""
    value = settings.secret(name)
    if value is None:
        ensure_secrets(settings)
        value = settings.secret(name)
    if value is None:
        raise PermissionError(f"cannot read the stack secret {settings.secrets_dir / name}")
    return value
