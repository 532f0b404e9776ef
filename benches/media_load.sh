#!/usr/bin/env bash
# Media load benchmark: how fast `veza serve` (release build, embedded SQLite, local blobs,
# loopback only) takes in and serves a large track, next to nginx serving the same file.
#
# Measures:
#   1. upload: one multipart `POST /api/v1/tracks` of a generated WAV (BENCH_FILE_MIB, default
#      500 MiB, the default upload limit), in MB/s (10^6 bytes), then the wait until the
#      track is `ready` (the server's own job runner analyses it);
#   2. whole-file `GET /api/v1/tracks/{id}/stream` with curl -o /dev/null, BENCH_RUNS runs,
#      median MB/s; the same for nginx serving the stored file itself (same inode, so the same
#      page cache);
#   3. 64 KiB `Range` requests at random 64 KiB-aligned offsets with wrk, requests/s, against
#      both servers in alternating rounds (veza, nginx, veza, …; BENCH_RANGE_ROUNDS each), so
#      a slow spell of the shared machine lands on both; the medians are compared;
#   4. the server's memory (VmRSS sampled every 0.2 s from /proc/PID/status, and VmHWM):
#      before the upload, after it, peak while serving, and growth over the whole run.
#
# Targets (printed with each figure): whole-file MB/s >= 90% of nginx, range requests/s >= 60%
# of nginx, RSS growth < 64 MiB. Exit status 1 if a target is missed or anything failed (a
# wrong status or size, a wrk socket error), after the summary.
#
# Run from anywhere:
#   bash benches/media_load.sh
#
# It builds `cargo build --release -p veza-cli` into $CARGO_TARGET_DIR (default
# /var/tmp/veza-target), starts `veza serve` on 127.0.0.1 with a free port and a fresh temporary
# data directory (every VEZA_* variable from the caller is ignored), and nginx (`daemon off`,
# one temporary config, 127.0.0.1 only). wrk and nginx are installed with apt-get when
# missing. Both servers and the temporary files (about 2 x BENCH_FILE_MIB) go on exit.
#
# Knobs (environment):
#   BENCH_FILE_MIB=500        size of the generated WAV
#   BENCH_RUNS=5              whole-file downloads per server (median reported)
#   BENCH_SECONDS=10          duration of each wrk run
#   BENCH_RANGE_ROUNDS=3      wrk runs per server for the ranges (median reported)
#   BENCH_THREADS=1           wrk threads
#   BENCH_CONNS=8             wrk connections
#   BENCH_READY_TIMEOUT=30    seconds to wait for either server to listen
#   BENCH_PROCESS_TIMEOUT=600 seconds to wait for the track to be `ready`
#   BENCH_RUST_LOG=           RUST_LOG for veza; empty: its default (info: a line per request,
#                             as nginx's access log writes one); `warn` shows what logging costs
#
# Client and servers share the machine's cores, so figures are for comparing the two servers
# (and runs) on the same host, not absolute capacity.
set -euo pipefail

BENCH_FILE_MIB=${BENCH_FILE_MIB:-500}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_RANGE_ROUNDS=${BENCH_RANGE_ROUNDS:-3}
BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_CONNS=${BENCH_CONNS:-8}
BENCH_READY_TIMEOUT=${BENCH_READY_TIMEOUT:-30}
BENCH_PROCESS_TIMEOUT=${BENCH_PROCESS_TIMEOUT:-600}
BENCH_RUST_LOG=${BENCH_RUST_LOG:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/veza-target}

RANGE_BYTES=65536
BENCH_PASSWORD='correct horse battery staple'

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'media_load: %s\n' "$*" >&2; exit 1; }

for knob in BENCH_FILE_MIB BENCH_RUNS BENCH_SECONDS BENCH_RANGE_ROUNDS BENCH_THREADS BENCH_CONNS \
    BENCH_READY_TIMEOUT BENCH_PROCESS_TIMEOUT; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done
((BENCH_CONNS >= BENCH_THREADS)) || die "wrk needs at least as many connections as threads"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/lib.sh
source "$repo_root/benches/lib.sh"

