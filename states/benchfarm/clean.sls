# Undo the benchfarm formula, part by part (the reverse of init.sls, nvidia.sls, fpga.sls).
# Packages are removed only where the formula manages them (manage_packages).
{%- from "benchfarm/map.jinja" import benchfarm, paths, manage_services with context %}

{%- if manage_services %}
benchfarm-clean-worker-service-dead:
  service.dead:
    - name: {{ benchfarm.worker.service }}
    - enable: False

benchfarm-clean-collector-service-dead:
  service.dead:
    - name: {{ benchfarm.collector.service }}
    - enable: False
{%- endif %}

benchfarm-clean-worker-unit-file-absent:
  file.absent:
    - name: {{ paths.worker_unit }}

benchfarm-clean-collector-unit-file-absent:
  file.absent:
    - name: {{ paths.collector_unit }}

benchfarm-clean-worker-config-file-absent:
  file.absent:
    - name: {{ paths.config_file }}

benchfarm-clean-worker-lock-dir-absent:
  file.absent:
    - name: {{ paths.lock_dir }}

{%- for image in benchfarm.images %}
{%- set ref = image.image if image is mapping else image %}
benchfarm-clean-images-{{ ref | replace('/', '-') | replace(':', '-') | replace('@', '-') }}-absent:
  benchfarm_image.absent:
    - name: {{ ref }}
{%- endfor %}

{%- if benchfarm.docker.manage_config %}
benchfarm-clean-docker-config-file-absent:
  file.absent:
    - name: {{ paths.docker_config }}
{%- endif %}

{%- if benchfarm.manage_packages %}
benchfarm-clean-worker-package-removed:
  pip.removed:
    - name: benchfarm
    - bin_env: {{ benchfarm.python }}

benchfarm-clean-nvidia-toolkit-removed:
  pkg.removed:
    - pkgs: {{ benchfarm.nvidia.packages | json }}

benchfarm-clean-docker-package-removed:
  pkg.removed:
    - name: {{ benchfarm.docker.package }}
{%- endif %}
