#!/usr/bin/env bash
# Writes the op table generated from the op descriptions (`backprop ops --markdown`) into
# README.md and the DocC article Sources/Backprop/Backprop.docc/OpTable.md, between the lines
# `<!-- ops:begin -->` and `<!-- ops:end -->`.
# OpDescriptionTests fails while either table differs from the generated one.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(mktemp)
trap 'rm -f "$table"' EXIT
swift run -q backprop ops --markdown > "$table"
for file in README.md Sources/Backprop/Backprop.docc/OpTable.md; do
    awk -v table="$table" '
        /^<!-- ops:begin -->$/ { print; while ((getline line < table) > 0) print line; close(table); skip = 1; next }
        /^<!-- ops:end -->$/ { skip = 0 }
        !skip { print }
    ' "$file" > "$file.tmp"
    grep -q '^<!-- ops:end -->$' "$file.tmp" || { rm -f "$file.tmp"; echo "$file lacks the ops markers" >&2; exit 1; }
    mv "$file.tmp" "$file"
    echo "$file: op table of $(($(wc -l < "$table") - 2)) ops"
done
