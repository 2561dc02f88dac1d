# Pillar of the one-host farm (`benchfarm stack up` points pillar_roots here).
# A real farm keeps its own pillar tree; salt/pillar.example shows the keys.
base:
  '*':
    - schedule
  # this machine's own minions (the stack's, the tests'): a scratch tree each
  '* and not G@benchfarm_service_manager:node':
    - match: compound
    - benchfarm
  # benchfarm nodes (containers that behave like hosts): real paths and the farm's settings
  'G@benchfarm_service_manager:node':
    - match: compound
    - benchfarm_node
