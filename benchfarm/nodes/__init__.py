"""Nodes: containers that behave like farm hosts, so one machine can hold a many-host farm.

A node has its own Docker engine (storage on its own volume), its own CPU set and
memory limit, and the benchmark containers it starts stay inside them: its engine
puts their cgroups under the node's own (checked from the host's cgroupfs). This is
what kind and Cluster API's Docker provider do for Kubernetes.

Modules, one job each:
  ``resources``  CPU lists and sizes: parse, format, check against this machine
  ``model``      what a node is asked to be (``NodeSpec``) and what it is (``Node``)
  ``engine``     the facts and calls the provider needs from a container engine (a Protocol)
  ``config``     the provider's settings (network, image, timeouts) with their defaults
  ``errors``     its errors, named by who can fix them
  ``cgroups``    reading the host's cgroupfs (v1 and v2) for a node and what it nests
  ``wheelhouse`` the project's wheel and its locked dependencies as local wheels
  ``image``      the node image ``benchfarm-node:<version>``, built from the golden base
  ``manager``    create, list, remove nodes; run commands and load images in them
  ``link``       how a node reaches the farm: the relayed service ports, its worker's settings
  ``worker``     a node's worker: settings file, start, first heartbeat
Docker calls live in ``benchfarm.adapters.docker_nodes``; nothing here imports ``docker``.
"""
