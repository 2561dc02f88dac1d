#!/usr/bin/env bash
# The main job end to end on this machine as the embedded one-host farm:
# install, start the stack, build the benchmark images, run the example suite,
# show the results.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh
# the venv's tools first: `benchfarm` is also linked into /usr/local/bin, which a minimal PATH may lack
export PATH="${BENCHFARM_VENV:-/opt/benchfarm/venv}/bin:$PATH"
benchfarm stack up
benchfarm stack status

echo "== building the benchmark images (cached after the first time)" >&2
for image in base busybox sysbench stream fio; do
  benchfarm image build "$image"
done
benchfarm image list

echo "== running the example suite" >&2
ids=()
for spec in examples/noop.yaml examples/cpu-sysbench.yaml examples/memory-stream.yaml examples/disk-fio.yaml; do
  echo "-- benchfarm submit $spec --wait" >&2
  benchfarm submit "$spec" --wait
  ids+=("$(benchfarm jobs list --name "$(awk '/^name:/ {print $2; exit}' "$spec")" --limit 1 --json \
           | python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')")
done

echo "-- benchfarm submit examples/gpu-matmul.yaml (this farm has no GPU: refused)" >&2
if benchfarm submit examples/gpu-matmul.yaml; then
  echo "error: the GPU job was accepted on a farm without a GPU" >&2
  exit 1
fi

echo "== results" >&2
benchfarm jobs list --limit 10
if benchfarm report --help >/dev/null 2>&1; then
  benchfarm report "${ids[@]}" -o benchfarm-report.html
  echo "HTML report: $(pwd)/benchfarm-report.html" >&2
fi
