#!/usr/bin/env bash
# Lints Sources and Tests with the toolchain's swift-format and the repository's .swift-format, and
# fails on any finding of its rules (and on trailing whitespace or tabs between tokens).
#
#   scripts/check_format.sh
#
# swift-format's lint also compares every line with what its pretty printer would write, and 6.3.1
# offers no setting that turns those layout findings off (swiftlang/swift-format#764). Its printer
# does not write this codebase's layout (arguments aligned under the opening parenthesis, one-line
# bodies, aligned end-of-line comments), so these categories are left out here: Indentation,
# AddLines, RemoveLine, Spacing, LineLength, TrailingComma. Do not run `swift format -i` over the
# tree: it would rewrite the layout of nearly every file.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
swift format lint --strict --parallel --recursive Sources Tests >"$log" 2>&1 || status=$?
layout='\[(Indentation|AddLines|RemoveLine|Spacing|LineLength|TrailingComma)\]'
if grep -E '(warning|error):' "$log" | grep -vE "$layout" >&2; then
    echo "check_format: swift format lint reported the findings above" >&2
    exit 1
fi
if [ "$status" -ne 0 ] && ! grep -qE "$layout" "$log"; then
    cat "$log" >&2
    echo "check_format: swift format lint failed (exit $status)" >&2
    exit 1
fi
echo "check_format: no findings ($(grep -cE "$layout" "$log" || true) layout findings of the pretty printer left out)"
