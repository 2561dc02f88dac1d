#!/usr/bin/env bash
# A campaign: examples/cpu-sysbench.yaml on two pools of different hardware, swept over
# SYSBENCH_THREADS=1,2, compared side by side (median and 95% CI per pool and hardware class,
# ratio to the first pool, perf per USD/host-hour, scaling curve against ideal linear scaling).
#
# On the one-host farm the two "kinds of hardware" are two nodes (containers acting as hosts) with
# one CPU each; on a real farm use pools that exist (`benchfarm pool list`) and skip the nodes.
# Prices: a pool's definition (price_per_host_hour) is used when it has one; --price overrides.
set -euo pipefail
POOL_A=${POOL_A:-campaign-a}
POOL_B=${POOL_B:-campaign-b}

if [[ ${ADD_NODES:-1} == 1 ]]; then
  benchfarm nodes add "$POOL_A-n1" --pool "$POOL_A" --cpus 0 --memory 1g --via cloud
  benchfarm nodes add "$POOL_B-n1" --pool "$POOL_B" --cpus 1 --memory 1g --via cloud
  trap 'benchfarm nodes remove "$POOL_A-n1"; benchfarm nodes remove "$POOL_B-n1"' EXIT
fi

# one job per (pool, thread count); --wait shows progress, then the side-by-side tables
benchfarm submit examples/cpu-sysbench.yaml --across "pool:$POOL_A,pool:$POOL_B" \
  --matrix SYSBENCH_THREADS=1,2 --price "$POOL_A=0.10/h" --price "$POOL_B=0.12/h" --wait

# the newest campaign on these two pools (the list is newest first)
id=$(benchfarm campaign list --json --limit 50 | POOLS="pool:$POOL_A,pool:$POOL_B" python3 -c '
import json, os, sys
print(next(c["id"] for c in json.load(sys.stdin) if ",".join(c["targets"]) == os.environ["POOLS"]))')
benchfarm campaign compare "$id" --reference "$POOL_A" --price "$POOL_A=0.10/h" --price "$POOL_B=0.12/h" --json \
  > campaign-compare.json
benchfarm campaign report "$id" --price "$POOL_A=0.10/h" --price "$POOL_B=0.12/h" -o campaign.html
benchfarm campaign junit "$id" -o campaign-junit.xml
