# Pillar of the one-host farm (`benchfarm stack up` points pillar_roots here).
# A real farm keeps its own pillar tree; salt/pillar.example shows the keys.
base:
  '*':
    - benchfarm
