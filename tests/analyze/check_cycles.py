#!/usr/bin/python3
"""No two source files of gateway/ and adapters/ call each other's functions in a loop.

Reads the symbol tables of the built objects (nm): file A depends on file B when A uses a global
symbol that B defines. Prints one TAP line, and every loop (a strongly connected set of more than
one file) found.    tests/analyze/check_cycles.py BUILD_DIR"""
import os
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
objs = []
for d in ("gateway", "adapters"):
    base = os.path.join(build, d)
    for f in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        if f.endswith(".o") and os.path.exists(os.path.join(d, f[:-2] + ".c")):
            objs.append(os.path.join(base, f))
defined, used = {}, {}
for o in objs:
    name = os.path.relpath(o, build)[:-2] + ".c"
    out = subprocess.run(["nm", "--defined-only", "-g", o], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3:
            defined.setdefault(parts[2], name)
    out = subprocess.run(["nm", "-u", o], capture_output=True, text=True).stdout
    used[name] = {l.split()[-1] for l in out.splitlines() if l.strip()}
edges = {n: sorted({defined[s] for s in syms if s in defined and defined[s] != n}) for n, syms in used.items()}

# Tarjan's strongly connected components
index, low, stack, on, sccs = {}, {}, [], set(), []
counter = [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in edges.get(v, []):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            sccs.append(sorted(comp))


sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)
for comp in sccs:
    print("# loop: " + " <-> ".join(comp))
    for a in comp:
        print("#   %s uses %s" % (a, ", ".join(b for b in edges[a] if b in comp)))
ok = len(objs) > 10 and not sccs
print("%s - no call loops between the %d source files of gateway/ and adapters/ (%d loops)" %
      ("ok" if ok else "not ok", len(objs), len(sccs)))
sys.exit(0 if ok else 1)
