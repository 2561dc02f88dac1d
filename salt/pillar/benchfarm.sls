# The one-host farm: every minion of this machine manages a scratch tree of its own
# (/var/lib/benchfarm/host-root/<minion id>/etc/...), so the farm's states apply,
# drift and re-apply for real without touching this machine's /etc, and several test
# minions on one host do not share files. dockerd is started by the stack with
# overlay2/log flags, so daemon.json is not written (dockerd refuses a setting given
# twice); packages are installed by the developer, not by Salt.
benchfarm:
  root: /var/lib/benchfarm/host-root/{{ grains['id'] }}
  manage_packages: false
  install_units: true
  docker:
    manage_config: false
  images: []

