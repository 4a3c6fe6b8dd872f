#!/bin/sh
# Usage: compose_check.sh AUTHD_BINARY   (run from the repository root)
# The compose file must be valid, define services authd and postgres, and give authd only
# settings that authd knows (every one of them is named in `authd --help`).
set -u

fail() { echo "compose_check: $*" >&2; exit 1; }

[ $# -eq 1 ] || fail "usage: $0 AUTHD_BINARY"
bin=$1
[ -x "$bin" ] || fail "$bin is not an executable"
command -v docker-compose >/dev/null 2>&1 || fail "docker-compose is not installed (scripts/deps installs it)"

config=$(docker-compose -f docker-compose.yml config) || fail "docker-compose config failed"

# `config` prints a normalised file: services at 2 spaces, their keys at 4, environment entries at 6.
services=$(printf '%s\n' "$config" | awk '/^services:/ {s = 1; next} /^[^ ]/ {s = 0}
  s && /^  [^ ]/ {sub(/^ */, ""); sub(/:.*/, ""); print}')
for s in authd postgres; do
  printf '%s\n' "$services" | grep -qx "$s" || fail "docker-compose.yml has no service '$s'"
done

names=$(printf '%s\n' "$config" | awk '
  /^services:/ {s = 1; next}  /^[^ ]/ {s = 0}
  s && /^  [^ ]/ {a = ($0 ~ /^  authd:/); e = 0; next}
  a && /^    [^ ]/ {e = ($0 ~ /^    environment:/); next}
  a && e && /^      AUTHD_/ {sub(/^ */, ""); sub(/:.*/, ""); print}')
[ -n "$names" ] || fail "the authd service sets no AUTHD_* variable"
# The image's own defaults count too.
names="$names $(sed -n 's/^ENV //p' Dockerfile | tr ' ' '\n' | sed -n 's/^\(AUTHD_[A-Z0-9_]*\)=.*/\1/p')"

help=$("$bin" --help 2>&1)
[ -n "$help" ] || fail "$bin --help printed nothing"
unknown=
for n in $names; do
  printf '%s\n' "$help" | grep -qwF -- "$n" || unknown="$unknown $n"
done
[ -z "$unknown" ] || fail "set in docker-compose.yml or Dockerfile but unknown to authd --help:$unknown"
echo "compose_check: ok: services authd, postgres; authd knows" $names
