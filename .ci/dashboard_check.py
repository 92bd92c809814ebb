#!/usr/bin/env python3
"""Fail when the Grafana dashboard (deploy/grafana/hirebridge.json) is malformed or queries
metrics hirebridge does not export.

Structure: no top-level "id" (so an import never overwrites another dashboard), a "uid", a
`datasource` variable of type datasource for Prometheus, unique panel ids, gridPos inside the
24-column grid with no two panels overlapping, every panel on `${datasource}` with a unit, and
every query target with a refId and an expr.

Metrics: every `hirebridge_*` name in a query (panel targets and variable queries) must be
registered in src/ by `counter!`, `gauge!` or `histogram!` (a literal name, or a `const` that
holds it); `_bucket`, `_sum` and `_count` are accepted on histograms only. Every metric in
REQUIRED must appear in some panel. Each panel selector carries the `namespace`, `job` and
`instance` filters. With the `promql-parser` package (.ci/requirements.txt) each expr is also
parsed, and the aggregation rules are checked: a counter or histogram series only under
rate/irate/increase, never rate of a gauge, and a gauge first aggregated by something other
than sum, since every replica reports the same value from the shared database. Without the
package the exprs get a bracket balance check only (`--require-parser` makes that a failure).

Usage: dashboard_check.py [DASHBOARD] [--src DIR] [--require-parser]; exit 0 when clean,
1 on findings (each names its panel), 2 when the dashboard cannot be read. `--self-test`
checks that the checker itself catches an unknown metric, an overlapping panel, a duplicate id
and the other planted faults.
"""

import json
import os
import re
import sys
import tempfile

try:
    import promql_parser
except ImportError:  # the bracket check stands in
    promql_parser = None

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "hirebridge.json")
SRC = os.path.join(ROOT, "src")
GRID = 24
DATASOURCE_REFS = {"${datasource}", "$datasource"}
FILTERS = ('namespace=~"$namespace"', 'job=~"$job"', 'instance=~"$instance"')
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
RATE_FUNCTIONS = {"rate", "irate", "increase"}

# What an operator must be able to see (docs/operations.md, "What to watch").
REQUIRED = [
    "hirebridge_events_total",
    "hirebridge_http_requests_total",
    "hirebridge_http_request_duration_seconds",
    "hirebridge_store_commit_seconds",
    "hirebridge_store_batch_size",
    "hirebridge_delivery_queue_depth",
    "hirebridge_delivery_oldest_due_age_seconds",
    "hirebridge_delivery_hires_waiting_for_user",
    "hirebridge_delivery_dead_letters_total",
    "hirebridge_delivery_retries_total",
    "hirebridge_delivery_round_errors_total",
    "hirebridge_connecteam_requests_total",
    "hirebridge_connecteam_request_duration_seconds",
    "hirebridge_connecteam_budget_remaining",
    "hirebridge_connecteam_429_total",
    "hirebridge_budget_ignored_resets_total",
    "hirebridge_rules_reloads_total",
    "hirebridge_source_fetches_total",
    "hirebridge_source_api_requests_total",
]

