# Tag: benchfarm/health/failed, fired by benchfarm.health_check fire_event=True (the daily
# schedule in pillar, and the provisioning orchestration). Data on the master:
#   {"id": <minion id>, "data": {"ok": false, "failed": [check names], "checks": {...}}}
# Quarantines the host (benchfarm.quarantine: writes <state_dir>/quarantine.json, which the
# worker honours, stops the worker service where Salt manages it (systemd, a node's runner), and posts
# POST /internal/host-events {"host_id", "status": "quarantined", "reason", "checks", "time"}).
benchfarm-reactor-health-failed-quarantine:
  local.benchfarm.quarantine:
    - tgt: {{ data['id'] | json }}
    - args:
      - reason: health check failed
      - checks: {{ data['data'].get('checks', {}) | json }}
