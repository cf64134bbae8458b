#!/usr/bin/env bash
# Writes the op table generated from the op descriptions (`backprop ops --markdown`) into
# README.md between the lines `<!-- ops:begin -->` and `<!-- ops:end -->`.
# OpDescriptionTests fails while the README's table differs from the generated one.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(mktemp)
trap 'rm -f "$table" README.md.tmp' EXIT
swift run -q backprop ops --markdown > "$table"
awk -v table="$table" '
    /^<!-- ops:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /^<!-- ops:end -->$/ { skip = 0 }
    !skip { print }
' README.md > README.md.tmp
grep -q '^<!-- ops:end -->$' README.md.tmp || { echo "README.md lacks the ops markers" >&2; exit 1; }
mv README.md.tmp README.md
echo "README.md: op table of $(($(wc -l < "$table") - 2)) ops"
