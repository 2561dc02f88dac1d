# sshd for the bare-metal path (salt-cloud saltify logs in here). Host keys are made on the node's
# first start, never baked into the image (every node would share them). Keys only: root's
# authorized keys are the farm's, given when the node is made (BENCHFARM_NODE_AUTHORIZED_KEYS,
# OpenSSH lines, as a provisioning system puts them on a new machine).
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
if [[ -n "${BENCHFARM_NODE_AUTHORIZED_KEYS:-}" ]]; then
  install -d -m 0700 /root/.ssh
  printf '%s\n' "$BENCHFARM_NODE_AUTHORIZED_KEYS" > /root/.ssh/authorized_keys
  chmod 0600 /root/.ssh/authorized_keys
fi
exec /usr/sbin/sshd -D -e
