# Tag: benchfarm/health/passed (see health_failed.sls). Releases a quarantined host
# (benchfarm.release: removes the marker, starts the worker where Salt manages it (systemd, a
# node's runner), posts
# POST /internal/host-events {"host_id", "status": "good", "reason", "checks": {}, "time"}).
# A host that is not quarantined stays as it is on the minion, but "good" is still posted: that
# is how a freshly registered (unknown) host becomes good; the farm keeps an operator's maintenance.
benchfarm-reactor-health-passed-release:
  local.benchfarm.release:
    - tgt: {{ data['id'] | json }}
    - args:
      - reason: health check passed
