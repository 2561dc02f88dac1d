# benchfarm on the host: the package, /etc/benchfarm/config.yaml from pillar
# benchfarm:config, the host lock dir, and the Celery worker subscribed to this
# host's capability queues (grain benchfarm_queues) as a service where Salt manages
# services: a systemd unit, or on a benchfarm node the runner's `worker` service
# (services.d/worker.sh; hostmap.yaml). The collector service is optional (pillar collector:enabled).
{%- from "benchfarm/map.jinja" import benchfarm, paths, manage_services, install_units with context %}
{%- set unit_context = {
      'user': benchfarm.worker.user,
      'python': benchfarm.python,
      'config_file': paths.config_file,
      'state_dir': paths.state_dir,
    } %}

{%- if benchfarm.manage_packages %}
benchfarm-worker-package-installed:
  pip.installed:
    - name: {{ benchfarm.package.spec }}
    - bin_env: {{ benchfarm.python }}
{%- endif %}

benchfarm-worker-config-file:
  file.serialize:
    - name: {{ paths.config_file }}
    - dataset: {{ benchfarm.config | json }}
    - serializer: yaml
    - makedirs: True
    # it carries the worker's Redis and Elasticsearch passwords
    - mode: '0600'

benchfarm-worker-lock-dir:
  file.directory:
    - name: {{ paths.lock_dir }}
    - makedirs: True
    - mode: '0755'

{%- if install_units %}
benchfarm-worker-unit-file:
  file.managed:
    - name: {{ paths.worker_unit }}
    - source: salt://benchfarm/files/benchfarm-worker.service.j2
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context:
        queues: {{ grains.get('benchfarm_queues', ['pool.default']) | json }}
        celery_app: {{ benchfarm.worker.celery_app }}
        concurrency: {{ benchfarm.worker.concurrency }}
        {{ unit_context | yaml(False) | indent(8) }}

  {%- if benchfarm.collector.enabled %}
benchfarm-collector-unit-file:
  file.managed:
    - name: {{ paths.collector_unit }}
    - source: salt://benchfarm/files/benchfarm-collector.service.j2
    - template: jinja
    - makedirs: True
    - mode: '0644'
    - context:
        command: {{ benchfarm.collector.command | json }}
        {{ unit_context | yaml(False) | indent(8) }}
  {%- endif %}
{%- endif %}

{%- if manage_services %}
benchfarm-worker-service-running:
  service.running:
    - name: {{ benchfarm.worker.service }}
    - enable: True
    # a quarantined host keeps its worker stopped (benchfarm.quarantine) until released
    - unless: test -e {{ paths.state_dir }}/quarantine.json
    - watch:
    {%- if install_units %}
      - file: benchfarm-worker-unit-file
    {%- endif %}
      - file: benchfarm-worker-config-file
  {%- if benchfarm.collector.enabled %}

benchfarm-collector-service-running:
  service.running:
    - name: {{ benchfarm.collector.service }}
    - enable: True
    - watch:
    {%- if install_units %}
      - file: benchfarm-collector-unit-file
    {%- endif %}
      - file: benchfarm-worker-config-file
  {%- endif %}
{%- endif %}
