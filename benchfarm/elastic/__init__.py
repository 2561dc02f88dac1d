"""Elastic pools: pool definitions, and the autoscaler that creates hosts when queued jobs need them and
destroys them when idle, within a maximum and a daily budget (issue 13).

Modules, one job each:
  ``definition``  a pool's definition (profile or CPUs/memory, min/max, idle timeout, prices, replace policy)
  ``store``       definitions and the autoscaler's state (hosts being created, host lifetimes) in Redis
  ``lease``       one decision-maker across processes: a lease with a fencing token
  ``costs``       host-hours and spend per pool per UTC day
  ``planner``     what to do now and why, from a snapshot (pure: no clock, no I/O)
  ``autoscaler``  one pass: snapshot, plan, act through a provisioner, record every decision as an event
  ``waiting``     why a queued job waits, in words
Nothing here imports Redis, Salt or Docker: the adapters come in through Protocols.
"""
