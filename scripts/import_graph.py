#!/usr/bin/env python3
"""The import graph of gmp's src/: one node per file, an arrow a -> b when file a names a
`crate::b...` path outside comments and test modules.

    scripts/import_graph.py [src]            files, arrows, every import circle
    scripts/import_graph.py [src] -v         ... and each file's floor and arrows
    scripts/import_graph.py [src] --map ARCHITECTURE.md
                                             ... and the arrows that run from a lower module
                                             to a higher one in the Map section's order
    scripts/import_graph.py [src] --order    ... and a bottom-up order of the files with the
                                             fewest upward arrows (circles of up to 8 files
                                             are ordered by trying every order)

Floors: a file's floor is the longest chain of arrows below it (circles count as one node).
What is not an arrow: paths in comments and doc comments (intra-doc links), and paths inside
`#[cfg(test)]` items (tests may reach anywhere). A `crate::Name` that lib.rs re-exports
(`pub use runtime::{spawn, Runtime}`), or that a module re-exports (`crate::time::Timers`,
which time/mod.rs takes from `timers`), is an arrow to the file that defines it. Only
`crate::` paths count: `super::`/`self::` paths stay inside one module directory.

The Map section of ARCHITECTURE.md lists modules one per line, bottom up, each line starting
with `- ` and the module in backticks (`runtime::shared`, `time`, ...); a file belongs to the
longest listed module that is a prefix of its path. Every file must belong to one.
"""
import os
import re
import sys

args = [a for a in sys.argv[1:]]
verbose = '-v' in args
map_file = None
suggest = '--order' in args
if '--map' in args:
    map_file = args[args.index('--map') + 1]
    del args[args.index('--map'):args.index('--map') + 2]
args = [a for a in args if a not in ('-v', '--order')]
root = args[0] if args else 'src'

files = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith('.rs'):
            p = os.path.join(d, f)
            parts = os.path.relpath(p, root)[:-3].split(os.sep)
            if parts[-1] == 'mod':
                parts = parts[:-1]
            if parts == ['lib']:
                parts = []
            files['::'.join(parts)] = p
mods = set(files)