METRIC = re.compile(r"hirebridge_[a-z0-9_]+")
MACRO = re.compile(
    r"\b(counter|gauge|histogram)!\(\s*(?:\"(hirebridge_[a-z0-9_]+)\"|([A-Z][A-Z0-9_]*))"
)
CONST = re.compile(
    r"\bconst\s+([A-Z][A-Z0-9_]*)\s*:\s*&(?:'static\s+)?str\s*=\s*\"(hirebridge_[a-z0-9_]+)\""
)
TEST_MODULE = re.compile(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{")


def source_metrics(src):
    """Each metric registered outside test code under `src`: name -> counter|gauge|histogram."""
    texts = []
    for d, dirs, names in os.walk(src):
        dirs[:] = [x for x in dirs if x != "tests"]
        for n in sorted(names):
            if n.endswith(".rs") and n != "tests.rs":
                text = open(os.path.join(d, n), encoding="utf-8").read()
                texts.append(TEST_MODULE.split(text)[0])
    consts = {}
    for text in texts:
        for name, value in CONST.findall(text):
            consts[name] = value
    kinds = {}
    for text in texts:
        for kind, literal, const in MACRO.findall(text):
            name = literal or consts.get(const)
            if name:
                kinds[name] = kind
    return kinds


def resolve(series, kinds):
    """(metric, kind) for a series name, or (None, why) when src/ does not export it."""
    if series in kinds:
        if kinds[series] == "histogram":
            return (
                None,
                f"histogram {series} has no series of that name: use {series}_bucket, _sum or _count",
            )
        return series, kinds[series]
    for suffix in HISTOGRAM_SERIES:
        base = series[: -len(suffix)]
        if series.endswith(suffix) and kinds.get(base) == "histogram":
            return base, "histogram"
    return None, f"unknown metric {series}: no counter!/gauge!/histogram! registers it in src/"


def balanced(expr):
    """Why the brackets of `expr` (strings skipped) do not balance, or None."""
    pairs, stack, quote, i = {")": "(", "]": "[", "}": "{"}, [], None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif c in "([{":
            stack.append(c)
        elif c in pairs:
            if not stack or stack.pop() != pairs[c]:
                return f"unbalanced '{c}' at offset {i}"
        i += 1
    if quote:
        return "unterminated string"
    if stack:
        return f"unclosed '{stack[-1]}'"
    return None


def for_parser(expr):
    """The expr with Grafana's interval variables replaced by a duration the parser takes."""
    return re.sub(r"\$\{?__(?:rate_interval|interval|range)\}?", "5m", expr)


def check_ast(expr, kinds):
    """Parse `expr`; return its metric names and the problems found."""
    try:
        tree = promql_parser.parse(for_parser(expr))
    except Exception as e:  # the parser raises ValueError with its message
        return set(), [f"PromQL does not parse: {e}"]
    names, problems, stack = set(), [], []

    def pre(node):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
            metric, kind = resolve(node.name, kinds)
            if metric:
                problems.extend(aggregation_problems(node.name, kind, stack))
        stack.append(node)

    def post(_node):
        stack.pop()

    promql_parser.walk(tree, pre, post)
    return names, problems


def aggregation_problems(series, kind, ancestors):
    calls = [n.func.name for n in ancestors if isinstance(n, promql_parser.Call)]
    aggs = [str(n.op) for n in ancestors if isinstance(n, promql_parser.AggregateExpr)]
    rated = any(c in RATE_FUNCTIONS for c in calls)
    if kind in ("counter", "histogram") and not rated:
        return [f"{series} ({kind}) is used without rate/irate/increase"]
    if kind == "gauge":
        if rated:
            return [f"{series} is a gauge: rate/irate/increase of it means nothing"]
        if not aggs:
            return [f"{series} is a gauge shown per replica: aggregate it (max, min, count)"]
        if aggs[-1] == "sum":
            return [f"{series} is a gauge every replica reports alike: aggregate with max, not sum"]
    return []


def label_values_selector(query):
    """The series selector of a `label_values(selector, label)` variable query, or None."""
    m = re.match(r"\s*label_values\((.*),\s*\w+\s*\)\s*$", query, re.S)
    return m.group(1) if m else None


def selectors_filtered(expr):
    """The hirebridge series in `expr` whose selector lacks the job or instance filter."""
    missing = []
    for m in METRIC.finditer(expr):
        rest = expr[m.end() :]
        braces = re.match(r"\s*\{([^}]*)\}", rest)
        inside = braces.group(1) if braces else ""
        if not all(f in inside for f in FILTERS):
            missing.append(m.group(0))
    return missing


def panels_of(dash):
    """Every panel (rows' nested panels too) with the group its gridPos belongs to."""
    out = []
    for p in dash.get("panels") or []:
        out.append((p, "top"))
        for child in p.get("panels") or []:
            out.append((child, f"row {p.get('id')}"))
    return out


def label(panel):
    return f"panel {panel.get('id')!r} \"{panel.get('title', '')}\""


def overlap(a, b):
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


def check(dash, kinds, required, require_parser=False):
    """Return (problems, used metrics, number of queries)."""
    problems = []
    if promql_parser is None and require_parser:
        problems.append("promql-parser is not installed (pip install -r .ci/requirements.txt)")
    if "id" in dash:
        problems.append(
            'dashboard: top-level "id" must be absent (it would overwrite another dashboard on import)'
        )
    if not isinstance(dash.get("uid"), str) or not dash["uid"].strip():
        problems.append('dashboard: "uid" must be set')
    for key, kind in (
        ("title", str),
        ("schemaVersion", int),
        ("tags", list),
        ("time", dict),
        ("refresh", str),
    ):
        if not isinstance(dash.get(key), kind):
            problems.append(f'dashboard: "{key}" must be a {kind.__name__}')
    variables = (dash.get("templating") or {}).get("list") or []
    if not any(
        v.get("name") == "datasource"
        and v.get("type") == "datasource"
        and v.get("query") == "prometheus"
        for v in variables
    ):
        problems.append(
            'dashboard: no "datasource" variable of type datasource with query prometheus'
        )

    used, queries = set(), 0

    def metrics_in(where, expr, panel_query):
        nonlocal queries
        queries += 1
        names = set(METRIC.findall(expr))
        if panel_query and promql_parser is not None:
            parsed, found = check_ast(expr, kinds)
            names |= {n for n in parsed if n.startswith("hirebridge_")}
            problems.extend(f"{where}: {f}" for f in found)
        else:
            why = balanced(expr)
            if why:
                problems.append(f"{where}: {why} in {expr!r}")
        for series in sorted(names):
            metric, why = resolve(series, kinds)
            if metric:
                used.add(metric)
            else:
                problems.append(f"{where}: {why}")
        return names

    for v in variables:
        if v.get("type") != "query":
            continue
        ds = (
            (v.get("datasource") or {}).get("uid")
            if isinstance(v.get("datasource"), dict)
            else v.get("datasource")
        )
        where = f"variable {v.get('name')!r}"
        if ds not in DATASOURCE_REFS:
            problems.append(f"{where}: datasource must be ${{datasource}}, not {ds!r}")
        query = v.get("query")
        query = query.get("query", "") if isinstance(query, dict) else (query or "")
        selector = label_values_selector(query)
        metrics_in(where, selector if selector is not None else query, False)

    seen, boxes = {}, {}
    for panel, group in panels_of(dash):
        where = label(panel)
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.append(f"{where}: id must be an integer")
        elif pid in seen:
            problems.append(f'{where}: duplicate id (also "{seen[pid]}")')
        else:
            seen[pid] = panel.get("title", "")
        if not panel.get("type"):
            problems.append(f"{where}: no type")
        if not panel.get("title"):
            problems.append(f"{where}: no title")
        g = panel.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")):
            problems.append(f"{where}: gridPos needs integer h, w, x and y")
        elif g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > GRID:
            problems.append(f"{where}: gridPos {g} is outside the {GRID}-column grid")
        else:
            for other, og in boxes.get(group, []):
                if overlap(g, og):
                    problems.append(f"{where}: gridPos overlaps {label(other)}")
            boxes.setdefault(group, []).append((panel, g))
        if panel.get("type") == "row":
            if panel.get("targets"):
                problems.append(f"{where}: a row has no queries")
            continue
        ds = (
            (panel.get("datasource") or {}).get("uid")
            if isinstance(panel.get("datasource"), dict)
            else None
        )
        if ds not in DATASOURCE_REFS:
            problems.append(f"{where}: datasource must be ${{datasource}}, not {ds!r}")
        if not ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit"):
            problems.append(f"{where}: no unit (fieldConfig.defaults.unit)")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"{where}: no targets")
        refs = set()
        for n, t in enumerate(targets):
            ref = t.get("refId")
            at = f"{where} target {ref or '#' + str(n + 1)}"
            if not ref:
                problems.append(f"{at}: no refId")
            elif ref in refs:
                problems.append(f"{at}: duplicate refId")
            refs.add(ref)
            tds = t.get("datasource")
            if tds is not None and (
                not isinstance(tds, dict) or tds.get("uid") not in DATASOURCE_REFS
            ):
                problems.append(f"{at}: datasource must be ${{datasource}}")
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(f"{at}: no expr")
                continue
            names = metrics_in(at, expr, True)
            if not names:
                problems.append(f"{at}: queries no hirebridge metric")
            for series in selectors_filtered(expr):
                problems.append(f"{at}: {series} lacks the filters {', '.join(FILTERS)}")
    for metric in required:
        if metric not in used:
            problems.append(f"dashboard: no panel shows {metric}")
    return problems, used, queries


def self_test():
    src = tempfile.mkdtemp()
    with open(os.path.join(src, "lib.rs"), "w", encoding="utf-8") as f:
        f.write(
            'pub const METRIC_C: &str = "hirebridge_c_total";\n'
            'fn f() { metrics::counter!(METRIC_C, "kind" => "a").increment(1);\n'
            '  metrics::gauge!("hirebridge_g").set(1.0);\n'
            '  metrics::histogram!("hirebridge_h_seconds").record(1.0); }\n'
            '#[cfg(test)]\nmod tests { fn t() { metrics::counter!("hirebridge_test_only_total"); } }\n'
        )
    kinds = source_metrics(src)
    assert kinds == {
        "hirebridge_c_total": "counter",
        "hirebridge_g": "gauge",
        "hirebridge_h_seconds": "histogram",
    }, kinds
    sel = "{" + ", ".join(FILTERS) + "}"
    ds = {"type": "prometheus", "uid": "${datasource}"}

    def panel(pid, y, *exprs, x=0):
        return {
            "id": pid,
            "type": "timeseries",
            "title": f"p{pid}",
            "datasource": ds,
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": "short"}},
            "targets": [
                {"refId": chr(65 + i), "datasource": ds, "expr": e} for i, e in enumerate(exprs)
            ],
        }

    def good():
        return {
            "uid": "t",
            "title": "t",
            "schemaVersion": 39,
            "tags": [],
            "refresh": "30s",
            "time": {"from": "now-6h", "to": "now"},
            "templating": {
                "list": [
                    {"name": "datasource", "type": "datasource", "query": "prometheus"},
                    {
                        "name": "job",
                        "type": "query",
                        "datasource": ds,
                        "query": "label_values(hirebridge_g, job)",
                    },
                ]
            },
            "panels": [
                {
                    "id": 1,
                    "type": "row",
                    "title": "r",
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
                    "panels": [],
                },
                panel(2, 1, f"sum by (kind) (rate(hirebridge_c_total{sel}[$__rate_interval]))"),
                panel(3, 1, f"max(hirebridge_g{sel})", x=12),
                panel(
                    4,
                    9,
                    f"histogram_quantile(0.99, sum by (le) (rate(hirebridge_h_seconds_bucket{sel}[5m])))",
                ),
            ],
        }

    required = ["hirebridge_c_total", "hirebridge_g", "hirebridge_h_seconds"]
    problems, used, _ = check(good(), kinds, required)
    assert not problems, problems
    assert used == set(required), used

    def expect(mutate, needle, needs_parser=False):
        if needs_parser and promql_parser is None:
            return
        dash = good()
        mutate(dash)
        problems, _, _ = check(dash, kinds, required)
        assert any(needle in p for p in problems), (needle, problems)

    def set_expr(pid, expr):
        return lambda d: d["panels"][pid - 1]["targets"][0].__setitem__("expr", expr)

    expect(
        set_expr(3, f"max(hirebridge_nope{sel})"),
        'panel 3 "p3" target A: unknown metric hirebridge_nope',
    )
    expect(
        set_expr(3, f"max(hirebridge_test_only_total{sel})"),
        "unknown metric hirebridge_test_only_total",
    )
    expect(
        set_expr(2, f"sum(rate(hirebridge_c_total_bucket{sel}[5m]))"),
        "unknown metric hirebridge_c_total_bucket",
    )
    expect(
        set_expr(4, f"rate(hirebridge_h_seconds{sel}[5m])"),
        "histogram hirebridge_h_seconds has no series",
    )
    expect(
        lambda d: d["panels"][3]["gridPos"].update(y=5, x=6),
        'panel 4 "p4": gridPos overlaps panel 2 "p2"',
    )
    expect(lambda d: d["panels"][2]["gridPos"].update(x=14), "outside the 24-column grid")
    expect(lambda d: d["panels"][3].update(id=2), 'panel 2 "p4": duplicate id (also "p2")')
    expect(lambda d: d.update(id=7), 'top-level "id" must be absent')
    expect(lambda d: d.pop("uid"), '"uid" must be set')
    expect(lambda d: d["templating"]["list"].pop(0), 'no "datasource" variable')
    expect(lambda d: d["panels"][1]["targets"][0].pop("refId"), "target #1: no refId")
    expect(lambda d: d["panels"][1]["targets"][0].pop("expr"), 'panel 2 "p2" target A: no expr')
    expect(
        lambda d: d["panels"][1].update(datasource={"uid": "prom-prod"}),
        "datasource must be ${datasource}",
    )
    expect(lambda d: d["panels"][1]["fieldConfig"]["defaults"].pop("unit"), "no unit")
    expect(lambda d: d["panels"].pop(3), "no panel shows hirebridge_h_seconds")
    expect(set_expr(3, "max(hirebridge_g)"), "hirebridge_g lacks the filters")
    expect(
        lambda d: d["templating"]["list"][1].update(query="label_values(hirebridge_gone, job)"),
        "variable 'job': unknown metric hirebridge_gone",
    )
    expect(set_expr(3, f"max(hirebridge_g{sel}"), "target A:")
    expect(set_expr(3, f"sum(hirebridge_g{sel})"), "aggregate with max, not sum", needs_parser=True)
    expect(set_expr(3, f"hirebridge_g{sel}"), "gauge shown per replica", needs_parser=True)
    expect(set_expr(2, f"sum(hirebridge_c_total{sel})"), "used without rate", needs_parser=True)
    expect(
        set_expr(3, f"max(rate(hirebridge_g{sel}[5m]))"),
        "rate/irate/increase of it",
        needs_parser=True,
    )
    expect(
        set_expr(2, f"rate(hirebridge_c_total{sel})"), "PromQL does not parse", needs_parser=True
    )
    assert balanced('sum(rate(x{a="(}"}[5m]))') is None
    assert balanced("sum(rate(x[5m])") == "unclosed '('"
    assert balanced("max(x})") == "unbalanced '}' at offset 5"
    parsed = (
        "with promql-parser"
        if promql_parser is not None
        else "without promql-parser: parse cases skipped"
    )
    print(f"dashboard check: self-test passed ({parsed})")


def main(argv):
    if argv[:1] == ["--self-test"]:
        self_test()
        return 0
    path, src, require_parser, args = DASHBOARD, SRC, False, list(argv)
    while args:
        a = args.pop(0)
        if a == "--src" and args:
            src = args.pop(0)
        elif a == "--require-parser":
            require_parser = True
        elif not a.startswith("-"):
            path = a
        else:
            print(f"dashboard check: unknown argument {a}", file=sys.stderr)
            return 2
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        print(f"dashboard check: cannot read {path}: {e}", file=sys.stderr)
        return 2
    kinds = source_metrics(src)
    if not kinds:
        print(f"dashboard check: no metrics registered under {src}", file=sys.stderr)
        return 2
    problems, used, queries = check(dash, kinds, REQUIRED, require_parser)
    rel = os.path.relpath(path, ROOT)
    rel = path if rel.startswith("..") else rel
    for p in problems:
        print(f"{rel}: {p}")
    if problems:
        print(f"dashboard check: {len(problems)} problem(s)")
        return 1
    panels = sum(1 for p, _ in panels_of(dash) if p.get("type") != "row")
    how = (
        "parsed by promql-parser"
        if promql_parser is not None
        else "with brackets checked only (promql-parser is not installed)"
    )
    print(
        f"dashboard check: {rel}: {panels} panels, {queries} queries {how}, "
        f"{len(used)} metrics, all registered in src/"
    )
    unshown = sorted(set(kinds) - used)
    if unshown:
        print(f"dashboard check: note: exported but not on the dashboard: {', '.join(unshown)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
