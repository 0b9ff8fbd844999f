#!/usr/bin/env bash
# Crash safety of a full node's data directory (`kadnode node --pex`): its key, the node
# database (nodes.sqlite), the PEX address book (pex-book.bin) and the dial memory
# (dial-memory.bin). N rounds (default 50); in each, the node starts, dials a hub node (a
# static peer that runs PEX and knows two more nodes, so answers carry records to store and
# dial), is pinged over discv4 by fresh identities, and is then killed at a random moment:
# half the rounds a SIGKILL 0-2 s after start; half a SIGTERM 1 s after start (the node then
# saves the book and the dial memory, 40-120 ms here) and a SIGKILL 0-100 ms after it, so
# that some kills land inside those saves. Every restart must: open each file or set it
# aside with exactly one warning, keep the key, and have an ENR seq that never decreases.
# The saved book must read back (`kadnode pex book`) after every kill, or be the one file
# set aside at the next start.
#
#   cargo build --release -p kadnode-cli && scripts/crash-kill-node.sh [rounds]
set -euo pipefail
ROUNDS=${1:-50}
BIN=${BIN:-target/release}
DIR=$(mktemp -d /tmp/kadnode-crash-node-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=$((20000 + RANDOM % 20000))

# Three helper nodes: a hub and two leaves the hub is connected to. Started from this shell
# (not a command substitution), so that the exit trap stops them.
start_helper() { # name port [static]; sets $started to its enode URL
  local name=$1 port=$2 static=${3:-}
  : >"$DIR/$name.out"
  "$BIN/kadnode" node --addr "127.0.0.1:$port" --pex --caps kadtest/1/2 \
    ${static:+--static "$static"} >"$DIR/$name.out" 2>"$DIR/$name.err" &
  for _ in $(seq 1 100); do grep -q '^enode://' "$DIR/$name.out" 2>/dev/null && break; sleep 0.05; done
  started=$(grep -m1 '^enode://' "$DIR/$name.out") || { echo "$name did not start"; cat "$DIR/$name.err"; exit 1; }
}
start_helper leaf1 $((PORT + 1)); leaf1=$started
start_helper leaf2 $((PORT + 2)); leaf2=$started
start_helper hub $((PORT + 3)) "$leaf1,$leaf2"; hub=$started

key="" seq=0
declare -A aside=([db]=0 [book]=0 [memory]=0) present=([book]=0 [memory]=0)
term_kills=0 clean_exits=0 plain_kills=0 sessions=0 book_entries=0 readable=0 unreadable=0
book_state=none # none | readable | damaged: the saved book as the last kill left it
for round in $(seq 1 "$ROUNDS"); do
  [ -f "$DIR/data/pex-book.bin" ] && present[book]=$((present[book] + 1))
  [ -f "$DIR/data/dial-memory.bin" ] && present[memory]=$((present[memory] + 1))
  # Empty the output files here: the background job's own redirection may truncate them only
  # after the checks below have read the previous round's lines.
  : >"$DIR/out"; : >"$DIR/err"
  "$BIN/kadnode" node --addr "127.0.0.1:$PORT" --datadir "$DIR/data" --pex --caps kadtest/1/2 \
    --static "$hub" >"$DIR/out" 2>"$DIR/err" &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^enr:' "$DIR/out" 2>/dev/null && break; sleep 0.05; done
  enode=$(grep -m1 '^enode://' "$DIR/out" || true)
  enr=$(grep -m1 '^enr:' "$DIR/out" || true)
  if [ -z "$enr" ]; then
    echo "round $round: no start within 30 s (running: $(kill -0 "$pid" 2>/dev/null && echo yes || echo no))"
    cat "$DIR/out" "$DIR/err"; ls -la "$DIR/data"; exit 1
  fi
  this_key=${enode%%@*}
  this_seq=$("$BIN/kadnode" --json enr decode "$enr" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p')
  [ -z "$key" ] && key=$this_key
  [ "$this_key" = "$key" ] || { echo "round $round: key changed"; exit 1; }
  [ "$this_seq" -ge "$seq" ] || { echo "round $round: seq went down $seq -> $this_seq"; exit 1; }
  seq=$this_seq
  # Traffic: discv4 pings from fresh identities (endpoint rows, records in the database)
  # while the node dials the hub, asks it for addresses and dials what it learns.
  for _ in 1 2 3; do "$BIN/kadnode" discv4 ping "$enode" >/dev/null 2>&1 & done
  if [ $((RANDOM % 2)) -eq 0 ]; then
    sleep "$(printf '%d.%03d' $((RANDOM % 2)) $((RANDOM % 1000)))"
    plain_kills=$((plain_kills + 1))
  else
    sleep 1
    kill -TERM "$pid" 2>/dev/null || true
    sleep "$(printf '0.%03d' $((RANDOM % 100)))"
    term_kills=$((term_kills + 1))
    kill -0 "$pid" 2>/dev/null || clean_exits=$((clean_exits + 1))
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -q '^peer added' "$DIR/out" && sessions=$((sessions + 1))
  # Exactly one warning per file at most, and only for a file that was set aside.
  db=$(grep -c 'moved it to' "$DIR/err" || true)
  book=$(grep -c 'address book set aside\|address book not loaded' "$DIR/err" || true)
  memory=$(grep -c 'dial memory not loaded' "$DIR/err" || true)
  for n in "$db" "$book" "$memory"; do
    [ "$n" -le 1 ] || { echo "round $round: $n warnings for one file"; cat "$DIR/err"; exit 1; }
  done
  # A book that read back is loaded without a word; a damaged one is set aside with one.
  case $book_state in
    readable) [ "$book" -eq 0 ] || { echo "round $round: a readable book was set aside"; cat "$DIR/err"; exit 1; } ;;
    damaged) [ "$book" -eq 1 ] || { echo "round $round: a damaged book was not set aside"; cat "$DIR/err"; exit 1; } ;;
  esac
  aside[db]=$((aside[db] + db)) aside[book]=$((aside[book] + book)) aside[memory]=$((aside[memory] + memory))
  # The book as the next start will read it (read only).
  book_state=none
  if [ -f "$DIR/data/pex-book.bin" ]; then
    if entries=$("$BIN/kadnode" --json pex book --datadir "$DIR/data" 2>"$DIR/book.err"); then
      book_state=readable readable=$((readable + 1))
      book_entries=$((book_entries + $(printf '%s' "$entries" | grep -o '"enr":' | wc -l)))
    else
      book_state=damaged unreadable=$((unreadable + 1))
      echo "round $round: the saved book does not read back: $(cat "$DIR/book.err")"
    fi
  fi
done
echo "crash-kill-node: $ROUNDS rounds ($plain_kills plain SIGKILLs, $term_kills SIGTERMs followed by a" \
  "SIGKILL, $clean_exits of which had finished shutting down before it)," \
  "key kept, ENR seq non-decreasing (last $seq); sessions with the hub in $sessions rounds;" \
  "pex-book.bin present at $((present[book])) starts, dial-memory.bin at $((present[memory]));" \
  "set aside: database ${aside[db]}, book ${aside[book]}, dial memory ${aside[memory]};" \
  "book read back after $readable kills ($book_entries entries in all), damaged after $unreadable"
