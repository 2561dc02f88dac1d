# benchfarm highstate: every farm host gets the base formula; accelerator parts only
# where the grains (salt/_grains/benchfarm_grains.py) found the hardware. Pools can
# add their own states below with a `benchfarm_pool:<name>` grain match.
base:
  'benchfarm_pool:*':
    - match: grain
    - benchfarm
  'benchfarm_has_nvidia_gpu:True':
    - match: grain
    - benchfarm.nvidia
  'benchfarm_has_fpga:True':
    - match: grain
    - benchfarm.fpga
