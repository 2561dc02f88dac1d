# Farm images pre-pulled from the farm registry by digest (pillar benchfarm:images,
# e.g. "127.0.0.1:15000/bench/stream@sha256:..."), through the custom state
# salt/_states/benchfarm_image.py (present = the engine has exactly that digest).
{%- from "benchfarm/map.jinja" import benchfarm with context %}
{%- for image in benchfarm.images %}
{%- set ref = image.image if image is mapping else image %}
benchfarm-images-{{ ref | replace('/', '-') | replace(':', '-') | replace('@', '-') }}-present:
  benchfarm_image.present:
    - name: {{ ref }}
{%- endfor %}
