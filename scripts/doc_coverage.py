#!/usr/bin/env python3
"""Doc-comment coverage of the Backprop module's public symbols, per source folder.

Reads the symbol graphs that `swift package generate-documentation --target Backprop` (or
`swift build` with `-emit-symbol-graph`) leaves under .build, counts the public symbols declared in
Sources/Backprop (synthesized members, which have no source location there, are left out) and says
which have no doc comment of their own. A member that implements a documented protocol requirement
(`description`, `forward(_:)`) shows the requirement's text in DocC; it is counted apart, as
"inherited", and listed with the undocumented ones.

    python3 scripts/doc_coverage.py            # the figures per folder and in all
    python3 scripts/doc_coverage.py --list     # and every undocumented symbol, with file:line
"""
import glob, json, os, sys
from collections import defaultdict

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
graphs = glob.glob(os.path.join(root, '.build', '*', 'extracted-symbols', '*', 'Backprop', 'Backprop*.symbols.json'))
if not graphs:
    sys.exit('no symbol graphs under .build: run `swift package generate-documentation --target Backprop` first')
src = 'file://' + os.path.join(root, 'Sources', 'Backprop') + '/'
seen, per = set(), defaultdict(lambda: [0, 0, 0, []])
for g in graphs:
    for s in json.load(open(g))['symbols']:
        uri = s.get('location', {}).get('uri', '')
        if s.get('accessLevel') not in ('public', 'open') or not uri.startswith(src):
            continue
        key = s['identifier']['precise']
        if key in seen:
            continue
        seen.add(key)
        rel = uri[len(src):]
        folder = rel.split('/')[0]
        doc = s.get('docComment')
        has_text = bool(doc and any(l['text'].strip() for l in doc['lines']))
        # Its own comment ends just above it (attributes may stand between); an inherited one is elsewhere.
        decl = s['location']['position']['line']
        ends = [l['range']['end']['line'] for l in doc['lines'] if 'range' in l] if has_text else []
        own = has_text and doc.get('uri') == uri and bool(ends) and 0 < decl - max(ends) <= 4
        entry = per[folder]
        entry[0] += 1
        if own:
            entry[1] += 1
            continue
        if has_text:
            entry[2] += 1
        line = s['location']['position']['line'] + 1
        how = ' (inherited)' if has_text else ''
        entry[3].append(f"{rel}:{line}: {s['kind']['displayName'].lower()} {'.'.join(s['pathComponents'])}{how}")
print(f'{"folder":10} {"own doc comment":>20} {"+ inherited":>20}')
def row(name, t, d, i):
    print(f'{name:10} {d:5}/{t:<5} {100.0 * d / t:5.1f}%  {d + i:5}/{t:<5} {100.0 * (d + i) / t:5.1f}%')
for folder in sorted(per):
    row(folder, *per[folder][:3])
row('all', *(sum(e[k] for e in per.values()) for k in range(3)))
if '--list' in sys.argv:
    for folder in sorted(per):
        for item in sorted(per[folder][3], key=lambda x: (x.split(':')[0], int(x.split(':')[1]))):
            print(item)
