# FPGA runtime packages for the vendors the grains found (benchfarm_fpga_vendors);
# top.sls targets this at hosts whose grain benchfarm_has_fpga is True. The packages
# come from the vendors' repositories (XRT for Xilinx/AMD, OPAE for Intel), which
# pillar benchfarm:fpga:packages names per vendor.
{%- from "benchfarm/map.jinja" import benchfarm with context %}
{%- if benchfarm.manage_packages %}
{%- for vendor in grains.get('benchfarm_fpga_vendors', []) %}
benchfarm-fpga-{{ vendor }}-runtime-installed:
  pkg.installed:
    - pkgs: {{ benchfarm.fpga.packages.get(vendor, []) | json }}
{%- endfor %}
{%- endif %}
