#!/usr/bin/env bash
# The whole test suite, from nothing: install what the tests need (into the
# project's venv), run the static gates (ruff, mypy, the import contracts),
# start the real one-host farm (Docker, Redis, Elasticsearch, Salt, ...), run
# every test. Fails when a gate fails, when any test fails or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV="${BENCHFARM_VENV:-/opt/benchfarm/venv}"
bash scripts/install.sh || exit $?
BIN="$VENV/bin"
# the tests call the environment's own tools (salt-call, salt-cloud, schemathesis) by name
export PATH="$BIN:$PATH"

echo "== gates: ruff, mypy, import contracts" >&2
"$BIN/ruff" check benchfarm tests bench scripts salt || { echo "error: ruff found problems" >&2; exit 1; }
"$BIN/mypy" || { echo "error: mypy found type errors" >&2; exit 1; }
"$BIN/lint-imports" || { echo "error: an import contract is broken" >&2; exit 1; }

echo "== starting the one-host farm" >&2
"$BIN/benchfarm" stack up || { echo "error: the farm did not start; see 'benchfarm stack status'" >&2; exit 3; }

echo "== pytest" >&2
"$BIN/python" -m pytest tests "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit $rc
