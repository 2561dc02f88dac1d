#!/usr/bin/env bash
# The whole test suite, from nothing: install what the tests need, start the
# real one-host farm (Docker, Redis, Elasticsearch, Salt, ...), run every test.
# Fails when any test fails or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh || exit $?
benchfarm stack up || { echo "error: the farm did not start; see 'benchfarm stack status'" >&2; exit 3; }

python3 -m pytest tests "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit $rc
