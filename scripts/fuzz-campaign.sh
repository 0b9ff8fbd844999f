#!/usr/bin/env bash
# Runs every cargo-fuzz target for a fixed time (AddressSanitizer, cargo-fuzz's default) and
# prints one line per target: executions, coverage (libFuzzer's `cov` and `ft`), corpus size,
# crashes. New inputs go to a scratch corpus, seeded from the committed one, so the committed
# corpus stays small; a crasher is left in fuzz/artifacts/<target>/ to be added by hand.
#
#   scripts/fuzz-campaign.sh [seconds per target, default 600] [target ...]
#   FUZZ_NICE=19 FUZZ_JOBS=1 scripts/fuzz-campaign.sh 600
set -uo pipefail
SECS=${1:-600}
shift || true
cd "$(dirname "$0")/../fuzz"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(ls fuzz_targets | sed 's/\.rs$//')
fi
NICE=${FUZZ_NICE:-0}
SCRATCH=${FUZZ_SCRATCH:-$(mktemp -d /tmp/kadnode-fuzz-XXXXXX)}
mkdir -p "$SCRATCH"
export RUSTC_BOOTSTRAP=1
nice -n "$NICE" cargo fuzz build --release >"$SCRATCH/build.log" 2>&1 || {
  echo "fuzz build failed; see $SCRATCH/build.log"; exit 2; }
printf '%-20s %8s %12s %8s %8s %8s %s\n' target seconds executions cov ft corpus result
failed=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t" "artifacts/$t"
  log="$SCRATCH/$t.log"
  nice -n "$NICE" cargo fuzz run --release "$t" "$SCRATCH/$t" "corpus/$t" -- \
    -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  line=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$line")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$line")
  if [ $rc -eq 0 ]; then result=clean; else result="FAILED (exit $rc, see $log)"; failed=1; fi
  printf '%-20s %8s %12s %8s %8s %8s %s\n' "$t" "$SECS" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $failed
