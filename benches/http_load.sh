#!/usr/bin/env bash
# HTTP load benchmark for `veza serve` (release build, embedded SQLite, loopback only).
#
# Measures:
#   1. memory of the server process (VmRSS and peak VmHWM from /proc/PID/status): idle, right
#      after it starts accepting connections, and again after each load phase;
#   2. requests/s and latency (p50/p99) of `GET /api/v1/auth/me` with a bearer token;
#   3. requests/s and latency (p50/p99) of `POST /api/v1/auth/login`, which is bound by
#      Argon2id by design (m=19 MiB, t=2): expect tens of requests/s per core, not thousands.
#
# Run from anywhere:
#   bash benches/http_load.sh
#
# It builds `cargo build --release -p veza-cli` into $CARGO_TARGET_DIR (default
# /var/tmp/veza-target), starts `veza serve` on 127.0.0.1 with a free port and a fresh temporary
# data directory (every VEZA_* variable from the caller is ignored), registers one account and
# drives it with wrk (installed with apt-get when missing). The server and the temporary files
# are removed on exit.
#
# Knobs (environment):
#   BENCH_SECONDS=10        duration of each wrk run
#   BENCH_THREADS=1         wrk threads for both runs
#   BENCH_ME_CONNS=16       wrk connections for GET /me
#   BENCH_LOGIN_CONNS=4     wrk connections for POST /login
#   BENCH_READY_TIMEOUT=30  seconds to wait for the `listening on` line
#
# Client and server share the machine's cores, so figures are for comparing runs on the same
# host, not absolute capacity. Any non-2xx response or socket error marks the run as failed
# (exit status 1, after the summary).
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_ME_CONNS=${BENCH_ME_CONNS:-16}
BENCH_LOGIN_CONNS=${BENCH_LOGIN_CONNS:-4}
BENCH_READY_TIMEOUT=${BENCH_READY_TIMEOUT:-30}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/veza-target}

BENCH_USER=bench
BENCH_PASSWORD='correct horse battery staple'

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'http_load: %s\n' "$*" >&2; exit 1; }

for knob in BENCH_SECONDS BENCH_THREADS BENCH_ME_CONNS BENCH_LOGIN_CONNS BENCH_READY_TIMEOUT; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, got '${!knob}'"
done
((BENCH_ME_CONNS >= BENCH_THREADS && BENCH_LOGIN_CONNS >= BENCH_THREADS)) ||
    die "wrk needs at least as many connections as threads"

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=benches/lib.sh
source "$repo_root/benches/lib.sh"

# --- cleanup ------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/veza-bench.XXXXXX")
server_pid=

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local status=$?
    bench_stop "$server_pid" "veza serve"
    rm -rf -- "$tmp"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools --------------------------------------------------------------------------------
command -v curl >/dev/null || die "curl is required"
bench_require wrk
command -v wrk >/dev/null || die "wrk is not available"

# --- build --------------------------------------------------------------------------------
bench_build

# --- helpers ------------------------------------------------------------------------------
# "VmRSS VmHWM" of the server, in kB.
mem_kb() {
    awk '$1 == "VmRSS:" { rss = $2 } $1 == "VmHWM:" { hwm = $2 } END { print rss, hwm }' \
        "/proc/$server_pid/status"
}


# Runs wrk with a hard time bound; output goes to $1, and is echoed to stderr.
run_wrk() {
    local out=$1
    shift
    timeout --signal=INT --kill-after=10 $((BENCH_SECONDS + 60)) wrk "$@" >"$out"
    cat "$out" >&2
}

# Turns a wrk output file into "req/s p50 p99 non2xx socket_errors" (latencies in ms).
parse_wrk() {
    awk '
        function ms(v,   n, unit) {
            n = v + 0
            unit = v
            sub(/^[0-9.]+/, "", unit)
            if (unit == "us") return n / 1000
            if (unit == "ms") return n
            if (unit == "s") return n * 1000
            if (unit == "m") return n * 60000
            if (unit == "h") return n * 3600000
            return -1
        }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) errors += $i + 0
        }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %s %s %d %d\n", rps, p50, p99, non2xx + 0, errors + 0
        }
    ' "$1"
}

