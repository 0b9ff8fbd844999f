#!/usr/bin/env bash
# Crash safety of the bootnode's data directory: SIGKILL it at random moments while a second
# node keeps pinging it (so it writes endpoint rows and records), N rounds (default 50).
# Every restart must: open the database (or set it aside with exactly one warning), keep its
# key, and have an ENR seq that never decreases.
#
#   cargo build --release -p kadnode-cli && scripts/crash-kill.sh [rounds]
set -euo pipefail
ROUNDS=${1:-50}
BIN=${BIN:-target/release}
DIR=$(mktemp -d /tmp/kadnode-crash-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=$((20000 + RANDOM % 20000))
key="" seq=0 warned=0 opened=0
for round in $(seq 1 "$ROUNDS"); do
  # Empty the output files here: the background job's own redirection may truncate them only
  # after the checks below have read the previous round's lines.
  : >"$DIR/out"; : >"$DIR/err"
  "$BIN/bootnode" --addr "127.0.0.1:$PORT" --datadir "$DIR/data" >"$DIR/out" 2>"$DIR/err" &
  pid=$!
  for _ in $(seq 1 100); do grep -q '^enr:' "$DIR/out" 2>/dev/null && break; sleep 0.05; done
  enode=$(grep -m1 '^enode://' "$DIR/out" || true)
  enr=$(grep -m1 '^enr:' "$DIR/out" || true)
  if [ -z "$enr" ]; then echo "round $round: no start"; cat "$DIR/err"; exit 1; fi
  this_key=${enode%%@*}
  this_seq=$("$BIN/kadnode" --json enr decode "$enr" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
  [ -z "$key" ] && key=$this_key
  [ "$this_key" = "$key" ] || { echo "round $round: key changed"; exit 1; }
  [ "$this_seq" -ge "$seq" ] || { echo "round $round: seq went down $seq -> $this_seq"; exit 1; }
  seq=$this_seq
  n=$(grep -c 'moved it to' "$DIR/err" || true)
  [ "$n" -le 1 ] || { echo "round $round: $n warnings"; exit 1; }
  warned=$((warned + n)); opened=$((opened + 1 - n))
  # Traffic: a few pings from fresh identities make the node write, then a kill at a random moment.
  for _ in 1 2 3; do "$BIN/kadnode" discv4 ping "$enode" >/dev/null 2>&1 & done
  sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
done
echo "crash-kill: $ROUNDS rounds, key kept, ENR seq non-decreasing (last $seq), database opened $opened times, set aside $warned times"
