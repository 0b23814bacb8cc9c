#!/usr/bin/env bash
# make demo / make demo-stop: the bundled OSS emulator with sample data on
# 127.0.0.1, and ossmount mounted on ./mnt. Ctrl-C (or `make demo-stop`)
# unmounts and stops the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.demo
MNT=$PWD/mnt
PORT=${OSSEMU_PORT:-9000}

stop() {
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  if [ -f "$STATE/ossemu.pid" ]; then
    kill "$(cat "$STATE/ossemu.pid")" 2>/dev/null || true
    rm -f "$STATE/ossemu.pid"
  fi
  echo "demo stopped"
}

start() {
  mkdir -p "$STATE" "$MNT"
  if mountpoint -q "$MNT" 2>/dev/null || [ -f "$STATE/ossemu.pid" ]; then stop; fi
  ./bin/ossemu -addr "127.0.0.1:$PORT" -bucket demo -public -sample >"$STATE/ossemu.log" 2>&1 &
  echo $! >"$STATE/ossemu.pid"
  for _ in $(seq 100); do grep -q listening "$STATE/ossemu.log" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$STATE/ossemu.log" || { cat "$STATE/ossemu.log"; stop; exit 1; }
  ./bin/ossmount demo "$MNT" -o "endpoint=http://127.0.0.1:$PORT,region=cn-hangzhou,anonymous,cache_dir=$PWD/$STATE/cache,log_file=$PWD/$STATE/ossmount.log,metrics_addr=127.0.0.1:${METRICS_PORT:-9464}"
  cat <<MSG

ossmount: bucket "demo" on the emulator at http://127.0.0.1:$PORT is mounted on $MNT
Try:
  ls -l $MNT $MNT/data
  find $MNT | head
  time cat $MNT/data/big-256M.bin > /dev/null     # cold: parallel ranged GETs
  time cat $MNT/data/big-256M.bin > /dev/null     # warm: page cache / block cache
  getfattr -d $MNT/README.txt
  ./bin/ossmount stats $MNT                        # requests, 304s, cache hits
  ./bin/ossmount warm $MNT/data                    # prefetch into the cache
  ./bin/ossmount cache du $MNT                     # what is cached
  curl -s 127.0.0.1:${METRICS_PORT:-9464}/metrics | grep ^ossmount_
  echo hi > $MNT/x                                 # read-only: EROFS
Logs: $STATE/ossmount.log   Cache: $STATE/cache
Press Ctrl-C here (or run 'make demo-stop') to unmount and stop the emulator.
MSG
  trap 'echo; stop; exit 0' INT TERM
  if [ -t 0 ]; then while sleep 3600; do :; done; fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