# "METHOD PATH: N req/s, p50 X ms, p99 Y ms (wrk -tT -cC, S s)", flagged when anything failed.
summarize() {
    local label=$1 file=$2 conns=$3 rps p50 p99 non2xx errors line
    read -r rps p50 p99 non2xx errors < <(parse_wrk "$file") || die "cannot parse wrk output for $label"
    line=$(awk -v l="$label" -v r="$rps" -v a="$p50" -v b="$p99" \
        -v t="$BENCH_THREADS" -v c="$conns" -v s="$BENCH_SECONDS" '
        function fmt_ms(x) { return x < 10 ? sprintf("%.2f", x) : sprintf("%.1f", x) }
        BEGIN {
            printf "%s: %s req/s, p50 %s ms, p99 %s ms (wrk -t%s -c%s, %s s)", l,
                (r >= 100 ? sprintf("%.0f", r) : sprintf("%.1f", r)), fmt_ms(a), fmt_ms(b), t, c, s
        }')
    if ((non2xx > 0 || errors > 0)); then
        line+=" [FAILED: $non2xx non-2xx, $errors socket errors]"
    fi
    printf '%s\n' "$line"
}

# --- start the server ---------------------------------------------------------------------
# RUST_LOG as the caller has it.
bench_start_veza "${RUST_LOG:-}"

read -r idle_rss idle_hwm < <(mem_kb)

# --- account and sanity checks ------------------------------------------------------------
curl_json() { # METHOD PATH BODY OUTFILE -> prints the HTTP status
    curl -sS --max-time 30 -o "$4" -w '%{http_code}' -X "$1" \
        -H 'Content-Type: application/json' --data "$3" "$base$2"
}

login_body=$(printf '{"login":"%s","password":"%s"}' "$BENCH_USER" "$BENCH_PASSWORD")
token=$(bench_register "$BENCH_USER" "$BENCH_PASSWORD")

status=$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$base/api/v1/auth/me")
[[ $status == 200 ]] || die "GET /api/v1/auth/me returned $status"
status=$(curl_json POST /api/v1/auth/login "$login_body" "$tmp/login.json")
[[ $status == 200 ]] || die "login returned $status: $(cat "$tmp/login.json")"

# --- load ---------------------------------------------------------------------------------
cat >"$tmp/login.lua" <<EOF
wrk.method = "POST"
wrk.body = '$login_body'
wrk.headers["Content-Type"] = "application/json"
EOF

log "GET /api/v1/auth/me: wrk -t$BENCH_THREADS -c$BENCH_ME_CONNS -d${BENCH_SECONDS}s"
run_wrk "$tmp/me.txt" -t"$BENCH_THREADS" -c"$BENCH_ME_CONNS" -d"${BENCH_SECONDS}s" --latency \
    -H "Authorization: Bearer $token" "$base/api/v1/auth/me"
read -r me_rss me_hwm < <(mem_kb)

log "POST /api/v1/auth/login: wrk -t$BENCH_THREADS -c$BENCH_LOGIN_CONNS -d${BENCH_SECONDS}s"
run_wrk "$tmp/login.txt" -t"$BENCH_THREADS" -c"$BENCH_LOGIN_CONNS" -d"${BENCH_SECONDS}s" --latency \
    --timeout 30s -s "$tmp/login.lua" "$base/api/v1/auth/login"
read -r end_rss end_hwm < <(mem_kb)

# --- summary ------------------------------------------------------------------------------
me_line=$(summarize "GET /api/v1/auth/me" "$tmp/me.txt" "$BENCH_ME_CONNS")
login_line=$(summarize "POST /api/v1/auth/login" "$tmp/login.txt" "$BENCH_LOGIN_CONNS")
failed=0
if [[ $me_line == *FAILED* || $login_line == *FAILED* ]]; then
    failed=1
fi

printf '\n== veza serve (%s, %s CPU(s), %s) ==\n' \
    "$(git -C "$repo_root" rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(nproc)" "$(date -u +%FT%TZ)"
printf 'idle RSS: %s (peak %s)\n' "$(mib "$idle_rss")" "$(mib "$idle_hwm")"
printf '%s\n' "$me_line"
printf 'RSS after GET load: %s (peak %s)\n' "$(mib "$me_rss")" "$(mib "$me_hwm")"
printf '%s\n' "$login_line"
printf 'RSS after load: %s (peak %s)\n' "$(mib "$end_rss")" "$(mib "$end_hwm")"

exit "$failed"
