# daily health check (also run after every provisioning by reactors/minion_start.sls);
# its benchfarm/health/* event quarantines or releases the host
schedule:
  benchfarm-health-check:
    function: benchfarm.health_check
    kwargs:
      fire_event: true
    hours: 24
    splay: 600
    run_on_start: false
