#!/usr/bin/env bash
# Builds the DocC documentation of the Backprop library and fails on any DocC warning (a broken
# symbol link in the catalog, a doc comment that documents a parameter the function lacks or leaves
# one out), except those listed in .ci/docc-known-warnings, and on any symbol link in the catalog
# that names no symbol (scripts/check_doc_links.py: DocC itself lets ``Tensor/noSuchOp()`` pass).
#
#   scripts/check_docs.sh
#
# Compiler warnings printed while the plugin builds the module are not DocC's and are not counted
# here (only the output after "Building documentation for" is read). Each line of
# .ci/docc-known-warnings is "FILE: MESSAGE" as this script prints a warning; remove a line once its
# warning is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"; found="$(mktemp)"
trap 'rm -f "$log" "$found"' EXIT
if ! swift package generate-documentation --target Backprop >"$log" 2>&1; then
    cat "$log" >&2
    echo "check_docs: swift package generate-documentation failed" >&2
    exit 1
fi
# "warning: MESSAGE" is followed by "  --> PATH:LINE:COL" when DocC knows where; print "PATH: MESSAGE".
awk '
    /^Building documentation for/ { docs = 1; next }
    !docs { next }
    function flush() { if (msg != "") { print (file == "" ? "?" : file) ": " msg; msg = ""; file = "" } }
    /^warning: / { flush(); msg = substr($0, 10); next }
    msg != "" && /^ *--> / {
        file = $0; sub(/^ *--> /, "", file); sub(/:[0-9].*$/, "", file); gsub(/^(\.\.\/)+/, "", file)
        sub(/^.*Sources\/Backprop\//, "", file)
        flush(); next
    }
    END { flush() }
' "$log" | sort -u >"$found"
known=.ci/docc-known-warnings
total=$(wc -l <"$found")
if [ -f "$known" ]; then
    unexpected=$(grep -vxF -f <(grep -v '^#' "$known" | sed '/^$/d') "$found" || true)
else
    unexpected=$(cat "$found")
fi
if [ -n "$unexpected" ]; then
    echo "$unexpected" | sed 's/^/docc warning: /' >&2
    echo "check_docs: DocC reported $(echo "$unexpected" | wc -l) warning(s) (details above in the docc output)" >&2
    grep -A8 '^warning: ' "$log" >&2 || true
    exit 1
fi
python3 scripts/check_doc_links.py
echo "check_docs: documentation built, $total DocC warning(s), all listed in $known"