# --- cleanup ------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/veza-media-bench.XXXXXX")
server_pid=
nginx_pid=
sampler_pid=

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    bench_stop "$sampler_pid" "RSS sampler"
    bench_stop "$nginx_pid" nginx
    bench_stop "$server_pid" "veza serve"
    rm -rf -- "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools --------------------------------------------------------------------------------
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required (it writes the WAV)"
bench_require wrk nginx
command -v wrk >/dev/null || die "wrk is not available"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $nginx_bin ]] || die "nginx is not available"

# --- build --------------------------------------------------------------------------------
bench_build

# --- helpers ------------------------------------------------------------------------------
mbps() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1e6 }'; }
percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# A free loopback TCP port (bound and released: another process could take it meanwhile,
# in which case nginx fails to start and says so).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 accepts connections, or fails naming $2.
wait_listening() {
    local port=$1 name=$2 pid=$3 deadline=$((SECONDS + BENCH_READY_TIMEOUT))
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$name exited before listening"
        ((SECONDS < deadline)) || die "$name not listening on $port within ${BENCH_READY_TIMEOUT} s"
        sleep 0.05
    done
}

# Whole-file downloads of $1, $BENCH_RUNS times: prints the median bytes/s.
full_file_speed() {
    local url=$1 code size speed run
    for ((run = 0; run < BENCH_RUNS; run++)); do
        read -r code size speed < <(curl -sS --max-time 600 -o /dev/null \
            -w '%{http_code} %{size_download} %{speed_download}\n' "$url")
        [[ $code == 200 && $size == "$file_bytes" ]] ||
            die "GET $url: status $code, $size bytes (want 200, $file_bytes)"
        log "  run $((run + 1)): $(mbps "$speed") MB/s"
        printf '%s\n' "$speed"
    done | median
}

# Checks that a 64 KiB range of $1 is a 206 of 64 KiB.
check_range() {
    local url=$1 code size
    read -r code size < <(curl -sS --max-time 30 -o /dev/null -H "Range: bytes=65536-131071" \
        -w '%{http_code} %{size_download}\n' "$url")
    [[ $code == 206 && $size == "$RANGE_BYTES" ]] ||
        die "ranged GET $url: status $code, $size bytes (want 206, $RANGE_BYTES)"
}

# wrk with random 64 KiB ranges against $1; prints "req/s socket_errors non2xx".
range_rate() {
    local url=$1 out=$2
    timeout --signal=INT --kill-after=10 $((BENCH_SECONDS + 60)) \
        wrk -t"$BENCH_THREADS" -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$tmp/range.lua" "$url" >"$out"
    cat "$out" >&2
    awk '
        $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) errors += $i + 0 }
        END { if (rps == "") exit 1; printf "%s %d %d\n", rps, errors + 0, non2xx + 0 }
    ' "$out"
}

# --- the file -----------------------------------------------------------------------------
file_bytes=$((BENCH_FILE_MIB * 1024 * 1024))
wav=$tmp/bench.wav
log "writing a ${BENCH_FILE_MIB} MiB WAV"
python3 - "$wav" "$file_bytes" <<'EOF'
import os, struct, sys
path, total = sys.argv[1], int(sys.argv[2])
data = total - 44
rate, channels, bits = 44100, 2, 16
header = b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " + struct.pack(
    "<IHHIIHH", 16, 1, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits
) + b"data" + struct.pack("<I", data)
block = os.urandom(1 << 20)  # noise, so nothing downstream could compress it away
with open(path, "wb") as f:
    f.write(header)
    left = data
    while left:
        n = min(left, len(block))
        f.write(block[:n])
        left -= n
EOF
[[ $(stat -c %s "$wav") == "$file_bytes" ]] || die "the WAV is not $file_bytes bytes"

# --- start veza ---------------------------------------------------------------------------
# By default every request is logged, as nginx's are below.
bench_start_veza "$BENCH_RUST_LOG"