def strip_comments(src):
    """Drops `//` comments (doc comments included) and `/* */` blocks, keeping strings."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i)
            i = n if j < 0 else j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2)
            i = n if j < 0 else j + 2
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif c == "'" and i + 2 < n and (src[i + 2] == "'" or (src[i + 1] == '\\' and "'" in src[i + 2:i + 6])):
            j = src.find("'", i + 2 if src[i + 1] == '\\' else i + 1)
            out.append(src[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


TEST_ATTR = re.compile(r'#\[cfg\((?:test|all\(test[^\]]*\)|any\(test[^\]]*\))\)\]')


def strip_test_items(src):
    """Drops each item under `#[cfg(test)]` (or `all(test, ..)`): up to its `;` or its
    balanced `{...}` block."""
    while True:
        m = TEST_ATTR.search(src)
        if not m:
            return src
        i = m.end()
        while i < len(src) and src[i] not in '{;':
            i += 1
        if i < len(src) and src[i] == '{':
            depth = 0
            while i < len(src):
                if src[i] == '{':
                    depth += 1
                elif src[i] == '}':
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
        src = src[:m.start()] + src[i + 1:]


def group_items(tail):
    depth, cur, items = 0, '', []
    for ch in tail[1:-1]:
        if ch == '{':
            depth += 1
        if ch == '}':
            depth -= 1
        if ch == ',' and depth == 0:
            items.append(cur)
            cur = ''
        else:
            cur += ch
    items.append(cur)
    return [it.strip() for it in items if it.strip()]


PATH = re.compile(r'crate::((?:[A-Za-z_][A-Za-z0-9_]*::)*)(\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*)')


def paths_in(src, prefix_re=PATH):
    for mm in prefix_re.finditer(src):
        prefix = mm.group(1).rstrip(':')
        tail = mm.group(2)
        if tail.startswith('{'):
            for it in group_items(tail):
                sub = it.split('::{')[0] if '::{' in it else it.split(' as ')[0]
                yield (prefix + '::' + sub) if prefix else sub
        else:
            yield (prefix + '::' + tail) if prefix else tail


sources = {m: strip_test_items(strip_comments(open(p).read())) for m, p in files.items()}

# Re-exports: `pub use child::Name;` (or `pub(crate) use`, or a `crate::` path) in module m
# makes `crate::m::Name` an arrow to the file that defines Name, not to m's own file. lib.rs's
# re-exports make `crate::Name` one.
reexports_in = {m: {} for m in mods}
REEXPORT = re.compile(r'pub(?:\((?:crate|super)\))? use ((?:crate::|self::|super::)?[a-z_][a-z0-9_:]*?)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*(?: as [A-Za-z_][A-Za-z0-9_]*)?);')


def absolute(m, path):
    segs = path.split('::')
    base = m.split('::') if m else []
    if segs[0] == 'crate':
        return '::'.join(segs[1:])
    if segs[0] == 'self':
        return '::'.join(base + segs[1:])
    if segs[0] == 'super':
        up = base[:-1]
        return '::'.join(up + segs[1:])
    return '::'.join(base + segs)  # a child module of m


for m, src in sources.items():
    for mm in REEXPORT.finditer(src):
        module = absolute(m, mm.group(1))
        names = group_items(mm.group(2)) if mm.group(2).startswith('{') else [mm.group(2)]
        for name in names:
            original = name.split(' as ')[0].strip()
            alias = name.split(' as ')[-1].strip()
            reexports_in[m][alias] = module + '::' + original


def resolve(path, depth=0):
    segs = [s for s in path.split('::') if s]
    for i in range(len(segs), -1, -1):
        m = '::'.join(segs[:i])
        if m in mods:
            if i < len(segs) and depth < 8 and segs[i] in reexports_in[m]:
                target = resolve(reexports_in[m][segs[i]], depth + 1)
                if target is not None:
                    return target
            return m
    return None


edges = {m: set() for m in mods}
for m, src in sources.items():
    for t in paths_in(src):
        r = resolve(t.replace(' ', '').replace('\n', ''))
        if r is not None and r != m and r != '':
            edges[m].add(r)

# Strongly connected components (Tarjan).
idx, low, st, on, sccs, c = {}, {}, [], set(), [], [0]
sys.setrecursionlimit(10000)


def sc(v):
    idx[v] = low[v] = c[0]
    c[0] += 1
    st.append(v)
    on.add(v)
    for w in sorted(edges[v]):
        if w not in idx:
            sc(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        sccs.append(comp)


for v in sorted(mods):
    if v not in idx:
        sc(v)
big = [s for s in sccs if len(s) > 1]
print('files', len(mods), 'arrows', sum(len(e) for e in edges.values()))
for s in sorted(big, key=len, reverse=True):
    print('cycle of', len(s), ':', ' '.join(sorted(s)))
comp_of = {v: i for i, s in enumerate(sccs) for v in s}
cedges = {i: set() for i in range(len(sccs))}
for v, ws in edges.items():
    for w in ws:
        if comp_of[v] != comp_of[w]:
            cedges[comp_of[v]].add(comp_of[w])
floor = {}


def fl(i):
    if i not in floor:
        floor[i] = 1 + max((fl(j) for j in cedges[i]), default=-1)
    return floor[i]


for i in range(len(sccs)):
    fl(i)
print('floors', 1 + max(floor.values(), default=0))
if verbose:
    for v in sorted(mods, key=lambda v: (floor[comp_of[v]], v)):
        print(floor[comp_of[v]], v or '(lib)', '->', ' '.join(sorted(edges[v])))

if map_file:
    text = open(map_file).read()
    m = re.search(r'^## Map\s*$(.*?)(?=^## |\Z)', text, re.S | re.M)
    if not m:
        sys.exit('no "## Map" section in ' + map_file)
    order = [x.group(1) for x in re.finditer(r'^- `([^`]+)`', m.group(1), re.M)]
    order = ['' if o in ('lib', 'lib.rs') else o for o in order]
    rank = {o: i for i, o in enumerate(order)}

    def module_of(f):
        best = None
        for o in order:
            if o == '' and f != '':
                continue
            if f == o or f.startswith(o + '::') or o == '':
                if best is None or len(o) > len(best):
                    best = o
        return best

    unplaced = sorted(f or '(lib)' for f in mods if module_of(f) is None)
    if unplaced:
        print('not in the map:', ' '.join(unplaced))
    up = []
    for v, ws in edges.items():
        for w in ws:
            a, b = module_of(v), module_of(w)
            if a is not None and b is not None and a != b and rank[a] < rank[b]:
                up.append((v, w, a, b))
    print('map modules', len(order), 'upward arrows', len(up))
    for v, w, a, b in sorted(up):
        print('  up:', v or '(lib)', '->', w, '(%s below %s)' % (a or 'lib', b))

if suggest:
    import itertools

    def upward(order):
        rank = {v: i for i, v in enumerate(order)}
        return sum(1 for v in order for w in edges[v] if w in rank and rank[w] > rank[v])

    # Condensation in topological order (Tarjan emits sinks first, i.e. bottom up).
    order, up = [], 0
    for comp in sccs:
        comp = sorted(comp)
        if 1 < len(comp) <= 8:
            comp = min(itertools.permutations(comp), key=upward)
        order.extend(comp)
        up += upward(list(comp))
    print('suggested order, bottom up (%d upward arrows):' % up)
    for v in order:
        print('  ', v or '(lib)')
