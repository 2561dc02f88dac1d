# Docker engine: package, /etc/docker/daemon.json (overlay2, data root, log limits),
# and the service only where Salt manages services (grain benchfarm_service_manager or
# pillar benchfarm:manage_services). On the one-host farm the stack starts dockerd with
# these settings as flags, so pillar sets docker:manage_config false there (dockerd
# refuses a setting given both as a flag and in daemon.json).
{%- from "benchfarm/map.jinja" import benchfarm, paths, manage_services with context %}

{%- if benchfarm.manage_packages %}
benchfarm-docker-package-installed:
  pkg.installed:
    - name: {{ benchfarm.docker.package }}
{%- endif %}

{%- if benchfarm.docker.manage_config %}
benchfarm-docker-config-file:
  file.serialize:
    - name: {{ paths.docker_config }}
    - dataset: {{ benchfarm.docker.daemon | json }}
    - serializer: json
    # keep keys other tools add (nvidia-ctk adds the nvidia runtime)
    - merge_if_exists: True
    - makedirs: True
    - mode: '0644'
{%- endif %}

{%- if manage_services %}
benchfarm-docker-service-running:
  service.running:
    - name: {{ benchfarm.docker.service }}
    - enable: True
  {%- if benchfarm.docker.manage_config %}
    - watch:
      - file: benchfarm-docker-config-file
  {%- endif %}
{%- endif %}
