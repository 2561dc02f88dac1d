#!/usr/bin/env bash
# Installs everything benchfarm and its tests need on a Debian machine (as root):
# Debian packages for the one-host farm's services, then benchfarm itself into a
# virtual environment the project owns, resolved from the hash-pinned lock file.
#
# Why a venv built from Debian's /usr/bin/python3: Debian marks its Python
# "externally managed" (PEP 668), so pip refuses to install into it; and another
# Python first on PATH (pyenv, conda) must not decide which interpreter runs the
# farm's services. Why requirements.lock with hashes, installed by pip: it needs
# nothing beyond Debian's python3-venv to install, pip verifies every file
# against the lock, and `uv pip compile` (how the lock is made, see
# requirements/README.md) is only needed by whoever changes a dependency.
#
# Environment: BENCHFARM_VENV (default /opt/benchfarm/venv),
#              BENCHFARM_BIN_DIR (default /usr/local/bin; where `benchfarm` is linked).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${BENCHFARM_VENV:-/opt/benchfarm/venv}"
BIN_DIR="${BENCHFARM_BIN_DIR:-/usr/local/bin}"
PY=/usr/bin/python3

# socat: the relays between nodes and the farm's loopback services; iptables: the fence around the node network;
# chromium, chromium-driver: the headless browser the web console's tests drive (through Selenium)
DEBS=(python3 python3-venv docker.io redis-server debootstrap busybox-static docker-registry unzip iproute2 openssh-client socat iptables
      chromium chromium-driver)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "error: need root to install: ${missing[*]} (run with sudo)" >&2
    exit 3
  fi
  echo "… apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "… creating the virtual environment $VENV (from $PY)" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi

# Reinstall only when the lock or the project's metadata changed since the last install.
stamp="$VENV/.benchfarm-lock.sha256"
want="$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)$(pwd)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "… pip install --require-hashes -r requirements.lock (into $VENV)" >&2
  export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
  "$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r requirements.lock
  echo "… pip install -e . (benchfarm itself, no dependencies beyond the lock)" >&2
  "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e .
  "$VENV/bin/python" -m pip check >&2
  echo "$want" > "$stamp"
fi

mkdir -p "$BIN_DIR"
ln -sfn "$VENV/bin/benchfarm" "$BIN_DIR/benchfarm"
echo "benchfarm installed: $("$BIN_DIR/benchfarm" --version 2>/dev/null || echo "$VENV/bin/benchfarm")" >&2
case ":$PATH:" in
  *":$BIN_DIR:"*) ;;
  *) echo "note: $BIN_DIR is not on PATH; run $VENV/bin/benchfarm or add $BIN_DIR to PATH" >&2 ;;
esac
