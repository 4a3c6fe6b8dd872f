#!/usr/bin/env bash
# One libFuzzer target for SECONDS from its seed corpus (read only; new inputs go to a temporary
# directory removed afterwards). A finding fails the test and leaves its input in ARTIFACTS.
# Usage: tests/scripts/fuzz_run.sh BINARY SEED_CORPUS SECONDS ARTIFACTS_DIR
set -euo pipefail
binary=$1 seeds=$2 seconds=$3 artifacts=$4
work=$(mktemp -d /tmp/authd-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$binary" -max_total_time="$seconds" -max_len=20000 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/$(basename "$binary")-" -print_final_stats=1 "$work" "$seeds" 2>&1 |
  grep -E "^(stat::number_of_executed_units|Done|==|SUMMARY|.*ERROR)" || true
exit "${PIPESTATUS[0]}"
