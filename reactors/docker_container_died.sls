# Tags: salt/engines/docker_events/die and salt/engines/docker_events/oom, fired by the
# minion's docker_events engine (saltext-dockermod: tag "salt/engines/docker_events/<Action>",
# the Docker event as the data). On the master the event data is
#   {"id": <minion id>, "tag": ..., "data": <Docker event: Action, Actor{ID, Attributes}, time, timeNano>}
# The minion that saw the event decides and reports (benchfarm.report_container_event in
# salt/_modules/benchfarm_mod.py), so the job record learns it even when its worker is gone:
#
#   Reported: "oom" events, and "die" events with exitCode != 0, of containers carrying the
#   label benchfarm.job_id (set by the runner). Everything else is ignored.
#   Contract: POST {api_url}/internal/container-events, header "Authorization: Bearer <api_token>"
#   when a token is configured, JSON body
#     {"host_id": str, "container_id": str, "container_name": str | null, "job_id": str,
#      "repetition": str | null, "action": "die" | "oom", "exit_code": int | null,
#      "oom_killed": bool | null, "time": float (epoch seconds),
#      "labels": {benchfarm.* labels of the container}}
#   An OOM kill arrives twice (an "oom" event, then "die" with exit code 137): the endpoint
#   must be idempotent per (container_id, action). The API records it in the events index.
benchfarm-reactor-container-died-report:
  local.benchfarm.report_container_event:
    - tgt: {{ data['id'] | json }}
    - args:
      - event: {{ data['data'] | json }}
