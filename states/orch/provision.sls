# Provision one minion, in order (run by reactors/minion_start.sls):
# sync custom types -> highstate -> register in its pool -> health check (fires the
# benchfarm/health/* event that releases or quarantines the host).
{%- set target = salt['pillar.get']('benchfarm_target') %}
benchfarm-orch-provision-sync:
  salt.function:
    - name: saltutil.sync_all
    - tgt: {{ target | json }}

benchfarm-orch-provision-highstate:
  salt.state:
    - tgt: {{ target | json }}
    - highstate: True
    - require:
      - salt: benchfarm-orch-provision-sync

benchfarm-orch-provision-register:
  salt.function:
    - name: benchfarm.register
    - tgt: {{ target | json }}
    - require:
      - salt: benchfarm-orch-provision-sync

benchfarm-orch-provision-health:
  salt.function:
    - name: benchfarm.health_check
    - tgt: {{ target | json }}
    - kwarg:
        fire_event: True
    # no require: runs last (file order) even when the highstate failed, so a broken
    # host is quarantined rather than left unchecked
