# benchfarm: make a host a farm member. Accelerator parts (benchfarm.nvidia,
# benchfarm.fpga) are targeted from top.sls by grains, not included here.
include:
  - benchfarm.docker
  - benchfarm.worker
  - benchfarm.images
