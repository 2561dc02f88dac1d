# The benchfarm worker on this node. Its settings (Redis, Elasticsearch, registry, pool) come from
# /etc/benchfarm/config.yaml, written by whoever enrolls the node (the Salt states in the field).
[[ -f /etc/benchfarm/config.yaml ]] || { echo "worker: /etc/benchfarm/config.yaml is not written yet" >&2; exit 1; }
exec /opt/benchfarm/venv/bin/benchfarm worker run
