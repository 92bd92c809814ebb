#!/usr/bin/env python3
"""Fail when the crate's modules depend on each other in a circle.

Reads the module graph `cargo modules dependencies` prints (modules only, "uses" edges only:
the `use` declarations, resolved) on stdin. `use` is not the only way one module reaches
another: a path written out in code (`crate::store::now_ms()`, `super::sibling::f`) is one
too, and cargo-modules does not draw it, so `--src DIR` adds those edges from the source text
(outside `#[cfg(test)]` modules and test files). Reports every strongly connected group of two
or more modules with the edges that tie it; exit 0 when there is none, 1 otherwise.
"""
import os
import re
import sys

CRATE = "hirebridge"
edges = {}


def add(a, b):
    if a != b:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set())


for line in sys.stdin:
    m = re.match(r'\s*"([^"]+)" -> "([^"]+)" \[label="uses"', line)
    if m:
        add(m.group(1), m.group(2))


def module_of(root, path):
    rel = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join([CRATE] + rel)


def scan(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".rs") and n != "tests.rs":
                files[module_of(root, os.path.join(d, n))] = os.path.join(d, n)
    modules = set(files)
    for module, path in files.items():
        text = open(path, encoding="utf-8").read()
        # Code after `#[cfg(test)]` is test code: it may reach anything.
        text = text.split("#[cfg(test)]")[0]
        text = re.sub(r"//[^\n]*", "", text)
        for m in re.finditer(r"(?<![:\w])([a-z_][a-z0-9_]*)((?:::[A-Za-z_][A-Za-z0-9_]*)+)", text):
            head = module.split("::")
            if m.group(1) == "crate":
                base = [CRATE]
            elif m.group(1) == "self":
                base = head
            elif m.group(1) != "super":
                # A path that starts with a child module's name (`sqlite::SqliteStore`).
                if module + "::" + m.group(1) not in modules:
                    continue
                base = head + [m.group(1)]
            else:
                is_dir_module = path.endswith(("mod.rs", "lib.rs"))
                base = head if is_dir_module else head[:-1]
                base = base[:-1] if is_dir_module else base
            parts = base + m.group(2).split("::")[1:]
            # The longest prefix that is a module is what the path reaches.
            for n in range(len(parts), 0, -1):
                target = "::".join(parts[:n])
                if target in modules:
                    add(module, target)
                    break


if len(sys.argv) > 2 and sys.argv[1] == "--src":
    scan(sys.argv[2])

# Tarjan's strongly connected components, iteratively.
index, low, on_stack, stack, groups = {}, {}, set(), [], []
counter = 0
for root in sorted(edges):
    if root in index:
        continue
    work = [(root, iter(sorted(edges[root])))]
    index[root] = low[root] = counter
    counter += 1
    stack.append(root)
    on_stack.add(root)
    while work:
        node, children = work[-1]
        advanced = False
        for child in children:
            if child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
                advanced = True
                break
            if child in on_stack:
                low[node] = min(low[node], index[child])
        if advanced:
            continue
        work.pop()
        if work:
            parent = work[-1][0]
            low[parent] = min(low[parent], low[node])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

if not edges:
    print("module cycle check: no module graph on stdin", file=sys.stderr)
    sys.exit(2)
for group in groups:
    members = set(group)
    print(f"import cycle between {len(group)} modules:")
    for a in group:
        for b in sorted(edges[a] & members):
            print(f"  {a} -> {b}")
if groups:
    sys.exit(1)
print(f"module cycle check: {len(edges)} modules, no import cycle")
