#!/usr/bin/env bash
# Refreshes the project's one copy of the PyTorch golden files, Sources/backprop/Reference, from the
# team's golden set (../shared/golden; see its README.md for how it is made and what each file holds).
#
#   scripts/refresh_golden.sh [--check] [GOLDEN_DIR]
#
# The `backprop` executable ships this folder as a resource (`backprop verify` with no file checks
# ops.json, ties.json and expressions.json); the tests read every file below from it (Golden in
# Tests/BackpropTests/Fixtures.swift), so nothing outside the checkout is needed at test time.
# --check copies nothing and exits 1 when a copy differs from the golden set (for CI or review).
# Each file is written to a temporary name in the folder, then renamed over the old copy.
set -euo pipefail

FILES=(ops.json ties.json expressions.json seed.json autograd.json gradgrad.json)

root="$(cd "$(dirname "$0")/.." && pwd)"
check=0
src=""
for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "refresh_golden.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
        *) [ -z "$src" ] || { echo "refresh_golden.sh: give at most one GOLDEN_DIR" >&2; exit 2; }; src="$arg" ;;
    esac
done
src="${src:-$root/../shared/golden}"
dest="$root/Sources/backprop/Reference"

[ -d "$src" ] || { echo "refresh_golden.sh: $src: no such directory (give the golden folder as an argument)" >&2; exit 1; }
for f in "${FILES[@]}"; do
    [ -f "$src/$f" ] || { echo "refresh_golden.sh: $src/$f: missing from the golden set" >&2; exit 1; }
    head -c 1 "$src/$f" | grep -q '{' || { echo "refresh_golden.sh: $src/$f: not a JSON object" >&2; exit 1; }
done

stale=0
for f in "${FILES[@]}"; do
    if [ -f "$dest/$f" ] && cmp -s "$src/$f" "$dest/$f"; then
        echo "unchanged $f"
        continue
    fi
    stale=1
    if [ "$check" = 1 ]; then
        echo "differs   $f (run scripts/refresh_golden.sh to update it)"
        continue
    fi
    tmp="$dest/.$f.tmp-$$"
    cp "$src/$f" "$tmp"
    chmod 644 "$tmp"  # the golden set is read-only; the copy in the repository is not
    mv -f "$tmp" "$dest/$f"
    echo "updated   $f"
done

if [ "$check" = 1 ] && [ "$stale" = 1 ]; then exit 1; fi
if [ "$check" = 0 ] && [ "$stale" = 1 ]; then
    echo "refreshed $dest from $src: run swift test, then commit the changed files"
fi
