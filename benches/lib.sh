# Shared by the benchmark scripts (sourced, not run). The caller defines `log` and `die`,
# sets `tmp` (a scratch directory it removes) and `repo_root`, and exports CARGO_TARGET_DIR.
# shellcheck shell=bash

# Stops one process we started: TERM, up to 10 s, then KILL.
bench_stop() {
    local pid=$1 name=$2 waited=0
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        printf '%s (%s) ignored SIGTERM for 10 s, sending SIGKILL\n' "$name" "$pid" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Installs the Debian packages named whose command is missing (the argument is both).
bench_require() {
    local missing=() tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
    done
    ((${#missing[@]})) || return 0
    log "installing ${missing[*]}"
    apt-get install -y "${missing[@]}" >&2 || { apt-get update >&2 && apt-get install -y "${missing[@]}" >&2; }
}

# Builds the release `veza` into $CARGO_TARGET_DIR and sets `bin` to it.
bench_build() {
    log "building veza-cli (release) into $CARGO_TARGET_DIR"
    (cd "$repo_root" && cargo build --release -p veza-cli)
    bin=$CARGO_TARGET_DIR/release/veza
    [[ -x $bin ]] || die "$bin was not built"
}

# Starts `$bin serve` on a free loopback port over a fresh $tmp/data, with no VEZA_* from the
# caller and no ./veza.toml (cwd is $tmp), and RUST_LOG=$1 (empty: its default). Sets
# `server_pid` and `base`; waits up to BENCH_READY_TIMEOUT seconds for `listening on`.
bench_start_veza() {
    local rust_log=$1 deadline
    mkdir "$tmp/data"
    log "starting $bin serve"
    (
        cd "$tmp"
        while read -r var; do unset "$var"; done < <(compgen -e | grep '^VEZA_' || true)
        if [[ -n $rust_log ]]; then export RUST_LOG=$rust_log; else unset RUST_LOG; fi
        export VEZA_LISTEN=127.0.0.1:0 VEZA_DATA_DIR="$tmp/data"
        exec "$bin" serve
    ) >"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    deadline=$((SECONDS + BENCH_READY_TIMEOUT))
    base=
    until base=$(sed -n 's|^listening on \(http://127\.0\.0\.1:[0-9][0-9]*\)$|\1|p' "$tmp/server.out") &&
        [[ -n $base ]]; do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -n 20 "$tmp/server.err" >&2 || true
            die "veza serve exited before listening"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$tmp/server.err" >&2 || true
            die "no 'listening on' line within ${BENCH_READY_TIMEOUT} s"
        fi
        sleep 0.05
    done
    [[ $(cat "/proc/$server_pid/comm") == veza ]] || die "pid $server_pid is not the veza process"
    log "veza pid $server_pid listening on $base"
}

# Registers the account $1 (password $2) and prints its access token.
bench_register() {
    local user=$1 password=$2 status
    status=$(curl -sS --max-time 30 -o "$tmp/register.json" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' \
        --data "{\"email\":\"$user@example.com\",\"username\":\"$user\",\"password\":\"$password\"}" \
        "$base/api/v1/auth/register")
    [[ $status == 201 ]] || die "register returned $status: $(cat "$tmp/register.json")"
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' "$tmp/register.json" | grep . ||
        die "no access_token in the register response"
}

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f MiB", kb / 1024 }'; }
