# The node's Docker engine: storage on the node's own volume (/var/lib/docker), no bridge and no
# iptables (benchmark containers run with --network none; the host's engine owns the firewall),
# and every container's cgroup under the node's (see benchfarm-node-init).
# BENCHFARM_NODE_DOCKERD_ARGS adds flags, e.g. --insecure-registry for the farm registry.
parent=$(cat /run/benchfarm-node/cgroup-parent)
rm -f /var/run/docker.pid
# shellcheck disable=SC2086  # word splitting of the extra flags is wanted
exec /usr/sbin/dockerd --host unix:///var/run/docker.sock --storage-driver overlay2 \
  --iptables=false --ip-masq=false --bridge=none --exec-opt native.cgroupdriver=cgroupfs \
  --cgroup-parent "$parent" --log-driver json-file --log-opt max-size=10m ${BENCHFARM_NODE_DOCKERD_ARGS:-}
