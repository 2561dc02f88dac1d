#!/bin/sh
# A bring-your-own benchmark: hash BENCH_MB megabytes of zeros with sha256sum and
# print one {"metric", "value", "unit"} JSON line per result on stdout (what
# benchfarm reads); anything else goes to stderr.
set -eu
mb="${BENCH_MB:-256}"
echo "hashing $mb MiB with sha256sum" >&2
start=$(date +%s%N)
dd if=/dev/zero bs=1M count="$mb" status=none | sha256sum >/dev/null
end=$(date +%s%N)
awk -v mb="$mb" -v ns="$((end - start))" 'BEGIN {
    printf "{\"metric\": \"sha256_throughput\", \"value\": %.2f, \"unit\": \"MiB/s\", \"higher_is_better\": true}\n", mb / (ns / 1e9)
    printf "{\"metric\": \"elapsed\", \"value\": %.3f, \"unit\": \"ms\", \"higher_is_better\": false}\n", ns / 1e6
}'
