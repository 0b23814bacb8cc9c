#!/usr/bin/env bash
# make demo / make demo-stop: the bundled OSS emulator with sample data on
# 127.0.0.1, and ossmount mounted on ./mnt. Ctrl-C (or `make demo-stop`)
# unmounts and stops the emulator.
#
# Settings (environment; make passes its variables of the same names):
#   OSSEMU_PORT   the emulator's port (default 9000)
#   METRICS_PORT  the mount's Prometheus port (default 9464)
# and, for tests: OSSMOUNT and OSSEMU (the binaries, default ./bin/...),
# DEMO_DIR (where .demo and mnt go, default the repository).
#
# A failed start leaves no process and no mount behind.
set -euo pipefail
cd "$(dirname "$0")/.."
OSSMOUNT=${OSSMOUNT:-./bin/ossmount}
OSSEMU=${OSSEMU:-./bin/ossemu}
DEMO_DIR=$(realpath "${DEMO_DIR:-.}")
STATE=$DEMO_DIR/.demo
MNT=$DEMO_DIR/mnt
PORT=${OSSEMU_PORT:-9000}
METRICS=${METRICS_PORT:-9464}

stop() {
  if mountpoint -q "$MNT" 2>/dev/null; then umount "$MNT" 2>/dev/null || fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  if [ -f "$STATE/ossemu.pid" ]; then
    pid=$(cat "$STATE/ossemu.pid")
    kill "$pid" 2>/dev/null || true
    # Wait for it to go, so that a new start finds its port free.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$STATE/ossemu.pid"
  fi
  echo "demo stopped"
}

# in_use PORT: something on 127.0.0.1 accepts connections on PORT.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_taken() { # VARIABLE PORT
  local who="another program"
  [ "$2" = 9000 ] && who="another program (9000 is also MinIO's default)"
  echo "demo: port $2 on 127.0.0.1 is in use by $who." >&2
  echo "demo: choose a free one, e.g.: make demo $1=$(($2 + 100))" >&2
  exit 1
}

start() {
  mkdir -p "$STATE" "$MNT"
  if mountpoint -q "$MNT" 2>/dev/null || [ -f "$STATE/ossemu.pid" ]; then stop; fi
  in_use "$PORT" && port_taken OSSEMU_PORT "$PORT"
  in_use "$METRICS" && port_taken METRICS_PORT "$METRICS"
  # From here on, a failure stops what was started.
  trap 'status=$?; if [ "$status" -ne 0 ]; then stop >/dev/null; echo "demo: not started; nothing is left running" >&2; fi' EXIT
  "$OSSEMU" -addr "127.0.0.1:$PORT" -bucket demo -public -sample >"$STATE/ossemu.log" 2>&1 &
  echo $! >"$STATE/ossemu.pid"
  for _ in $(seq 100); do grep -q listening "$STATE/ossemu.log" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q listening "$STATE/ossemu.log"; then
    cat "$STATE/ossemu.log" >&2
    echo "demo: the emulator did not start; if port $PORT is taken, choose another: make demo OSSEMU_PORT=$((PORT + 100))" >&2
    exit 1
  fi
  if ! "$OSSMOUNT" demo "$MNT" -o "endpoint=http://127.0.0.1:$PORT,region=cn-hangzhou,anonymous,cache_dir=$STATE/cache,log_file=$STATE/ossmount.log,metrics_addr=127.0.0.1:$METRICS"; then
    echo "demo: the mount failed (a taken metrics port can be changed with: make demo METRICS_PORT=$((METRICS + 100)))" >&2
    exit 1
  fi
  trap - EXIT
  cat <<MSG

ossmount: bucket "demo" on the emulator at http://127.0.0.1:$PORT is mounted on $MNT
Try:
  ls -l $MNT $MNT/data
  find $MNT | head
  time cat $MNT/data/big-256M.bin > /dev/null     # cold: parallel ranged GETs
  time cat $MNT/data/big-256M.bin > /dev/null     # warm: page cache / block cache
  getfattr -n user.oss.etag $MNT/README.txt
  $OSSMOUNT stats $MNT                        # requests, 304s, cache hits
  $OSSMOUNT warm $MNT/data                    # prefetch into the cache
  $OSSMOUNT cache du $MNT                     # what is cached
  curl -s 127.0.0.1:$METRICS/metrics | grep ^ossmount_
  echo hi > $MNT/x                                 # read-only: EROFS
Logs: $STATE/ossmount.log   Cache: $STATE/cache
MSG
  if [ -t 0 ]; then
    echo "Press Ctrl-C here (or run 'make demo-stop' in another shell) to unmount and stop the emulator."
    trap 'echo; stop; exit 0' INT TERM
    while sleep 3600; do :; done
  else
    echo "The demo keeps running in the background; stop it with: make demo-stop"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
