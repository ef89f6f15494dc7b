#!/usr/bin/env bash
# A cron job that runs on every host but does its work on one at a time: the lock makes sure
# no two hosts run it together, and -try makes a host that finds it taken skip this round
# (exit 124) instead of queueing. The job gets $CONCLAVE_LOCK_TOKEN, a fencing token to pass
# to whatever it writes (here a fenced kv put that a stale holder could not overwrite).
#   examples/lock-cron.sh [--socket PATH]      e.g. from crontab: */5 * * * * lock-cron.sh
set -euo pipefail
conclave=${CONCLAVE:-conclave}
"$conclave" lock "$@" -try jobs/nightly-report -- bash -c '
  echo "$(hostname): running the job with fencing token $CONCLAVE_LOCK_TOKEN"
  sleep 1   # the work
  '"$conclave"' kv put '"$*"' -fenced jobs/nightly-report/last-run "$(date -u +%FT%TZ)"
'
