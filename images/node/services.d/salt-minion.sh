# salt-minion from the node's venv (installed from the host's wheelhouse). Started once a deploy
# script (saltify) or the cloud driver wrote /etc/salt/minion and the minion id.
[[ -f /etc/salt/minion || -d /etc/salt/minion.d ]] || { echo "salt-minion: /etc/salt/minion is not configured yet" >&2; exit 1; }
exec /opt/benchfarm/venv/bin/salt-minion -c /etc/salt --log-file-level=info
