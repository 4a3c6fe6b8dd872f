#!/usr/bin/env bash
# The container image cannot ship a binary that fails to start: every shared library the built
# authd loads (ldd) belongs to a Debian package (dpkg -S) that the Dockerfile's runtime stage
# installs, directly or as a dependency of what it installs (apt-cache depends --recurse), or that
# the base image has (priority required).
# Usage: tests/scripts/image_libs_check.sh AUTHD_BINARY [DOCKERFILE]
set -euo pipefail
binary=${1:?usage: image_libs_check.sh AUTHD_BINARY [DOCKERFILE]}
dockerfile=${2:-Dockerfile}

# The runtime stage: everything after the last FROM; its apt-get install arguments.
runtime=$(awk '/^FROM /{stage=""} {stage = stage $0 "\n"} END {printf "%s", stage}' "$dockerfile")
listed=$(printf '%s' "$runtime" | tr '\\' ' ' | tr -s ' \n' '\n\n' |
  awk '/^install$/{on=1; next} on && /^(&&|rm|useradd|mkdir|chown)$/{on=0} on && !/^-/{print}' | sort -u)
[ -n "$listed" ] || { echo "no apt-get install in the runtime stage of $dockerfile" >&2; exit 1; }
# What those packages bring with them.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $listed 2>/dev/null | awk '/^[a-z0-9]/ {print $1}' | sed 's/:.*//' |
  sort -u)

package_of() {
  local path=$1 real
  real=$(readlink -f "$path")
  for candidate in "$path" "$real" "${real#/usr}" "/usr$real"; do
    if owner=$(dpkg -S "$candidate" 2>/dev/null); then
      printf '%s\n' "${owner%%:*}" | head -1
      return 0
    fi
  done
  return 1
}

missing=0
checked=0
while read -r lib path; do
  [ -n "$path" ] || continue
  pkg=$(package_of "$path") || { echo "no Debian package owns $path ($lib)" >&2; missing=1; continue; }
  checked=$((checked + 1))
  if grep -qx "$pkg" <<<"$listed$'\n'$closure"; then continue; fi
  if [ "$(dpkg-query -W -f='${Priority}' "$pkg" 2>/dev/null)" = required ]; then continue; fi
  echo "the image lacks $pkg, which provides $lib ($path): add it to the runtime stage of $dockerfile" >&2
  missing=1
# The sanitizers' runtimes come with a sanitizer build (as the tests use) and are never in a release.
done < <(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// && $1 !~ /^lib(a|ub|l|t)san\./ {print $1, $3}')
[ "$checked" -gt 0 ] || { echo "ldd found no libraries in $binary" >&2; exit 1; }
[ "$missing" -eq 0 ] && echo "all $checked libraries of $binary are in the image"
exit "$missing"
