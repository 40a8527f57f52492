#!/bin/bash
# Usage (root not needed): benches/rtpgen/memory-per-call.sh STREAMS PPS  (STREAMS/2 two-way calls, two rounds)
# RSS of a bare relay node before calls, with N calls set up by rtpgen, and after they end.
set -u
BIN=${BIN:-target/release}
NG=127.0.0.1:22990
$BIN/ferrovox media --ng $NG --interface 127.0.0.1 --rtp-ports 30000-59999 --admin 127.0.0.1:29091 > /dev/null 2>&1 &
PID=$!
sleep 2
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
echo "idle_kb $(rss)"
$BIN/rtpgen run --ng $NG --streams $1 --pps $2 --duration 12 > /dev/null 2>&1 &
GEN=$!
sleep 9
echo "calls_kb $(rss)"
wait $GEN
$BIN/rtpgen run --ng $NG --streams $1 --pps $2 --duration 12 > /dev/null 2>&1 &
GEN=$!; sleep 9; echo "calls2_kb $(rss)"; wait $GEN
sleep 1
echo "after_kb $(rss)"
kill $PID; wait $PID 2>/dev/null
