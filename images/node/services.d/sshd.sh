# sshd for the bare-metal path (salt-cloud saltify logs in here). Host keys are made on the node's
# first start, never baked into the image (every node would share them).
ssh-keygen -A >/dev/null
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e
