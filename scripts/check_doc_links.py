#!/usr/bin/env python3
"""Checks that every symbol link (``Tensor/mm(_:)``) in the DocC catalog names a symbol that exists.

DocC 6.3 resolves a link to a missing member of `Tensor` to `Tensor` itself, without a warning
(``Tensor/noSuchOp()`` links to the Tensor page), so a renamed op would not be caught by DocC's
warnings alone. This reads the symbol graphs that `swift package generate-documentation --target
Backprop` leaves under .build and fails on any link in Sources/Backprop/Backprop.docc whose path
(without its `-(Type)` or `-hash` disambiguation) is not the path of a public symbol.
"""
import glob, json, os, re, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
graphs = glob.glob(os.path.join(root, '.build', '*', 'extracted-symbols', '*', 'Backprop', 'Backprop*.symbols.json'))
if not graphs:
    sys.exit('check_doc_links: no symbol graphs under .build (run swift package generate-documentation first)')
paths = set()
for g in graphs:
    for s in json.load(open(g))['symbols']:
        paths.add('/'.join(s['pathComponents']))
bad = []
for md in sorted(glob.glob(os.path.join(root, 'Sources', 'Backprop', 'Backprop.docc', '*.md'))):
    text = open(md).read()
    text = re.sub(r'```.*?```', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    for n, line in enumerate(text.split('\n'), 1):
        for link in re.findall(r'``([^`]+)``', line):
            if line.startswith('# ') and link == 'Backprop':
                continue
            path = re.sub(r'(?<=[)\w])-(\(.*\)|[0-9a-z]{4,6})$', '', link)
            if path not in paths:
                bad.append(f'{os.path.relpath(md, root)}:{n}: ``{link}`` names no symbol')
if bad:
    print('\n'.join(bad), file=sys.stderr)
    sys.exit(1)
print('check_doc_links: every symbol link in the catalog names a symbol')
