"""Rendering and validating helm/hirebridge with Helm's own library (no helm binary).

Used by the chart tests (test_chart.py) and by .ci/chart.sh:
    python .ci/chart/chartlib.py render VALUES.yaml OUTDIR   # one file per manifest
    python .ci/chart/chartlib.py validate-crs OUTDIR          # custom resources vs. their CRDs
"""

from __future__ import annotations

import json
import pathlib
import re
import sys
from typing import Any

import helm_python as helm
import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "hirebridge"
CRDS = pathlib.Path(__file__).resolve().parent / "crds"
RELEASE = "hb"
NAMESPACE = "hr"

# The custom resources the chart renders, by (apiVersion, kind): the CRD files they are checked
# against (prometheus-operator's, vendored in .ci/chart/crds).
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}


class Rendered(list):
    """The manifests of one render, each a dict with its template under `_template`."""

    def of(self, kind: str, component: str | None = None) -> list[dict]:
        out = [m for m in self if m["kind"] == kind]
        if component is not None:
            out = [m for m in out if labels(m).get("app.kubernetes.io/component") == component]
        return out

    def one(self, kind: str, component: str | None = None) -> dict:
        found = self.of(kind, component)
        assert len(found) == 1, f"expected one {kind} ({component}), found {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {m["kind"] for m in self}


def labels(m: dict) -> dict:
    return (m.get("metadata") or {}).get("labels") or {}


def load_values(path: str | pathlib.Path) -> dict:
    return yaml.safe_load(pathlib.Path(path).read_text()) or {}


def ci_values(mode: str) -> dict:
    return load_values(CHART / "ci" / f"{mode}-values.yaml")


def render(values: dict | None = None, *, upgrade: bool = False) -> Rendered:
    """Render the chart as `helm install hb -n hr` (or `helm upgrade`) would, offline."""
    chart = helm.Chart.load(str(CHART))
    out = chart.render(
        values=values or {},
        name=RELEASE,
        namespace=NAMESPACE,
        is_install=not upgrade,
        is_upgrade=upgrade,
    )
    docs = Rendered()
    for template, text in sorted(out.items()):
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                doc["_template"] = template
                docs.append(doc)
    return docs


def render_notes(values: dict | None = None) -> str:
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values=values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return next(text for t, text in out.items() if t.endswith("NOTES.txt"))


def render_error(values: dict) -> str:
    """The message a render refuses `values` with (fails the test if it renders)."""
    try:
        render(values)
    except helm.HelmError as e:
        return str(e)
    raise AssertionError(f"the chart rendered values it should refuse: {json.dumps(values)}")


def strip(m: dict) -> dict:
    return {k: v for k, v in m.items() if not k.startswith("_")}


def crd_schema(api_version: str, kind: str) -> dict:
    crd = yaml.safe_load((CRDS / CUSTOM_KINDS[(api_version, kind)]).read_text())
    version = api_version.split("/")[1]
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise KeyError(f"{kind}: no version {version} in its CRD")


def closed(schema: Any) -> Any:
    """The schema with unknown properties refused wherever properties are listed (strict).

    Patterns in Go's syntax that Python cannot compile (an inline `(?i)` after `^`) are dropped.
    """
    if isinstance(schema, dict):
        out = {
            k: closed(v)
            for k, v in schema.items()
            if not k.startswith("x-kubernetes") and not (k == "pattern" and not compiles(v))
        }
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    return schema


def compiles(pattern: Any) -> bool:
    try:
        re.compile(pattern)
        return True
    except (re.error, TypeError):
        return False


def validate_custom(m: dict) -> None:
    """A custom resource against its CRD's schema, unknown fields refused (metadata aside)."""
    schema = closed(crd_schema(m["apiVersion"], m["kind"]))
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    jsonschema.Draft7Validator(schema).validate(strip(m))


def write(docs: Rendered, outdir: pathlib.Path) -> list[pathlib.Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, m in enumerate(docs):
        name = f"{i:02d}-{m['kind'].lower()}-{m['metadata']['name']}.yaml"
        p = outdir / name
        p.write_text(yaml.safe_dump(strip(m), sort_keys=False))
        paths.append(p)
    return paths


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "render":
        docs = render(load_values(argv[1]) if argv[1] != "-" else {})
        outdir = pathlib.Path(argv[2])
        builtin, custom = outdir / "builtin", outdir / "custom"
        write(Rendered(m for m in docs if (m["apiVersion"], m["kind"]) not in CUSTOM_KINDS), builtin)
        write(Rendered(m for m in docs if (m["apiVersion"], m["kind"]) in CUSTOM_KINDS), custom)
        print(f"{argv[1]}: {len(docs)} manifests ({', '.join(sorted(docs.kinds()))})")
        return 0
    if len(argv) == 2 and argv[0] == "validate-crs":
        n = 0
        for p in sorted(pathlib.Path(argv[1]).glob("*.yaml")):
            m = yaml.safe_load(p.read_text())
            validate_custom(m)
            print(f"{p.name}: valid against its CRD ({m['apiVersion']} {m['kind']})")
            n += 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
