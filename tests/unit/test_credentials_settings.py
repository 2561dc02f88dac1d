"""Credentials in settings: URLs carry them percent-encoded, messages never; the ACL file holds hashes only."""

from __future__ import annotations

from pathlib import Path

from benchfarm.settings import Settings, redact_url, with_credentials
from benchfarm.stack.secrets import ensure_secrets
from benchfarm.stack.services.redis_server import acl_rules


def test_with_credentials_encodes_and_keeps_credentials_already_there() -> None:
    assert with_credentials("redis://h:1/0", ("u", "p:@/")) == "redis://u:p%3A%40%2F@h:1/0"
    assert with_credentials("redis://a:b@h:1/0", ("u", "p")) == "redis://a:b@h:1/0"
    assert with_credentials("http://h:9200", None) == "http://h:9200"


def test_redact_url_hides_the_password() -> None:
    assert redact_url("https://u:secret@es:9200/x") == "https://u:***@es:9200/x"
    assert redact_url("http://es:9200") == "http://es:9200"


def test_settings_read_the_stack_secrets_and_explicit_passwords_win(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path, redis_port=1, elasticsearch_port=2)
    assert s.effective_redis_url == "redis://127.0.0.1:1/0"  # no secrets yet: no credentials
    ensure_secrets(s)
    assert oct((tmp_path / "secrets").stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (tmp_path / "secrets").iterdir())
    api = s.secret("redis-benchfarm-api")
    assert api and s.effective_redis_url == f"redis://benchfarm-api:{api}@127.0.0.1:1/0"
    assert s.redis_url_for("benchfarm-worker").startswith("redis://benchfarm-worker:")
    explicit = Settings(state_dir=tmp_path, elasticsearch_username="me", elasticsearch_password="pw",
                        elasticsearch_url="https://es:9200")
    assert explicit.effective_elasticsearch_url == "https://me:pw@es:9200"


def test_acl_rules_store_hashes_and_keep_the_default_user_behind_a_password() -> None:
    text = acl_rules({"benchfarm-api": "a-pass", "benchfarm-worker": "w-pass", "benchfarm-reader": "r-pass",
                      "default": "d-pass"})
    # on, with every command (Redis replays its append-only file as `default`), but never passwordless
    assert "user default on #" in text and "nopass" not in text
    assert "pass" not in text.replace("benchfarm", "").replace("nopass", "")
    reader = next(line for line in text.splitlines() if line.startswith("user benchfarm-reader"))
    assert "-@all +@read" in reader
