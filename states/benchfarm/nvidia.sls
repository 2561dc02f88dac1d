# NVIDIA container toolkit and its Docker runtime; top.sls targets this at hosts
# whose grain benchfarm_has_nvidia_gpu is True.
{%- from "benchfarm/map.jinja" import benchfarm, paths, manage_services with context %}
include:
  - benchfarm.docker

{%- if benchfarm.manage_packages %}
benchfarm-nvidia-toolkit-installed:
  pkg.installed:
    - pkgs: {{ benchfarm.nvidia.packages | json }}

benchfarm-nvidia-runtime-configured:
  cmd.run:
    - name: nvidia-ctk runtime configure --runtime=docker --config={{ paths.docker_config }}
    - unless: grep -q '"nvidia"' {{ paths.docker_config }}
    - require:
      - pkg: benchfarm-nvidia-toolkit-installed
  {%- if benchfarm.docker.manage_config %}
      - file: benchfarm-docker-config-file
  {%- endif %}
  {%- if manage_services %}
    - watch_in:
      - service: benchfarm-docker-service-running
  {%- endif %}
{%- endif %}
