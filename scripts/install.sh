#!/usr/bin/env bash
# Installs everything benchfarm and its tests need on a Debian machine (as root):
# Debian packages for the one-host farm's services, then benchfarm itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(docker.io redis-server debootstrap busybox-static docker-registry unzip iproute2)
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

echo "… pip install -e .[test]" >&2
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
