# Tag: salt/minion/<id>/start (a minion connected to the master).
# Runs the orchestration states/orch/provision.sls for that minion, in order:
# sync custom grains/modules/states -> highstate -> register the host in its pool
# (benchfarm.register: POST /internal/host-events, status "unknown", with its
# capabilities from grains) -> health check, which fires benchfarm/health/passed or
# /failed (see health_*.sls) so a fresh host is released or quarantined.
benchfarm-reactor-minion-start-provision:
  runner.state.orchestrate:
    - args:
      - mods: orch.provision
      - pillar:
          benchfarm_target: {{ data['id'] | json }}