# VmRSS in kB every 0.2 s, one line each, until the server goes.
(
    while [[ -r /proc/$server_pid/status ]]; do
        awk '$1 == "VmRSS:" { print $2 }' "/proc/$server_pid/status" 2>/dev/null || true
        sleep 0.2
    done
) >"$tmp/rss.log" &
sampler_pid=$!
rss_now() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$server_pid/status"; }
rss_peak_since() { tail -n +"$1" "$tmp/rss.log" | sort -n | tail -n 1; }
rss_mark() { wc -l <"$tmp/rss.log"; }

# --- account ------------------------------------------------------------------------------
token=$(bench_register bench "$BENCH_PASSWORD")

rss_before=$(rss_now)

# --- upload -------------------------------------------------------------------------------
log "uploading $(mib $((file_bytes / 1024)))"
read -r status upload_speed < <(curl -sS --max-time 900 -o "$tmp/track.json" \
    -w '%{http_code} %{speed_upload}\n' -H "Authorization: Bearer $token" \
    -F title=Bench -F "file=@$wav;type=audio/wav" "$base/api/v1/tracks")
[[ $status == 201 ]] || die "upload returned $status: $(cat "$tmp/track.json")"
track_id=$(sed -n 's/^{"id":"\([^"]*\)".*/\1/p' "$tmp/track.json")
[[ -n $track_id ]] || die "no id in the upload response: $(cat "$tmp/track.json")"
log "upload: $(mbps "$upload_speed") MB/s; track $track_id"

deadline=$((SECONDS + BENCH_PROCESS_TIMEOUT))
while :; do
    curl -sS --max-time 30 -o "$tmp/track.json" "$base/api/v1/tracks/$track_id" \
        -H "Authorization: Bearer $token"
    grep -q '"status":"ready"' "$tmp/track.json" && break
    grep -q '"status":"failed"' "$tmp/track.json" && die "processing failed: $(cat "$tmp/track.json")"
    ((SECONDS < deadline)) || die "track not ready within ${BENCH_PROCESS_TIMEOUT} s"
    sleep 0.2
done
log "track ready"
rss_after_upload=$(rss_now)
serving_mark=$(rss_mark)

# --- nginx over the stored blob -----------------------------------------------------------
blob=$(find "$tmp/data/blobs/tracks" -type f -name '*.wav' | head -n 1)
[[ -n $blob ]] || die "no stored original under $tmp/data/blobs/tracks"
cmp -s "$blob" "$wav" || die "the stored original differs from the upload"
nginx_port=$(free_port)
mkdir -p "$tmp/nginx/logs"
# The worker runs as the caller (the blob directory is owner-only); nginx ignores `user`
# when not started as root.
cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
user $(id -un) $(id -gn);
worker_processes auto;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log $tmp/nginx/logs/access.log;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    types { audio/wav wav; }
    server {
        listen 127.0.0.1:$nginx_port;
        location = /bench.wav { alias $blob; }
    }
}
EOF
log "starting nginx on 127.0.0.1:$nginx_port"
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" \
    >"$tmp/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_listening "$nginx_port" nginx "$nginx_pid"

veza_url=$base/api/v1/tracks/$track_id/stream
nginx_url=http://127.0.0.1:$nginx_port/bench.wav
check_range "$veza_url"
check_range "$nginx_url"

# --- whole file ---------------------------------------------------------------------------
log "whole file, veza ($BENCH_RUNS runs)"
veza_full=$(full_file_speed "$veza_url")
log "whole file, nginx ($BENCH_RUNS runs)"
nginx_full=$(full_file_speed "$nginx_url")

# --- 64 KiB ranges ------------------------------------------------------------------------
cat >"$tmp/range.lua" <<EOF
-- A random 64 KiB-aligned range of the file per request.
local size, chunk = $file_bytes, $RANGE_BYTES
math.randomseed(42)
request = function()
    local start = math.random(0, math.floor(size / chunk) - 1) * chunk
    return wrk.format(nil, nil, { ["Range"] = "bytes=" .. start .. "-" .. (start + chunk - 1) })
