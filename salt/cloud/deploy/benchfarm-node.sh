#!/bin/bash
# benchfarm-node: the farm's salt-cloud deploy script (`script: benchfarm-node` in the providers).
#
# salt-cloud puts this script, and what it prepared for the new host, into a fresh directory on
# the host and runs it there as root: over SSH for saltify (bare metal), and through the node
# provider for the benchfarm_nodes cloud driver (salt/_clouds/benchfarm_nodes.py). Beside it:
#
#   minion                   the minion config: id, master and ports, the salt-cloud grains
#   grains                   the profile's static grains (benchfarm: pool)
#   minion.pem, minion.pub   the minion's key pair; the master accepted minion.pub before this ran
#
# It installs that minion from local artifacts only (no internet, no package index) and starts it:
# Salt and benchfarm come from /opt/benchfarm/venv, which the node image carries. A host without
# that venv gets it from a wheelhouse of the farm's wheels: `script_args: -w DIR`, with the wheels
# copied to DIR by salt-cloud's `file_map`. The minion runs under what the host has: a benchfarm
# node's service runner (benchfarm-node-service), else systemd, else as a plain daemon.
#
# Exit status: 0 when salt-minion runs; 2 for a bad call or a missing file; 3 when Salt is not
# installed and no wheelhouse was given; 4 when the minion did not start (its log tail is printed).
#
# salt-cloud renders deploy scripts as Jinja templates first: keep Jinja's delimiters out of here.
# BENCHFARM_DEPLOY_ROOT prefixes every path it writes (the unit tests run it in a scratch tree).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=${BENCHFARM_DEPLOY_ROOT:-}
venv=/opt/benchfarm/venv
etc=$root/etc/salt
enabled_dir=$root/etc/benchfarm-node/enabled
start_wait_s=${BENCHFARM_DEPLOY_START_WAIT_S:-30}

say() { echo "benchfarm-node deploy: $*"; }
die() { echo "benchfarm-node deploy: error: $*" >&2; exit "${2:-2}"; }

wheelhouse=""
while getopts "w:" opt; do
  case $opt in
    w) wheelhouse=$OPTARG ;;
    *) die "usage: deploy.sh [-w WHEELHOUSE]" 2 ;;
  esac
done

for f in minion minion.pem minion.pub; do
  [[ -f "$here/$f" ]] || die "$here/$f is missing: run this through salt-cloud (it prepares these files)"
done
id=$(sed -n 's/^id: *//p' "$here/minion" | head -n 1)
say "minion ${id:-?} from $here"

# 1. Salt and benchfarm, from what is on the host or from the farm's wheelhouse
if [[ ! -x "$root$venv/bin/salt-minion" ]]; then
  [[ -n "$wheelhouse" ]] || die "no salt-minion in $venv and no wheelhouse given (script_args: -w DIR)" 3
  [[ -d "$wheelhouse" ]] || die "wheelhouse $wheelhouse is not a directory" 3
  say "installing salt and benchfarm into $venv from $wheelhouse (no index)"
  python3 -m venv "$root$venv"
  "$root$venv/bin/pip" install --no-index --disable-pip-version-check --find-links "$wheelhouse" benchfarm salt
fi

# 2. the minion's config, static grains and keys (a fresh enrolment trusts the master it names)
install -d -m 0755 "$etc"
install -m 0644 "$here/minion" "$etc/minion"
if [[ -f "$here/grains" ]]; then install -m 0644 "$here/grains" "$etc/grains"; fi
install -d -m 0700 "$etc/pki" "$etc/pki/minion"
install -m 0400 "$here/minion.pem" "$etc/pki/minion/minion.pem"
install -m 0644 "$here/minion.pub" "$etc/pki/minion/minion.pub"
rm -f "$etc/pki/minion/minion_master.pub"

# 3. start it (restart: a minion already running must read the new config and keys)
if command -v benchfarm-node-service >/dev/null 2>&1; then
  install -d -m 0755 "$enabled_dir"
  echo salt-minion > "$enabled_dir/salt-minion"
  benchfarm-node-service restart salt-minion
  running() { benchfarm-node-service status salt-minion >/dev/null 2>&1; }
  log_tail() { tail -n 20 "$root/var/log/benchfarm-node/salt-minion.log" 2>/dev/null || true; }
elif [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  cat > "$root/etc/systemd/system/salt-minion.service" <<EOF
[Unit]
Description=Salt minion (benchfarm)
After=network-online.target
[Service]
ExecStart=$venv/bin/salt-minion -c /etc/salt
Restart=on-failure
[Install]
WantedBy=multi-user.target
EOF
  systemctl daemon-reload
  systemctl enable salt-minion
  systemctl restart salt-minion
  running() { systemctl is-active --quiet salt-minion; }
  log_tail() { journalctl -u salt-minion -n 20 --no-pager 2>/dev/null || true; }
else
  pidfile=$root/var/run/salt-minion.pid
  if [[ -f "$pidfile" ]]; then kill "$(cat "$pidfile")" 2>/dev/null || true; sleep 1; fi
  "$root$venv/bin/salt-minion" -c "$etc" -d
  running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
  log_tail() { tail -n 20 "$root/var/log/salt/minion" 2>/dev/null || true; }
fi

for _ in $(seq 1 "$((start_wait_s * 5))"); do
  if running; then say "salt-minion ${id:-?} runs"; exit 0; fi
  sleep 0.2
done
log_tail >&2
die "salt-minion did not start within ${start_wait_s} s" 4
