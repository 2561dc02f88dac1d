"""Salt adapter: the only module that imports ``salt``; talks to the master through its Python API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchfarm.errors import ServiceUnavailableError


class SaltMaster:
    """Runs commands on minions and reads the master's event bus, as root on the master host."""

    def __init__(self, config_dir: Path) -> None:
        self.config_file = Path(config_dir) / "master"
        self._client = None
        self._lock = threading.Lock()

    @property
    def opts(self) -> dict[str, Any]:
        import salt.config

        return salt.config.client_config(str(self.config_file))

    def _local(self):
        import salt.client

        with self._lock:
            if self._client is None:
                try:
                    self._client = salt.client.LocalClient(c_path=str(self.config_file))
                except Exception as exc:  # salt raises a variety of errors here
                    raise ServiceUnavailableError(
                        f"cannot talk to the Salt master configured in {self.config_file}",
                        hint="start the farm with `benchfarm stack up`",
                    ) from exc
            return self._client

    def cmd(self, target: str, fun: str, args: list | None = None, *, timeout: int = 30,
            tgt_type: str = "glob", kwarg: dict | None = None) -> dict[str, Any]:
        """Run ``fun`` on the minions matching ``target``; returns {minion_id: return}."""
        try:
            return self._local().cmd(target, fun, args or [], timeout=timeout, tgt_type=tgt_type, kwarg=kwarg) or {}
        except Exception as exc:
            raise ServiceUnavailableError(
                f"salt {target} {fun} failed: {exc}",
                hint="check `benchfarm stack status` and `benchfarm stack logs salt-master`",
            ) from exc

    def ping(self, minion_id: str, timeout: int = 10) -> bool:
        """True when the minion answers test.ping (Salt returns a "did not return" string otherwise)."""
        return self.cmd(minion_id, "test.ping", timeout=timeout).get(minion_id) is True

    def accepted_minions(self) -> list[str]:
        """Minion ids whose keys the master has accepted."""
        import salt.key

        opts = self.opts
        keys = salt.key.get_key(opts).list_keys()
        return sorted(keys.get("minions", []))

    def events(self, tag_prefix: str = "", timeout: float = 30.0) -> Iterator[dict[str, Any]]:
        """Yield master events whose tag starts with ``tag_prefix`` until ``timeout`` passes with none."""
        import salt.utils.event

        opts = self.opts
        bus = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=True)
        try:
            while True:
                ev = bus.get_event(wait=timeout, tag=tag_prefix, full=True)
                if ev is None:
                    return
                yield ev
        finally:
            bus.destroy()

    def fire(self, tag: str, data: dict[str, Any]) -> None:
        """Fire an event on the master's bus."""
        import salt.utils.event

        opts = self.opts
        bus = salt.utils.event.get_master_event(opts, opts["sock_dir"], listen=False)
        try:
            bus.fire_event(data, tag)
        finally:
            bus.destroy()