end
EOF
veza_errors=0 veza_non2xx=0 nginx_errors=0 nginx_non2xx=0
: >"$tmp/rps-veza.txt"
: >"$tmp/rps-nginx.txt"
for ((round = 1; round <= BENCH_RANGE_ROUNDS; round++)); do
    for server in veza nginx; do
        url_var=${server}_url
        log "64 KiB ranges, $server, round $round of $BENCH_RANGE_ROUNDS:" \
            "wrk -t$BENCH_THREADS -c$BENCH_CONNS -d${BENCH_SECONDS}s"
        read -r rps errors non2xx < <(range_rate "${!url_var}" "$tmp/wrk-$server.txt") ||
            die "cannot parse wrk output ($server)"
        printf '%s\n' "$rps" >>"$tmp/rps-$server.txt"
        declare "${server}_errors=$((${server}_errors + errors))"
        declare "${server}_non2xx=$((${server}_non2xx + non2xx))"
    done
    log "  round $round: veza $(tail -n 1 "$tmp/rps-veza.txt") req/s," \
        "nginx $(tail -n 1 "$tmp/rps-nginx.txt") req/s"
done
veza_rps=$(median <"$tmp/rps-veza.txt")
nginx_rps=$(median <"$tmp/rps-nginx.txt")

sleep 0.3 # one more RSS sample after the last request
rss_serving_peak=$(rss_peak_since "$serving_mark")
rss_peak=$(rss_peak_since 1)
hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$server_pid/status")
((hwm > rss_peak)) && rss_peak=$hwm
rss_growth=$((rss_peak - rss_before))

# --- summary ------------------------------------------------------------------------------
failed=0
verdict() { # OK when $1 is true (awk expression), else MISS and the run fails
    if awk "BEGIN { exit !($1) }"; then echo ok; else echo MISS; fi
}
full_pct=$(percent "$veza_full" "$nginx_full")
range_pct=$(percent "$veza_rps" "$nginx_rps")
full_ok=$(verdict "$full_pct >= 90")
range_ok=$(verdict "$range_pct >= 60")
rss_ok=$(verdict "$rss_growth < 64 * 1024")
for v in "$full_ok" "$range_ok" "$rss_ok"; do [[ $v == ok ]] || failed=1; done
errors=""
if ((veza_errors + veza_non2xx + nginx_errors + nginx_non2xx > 0)); then
    errors=" [FAILED: veza $veza_errors socket errors, $veza_non2xx non-2xx; nginx $nginx_errors, $nginx_non2xx]"
    failed=1
fi

printf '\n== media load: veza serve vs nginx %s (%s, %s CPU(s), %s) ==\n' \
    "$("$nginx_bin" -v 2>&1 | sed 's|.*/||')" \
    "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" \
    "$(date -u +%FT%TZ)"
printf 'file: %s MiB WAV; MB = 10^6 bytes; veza RUST_LOG=%s\n' "$BENCH_FILE_MIB" "${BENCH_RUST_LOG:-(default)}"
printf '%-44s %12s %12s %8s  %s\n' "" veza nginx "ratio" "target"
printf '%-44s %12s %12s %8s  %s\n' "upload, multipart POST (curl)" "$(mbps "$upload_speed") MB/s" - - -
printf '%-44s %12s %12s %7s%%  %s\n' "whole file (curl, median of $BENCH_RUNS)" \
    "$(mbps "$veza_full") MB/s" "$(mbps "$nginx_full") MB/s" "$full_pct" ">= 90% $full_ok"
printf '%-44s %12s %12s %7s%%  %s\n' \
    "64 KiB ranges (wrk -c$BENCH_CONNS, median of $BENCH_RANGE_ROUNDS)" \
    "$(printf '%.0f' "$veza_rps") req/s" "$(printf '%.0f' "$nginx_rps") req/s" "$range_pct" \
    ">= 60% $range_ok$errors"
printf 'veza RSS: before upload %s, after upload %s, peak while serving %s, peak %s, growth %s  (< 64 MiB %s)\n' \
    "$(mib "$rss_before")" "$(mib "$rss_after_upload")" "$(mib "$rss_serving_peak")" \
    "$(mib "$rss_peak")" "$(mib "$rss_growth")" "$rss_ok"

exit "$failed"
