#!/usr/bin/env bash
# Runs free-audio's clap-validator on the CLAP bundle and prints a one-line summary
# (passed / failed / skipped / crashed / warnings); exits non-zero if any test failed or crashed.
#
#   scripts/clap-validator.sh [--load [N]] [--json FILE] [VALIDATOR] [BUNDLE] [-- VALIDATOR-ARGS...]
#
# VALIDATOR: the clap-validator binary (else $CLAP_VALIDATOR). It is not part of this
# repository; build it from source once, e.g.
#   git clone https://github.com/free-audio/clap-validator && cd clap-validator
#   nice -n 10 cargo build --release      # -> target/release/clap-validator
# BUNDLE: the .clap file, default target/bundled/Danna-Sep.clap (`cargo xtask bundle danna-sep`).
# --load [N]: keeps N busy-loop processes (default: one per core) running for the whole
#   validation, to reproduce a machine under load: the validator gives each test 45 s and
#   runs one test per core at a time.
# --json FILE: keeps the validator's JSON report (default: a temporary file, removed).
# After `--`: passed to `clap-validator validate` as is, e.g. `-- -t '^param-fuzz'` (only the
#   tests matching a regular expression), `-j 1` (one test at a time), `--in-process` (no
#   45 s timeout, and no crash isolation).
# The failed and crashed tests are listed on stderr with the first line of their details.
set -euo pipefail

load=0
json=""
positional=()
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --load)
            if [[ $# -gt 1 && "$2" =~ ^[0-9]+$ ]]; then
                load="$2"
                shift
            else
                load="$(nproc)"
            fi
            ;;
        --json)
            json="${2:?--json needs a file}"
            shift
            ;;
        --)
            shift
            extra=("$@")
            break
            ;;
        -h | --help)
            sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) positional+=("$1") ;;
    esac
    shift
done

validator="${positional[0]:-${CLAP_VALIDATOR:-}}"
bundle="${positional[1]:-target/bundled/Danna-Sep.clap}"
if [[ -z "$validator" ]]; then
    echo "error: no clap-validator binary (pass its path or set CLAP_VALIDATOR)" >&2
    exit 2
fi
if [[ ! -x "$validator" ]]; then
    echo "error: $validator is not an executable" >&2
    exit 2
fi
if [[ ! -f "$bundle" ]]; then
    echo "error: no CLAP bundle at $bundle (build it with: cargo xtask bundle danna-sep)" >&2
    exit 2
fi

report="$json"
if [[ -z "$report" ]]; then
    report="$(mktemp --suffix=.json)"
fi
log="$(mktemp --suffix=.log)"
busy=()
cleanup() {
    # Only the busy loops this script started, by their ids.
    for pid in "${busy[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    if [[ -z "$json" ]]; then
        rm -f "$report"
    fi
    rm -f "$log"
}
trap cleanup EXIT

for ((i = 0; i < load; i++)); do
    (while :; do :; done) &
    busy+=("$!")
done

started=$SECONDS
status=0
# Its log (and the plugin's) is shown only when it wrote no report; its exit status is
# non-zero when a test failed, which the summary below reports, so it is not fatal here.
"$validator" validate --json "${extra[@]}" "$bundle" >"$report" 2>"$log" || status=$?
elapsed=$((SECONDS - started))
if [[ ! -s "$report" ]]; then
    tail -n 20 "$log" >&2
    echo "error: clap-validator exited with status $status and wrote no report" >&2
    exit 2
fi

python3 - "$report" "$bundle" "$load" "$elapsed" <<'EOF'
import json
import sys

report, bundle, load, elapsed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
results = json.load(open(report))["results"]
counts = {code: 0 for code in ("success", "failed", "skipped", "crashed", "warning")}
bad = []
for r in results:
    code = r["status"]["code"]
    counts[code] = counts.get(code, 0) + 1
    if code in ("failed", "crashed", "warning"):
        name = next(iter(r["test"].values()))["test"]
        details = (r["status"].get("details") or "").strip().splitlines()
        bad.append(f"  {code}: {name}: {details[0] if details else ''}")
for line in bad:
    print(line, file=sys.stderr)
under = f", {load} busy loops" if load else ""
print(
    f"clap-validator: {counts['success']} passed, {counts['failed']} failed, "
    f"{counts['skipped']} skipped, {counts['crashed']} crashed, {counts['warning']} warnings "
    f"({len(results)} tests, {elapsed} s{under}; {bundle})"
)
sys.exit(1 if counts["failed"] or counts["crashed"] else 0)
EOF
