#!/usr/bin/env python3
"""Fail when the crate's modules depend on each other in a circle, or when a part of the
crate imports a part it may not (docs/architecture.md, "What each part may not import").

Reads the module graph `cargo modules dependencies` prints (modules only, "uses" edges only:
the `use` declarations, resolved) on stdin. `use` is not the only way one module reaches
another: a path written out in code (`crate::store::now_ms()`, `super::sibling::f`) is one
too, and cargo-modules does not draw it, so `--src DIR` adds those edges from the source text
(outside `#[cfg(test)]` modules and test files). Reports every strongly connected group of two
or more modules with the edges that tie it, and every edge between top-level parts that
LAYERS does not allow; exit 0 when there is neither, 1 otherwise. `--self-test` checks that
the checker itself finds a planted cycle and a planted layer breach.
"""
import os
import re
import sys

CRATE = "hirebridge"

# What each top-level part may import (besides itself). A part not listed (app, cli,
# telemetry, testkit: the top of the crate) may import anything.
LAYERS = {
    "clock": set(),
    "domain": set(),
    "remote": {"domain"},
    "config": {"domain"},
    "rules": {"domain", "config"},
    "store": {"domain", "config", "clock"},
    "sources": {"domain", "config", "remote"},
    "budget": {"store", "remote", "clock"},
    "connecteam": {"config", "domain", "remote", "budget", "clock"},
    "intake": {"domain", "rules", "sources", "store"},
    "delivery": {"budget", "clock", "config", "connecteam", "domain", "remote", "store"},
    "http": {"clock", "config", "domain", "intake", "rules", "sources", "store"},
    "simulator": {"domain"},
}

edges = {}


def add(a, b):
    if a != b:
        edges.setdefault(a, set()).add(b)
        edges.setdefault(b, set())


def read_dot(lines):
    for line in lines:
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


def cycles():
    """The strongly connected groups of two or more modules (Tarjan's, iteratively)."""
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
    return groups


def part(module):
    parts = module.split("::")
    return parts[1] if len(parts) > 1 else None


def breaches():
    out = []
    for a in sorted(edges):
        for b in sorted(edges[a]):
            pa, pb = part(a), part(b)
            if pa and pb and pa != pb and pa in LAYERS and pb not in LAYERS[pa]:
                out.append((a, b))
    return out


def report():
    groups = cycles()
    for group in groups:
        members = set(group)
        print(f"import cycle between {len(group)} modules:")
        for a in group:
            for b in sorted(edges[a] & members):
                print(f"  {a} -> {b}")
    bad = breaches()
    for a, b in bad:
        print(f"{part(a)} may not import {part(b)}: {a} -> {b}")
    return bool(groups or bad)


def self_test():
    add(f"{CRATE}::store::a", f"{CRATE}::store::b")
    add(f"{CRATE}::store::b", f"{CRATE}::store::a")
    add(f"{CRATE}::domain::x", f"{CRATE}::store::a")
    groups, bad = cycles(), breaches()
    assert groups == [[f"{CRATE}::store::a", f"{CRATE}::store::b"]], groups
    assert bad == [(f"{CRATE}::domain::x", f"{CRATE}::store::a")], bad
    edges.clear()
    add(f"{CRATE}::http::a", f"{CRATE}::store::b")
    assert not cycles() and not breaches()
    print("module graph check: self-test passed")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        self_test()
        sys.exit(0)
    read_dot(sys.stdin)
    if len(sys.argv) > 2 and sys.argv[1] == "--src":
        scan(sys.argv[2])
    if not edges:
        print("module graph check: no module graph on stdin", file=sys.stderr)
        sys.exit(2)
    if report():
        sys.exit(1)
    print(f"module graph check: {len(edges)} modules, no import cycle, no layer breach")
