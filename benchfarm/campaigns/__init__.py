"""Campaigns: one benchmark spec run on many targets (pools, hosts) and parameter points at once.

A campaign expands ``targets x matrix points`` into ordinary jobs (each labelled with the
campaign id, its target and its point, so results in Elasticsearch group by them), keeps a
durable record of which job is which, and derives its progress from the jobs' own records.
"""
