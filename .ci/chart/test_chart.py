"""The chart's properties, one test each, over renders made with Helm's own library.

Run: venv=$(bash .ci/venv.sh) && "$venv/bin/pytest" .ci/chart
The rendered config is also loaded by the hirebridge binary (HIREBRIDGE_BIN, default
target/debug/hirebridge), which must exist.
"""

from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import chartlib  # noqa: E402
from chartlib import CHART, ROOT, ci_values, render, render_error  # noqa: E402

import dashboard_check  # noqa: E402

SQLITE = ci_values("sqlite")
POSTGRES = ci_values("postgres")
MODES = {"default": {}, "sqlite": SQLITE, "postgres": POSTGRES}
KUBE_VERSIONS = ["1.25.0", "1.37.0"]  # the chart's kubeVersion floor, and the newest schema


def merged(base: dict, **over) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = v
    return out


def pod_spec(m: dict) -> dict:
    return m["spec"]["template"]["spec"]


def container(m: dict) -> dict:
    (c,) = pod_spec(m)["containers"]
    return c


def config_of(docs, component=None) -> dict:
    """hirebridge.yaml as the server (or the migration Job) reads it."""
    if component == "migrate":
        cm = docs.one("ConfigMap", "migrate")
    else:
        cm = next(m for m in docs.of("ConfigMap") if m["metadata"]["name"] == "hb-hirebridge")
    return yaml.safe_load(cm["data"]["hirebridge.yaml"])


def mounts(c: dict) -> dict:
    return {v["name"]: v for v in c.get("volumeMounts", [])}


def volumes(m: dict) -> dict:
    return {v["name"]: v for v in pod_spec(m).get("volumes", [])}


def projected_files(m: dict) -> dict:
    """path under the secrets mount -> (secret name, key)."""
    out = {}
    for src in volumes(m)["secrets"]["projected"]["sources"]:
        for item in src["secret"]["items"]:
            out[item["path"]] = (src["secret"]["name"], item["key"])
    return out


# ---- the chart as a whole ------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_lints_clean_with_helm(mode):
    report = helm.lint(str(CHART), MODES[mode], strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
    assert not errors, errors


@pytest.mark.parametrize("version", KUBE_VERSIONS)
@pytest.mark.parametrize("mode", MODES)
def test_every_builtin_manifest_is_valid_kubernetes(mode, version):
    docs = render(MODES[mode])
    checked = 0
    for m in docs:
        if (m["apiVersion"], m["kind"]) in chartlib.CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(chartlib.strip(m), version, strict=True)
        checked += 1
    assert checked >= 5


def test_custom_resources_match_their_crds():
    docs = render(POSTGRES)
    custom = [m for m in docs if (m["apiVersion"], m["kind"]) in chartlib.CUSTOM_KINDS]
    assert {m["kind"] for m in custom} == {"ServiceMonitor", "PrometheusRule"}
    for m in custom:
        chartlib.validate_custom(m)


def test_crd_check_refuses_an_unknown_field():
    m = render(POSTGRES).one("ServiceMonitor")
    m["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(Exception, match="intervall"):
        chartlib.validate_custom(m)


def test_upgrade_renders_the_same_objects():
    install = {(m["kind"], m["metadata"]["name"]) for m in render(POSTGRES)}
    upgrade = {(m["kind"], m["metadata"]["name"]) for m in render(POSTGRES, upgrade=True)}
    assert install == upgrade


# ---- SQLite mode ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["default", "sqlite"])
def test_sqlite_is_one_replica_recreated_on_a_volume(mode):
    docs = render(MODES[mode])
    d = docs.one("Deployment")
    assert d["spec"]["replicas"] == 1
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    pvc = docs.one("PersistentVolumeClaim")
    data = volumes(d)["data"]
    assert data["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert mounts(container(d))["data"]["mountPath"] == "/var/lib/hirebridge"
    assert config_of(docs)["database_url"] == "sqlite:///var/lib/hirebridge/hirebridge.db"
    assert not docs.of("HorizontalPodAutoscaler")
    assert not docs.of("PodDisruptionBudget")
    assert not docs.of("Job")


def test_sqlite_refuses_more_than_one_replica():
    msg = render_error({"replicaCount": 2})
    assert "replicaCount is 2" in msg and "SQLite" in msg and "postgres://" in msg


def test_an_explicit_sqlite_url_refuses_more_than_one_replica():
    msg = render_error({"replicaCount": 3, "database": {"url": "sqlite:///data/hb.db"}})
    assert "replicaCount is 3" in msg


def test_sqlite_refuses_autoscaling():
    msg = render_error({"autoscaling": {"enabled": True}})
    assert "autoscaling" in msg and "PostgreSQL" in msg


def test_sqlite_can_use_an_existing_claim():
    docs = render({"persistence": {"existingClaim": "hr-data"}})
    assert not docs.of("PersistentVolumeClaim")
    assert volumes(docs.one("Deployment"))["data"]["persistentVolumeClaim"]["claimName"] == "hr-data"


# ---- PostgreSQL mode -----------------------------------------------------------------------


def test_postgres_runs_n_replicas_rolling():
    docs = render(merged(POSTGRES, autoscaling={"enabled": False}))
    d = docs.one("Deployment")
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert not docs.of("PersistentVolumeClaim")
    assert "emptyDir" in volumes(d)["data"]


def test_postgres_url_goes_to_a_secret_never_the_configmap():
    docs = render(POSTGRES)
    url = POSTGRES["database"]["url"]
    for cm in docs.of("ConfigMap"):
        assert url not in yaml.safe_dump(cm)
    assert "database_url" not in config_of(docs)
    path = config_of(docs)["database_url_file"]
    assert path == "/var/run/secrets/hirebridge/database/url"
    secret, key = projected_files(docs.one("Deployment"))["database/url"]
    assert secret == "hb-hirebridge" and key == "database-url"
    chart_secret = next(s for s in docs.of("Secret") if s["metadata"]["name"] == "hb-hirebridge")
    assert "database-url" in chart_secret["data"]


def test_postgres_from_an_existing_secret():
    docs = render({"database": {"existingSecret": "hr-db", "existingSecretKey": "url"}, "replicaCount": 2})
    assert docs.one("Deployment")["spec"]["replicas"] == 2
    assert projected_files(docs.one("Deployment"))["database/url"] == ("hr-db", "url")
    # Nothing else to keep secret: the chart creates no Secret of its own.
    assert not docs.of("Secret")


def test_database_url_and_existing_secret_are_exclusive():
    msg = render_error({"database": {"url": "postgres://h/db", "existingSecret": "hr-db"}})
    assert "not both" in msg


def test_an_unknown_database_scheme_is_refused():
    msg = render_error({"database": {"url": "mysql://h/db"}})
    assert "/database/url" in msg and "mysql://h/db" in msg


def test_migration_job_is_a_pre_install_pre_upgrade_hook_running_migrate():
    docs = render(POSTGRES)
    job = docs.one("Job", "migrate")
    ann = job["metadata"]["annotations"]
    assert set(ann["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    c = container(job)
    assert c["args"][0] == "migrate"
    # What the Job reads exists at hook time: hook copies of the ConfigMap and chart Secret,
    # created before it (lower weight), or existing Secrets.
    weight = int(ann["helm.sh/hook-weight"])
    cm_name = volumes(job)["config"]["configMap"]["name"]
    hook_cm = next(m for m in docs.of("ConfigMap") if m["metadata"]["name"] == cm_name)
    assert int(hook_cm["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight
    for secret, _key in projected_files(job).values():
        s = [m for m in docs.of("Secret") if m["metadata"]["name"] == secret]
        if s:
            assert "helm.sh/hook" in s[0]["metadata"]["annotations"], secret
            assert int(s[0]["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight
        else:
            assert secret == "hirebridge-sources"  # named by existingSecret in the CI values
    assert config_of(docs, "migrate") == config_of(docs)
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_sqlite_mode_has_no_migration_job():
    assert not render(SQLITE).of("Job")


def test_postgres_has_a_disruption_budget_and_optional_autoscaling():
    docs = render(POSTGRES)
    pdb = docs.one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == docs.one("Deployment")["spec"]["selector"]["matchLabels"]
    hpa = docs.one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == docs.one("Deployment")["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    # The HPA owns the replica count.
    assert "replicas" not in docs.one("Deployment")["spec"]
    assert not render(merged(POSTGRES, autoscaling={"enabled": False})).of("HorizontalPodAutoscaler")


# ---- config, rules, secrets ----------------------------------------------------------------


def test_rules_have_their_own_configmap_mounted_as_a_directory():
    docs = render(SQLITE)
    d = docs.one("Deployment")
    m = mounts(container(d))["rules"]
    assert "subPath" not in m, "a subPath mount never sees ConfigMap updates"
    cm_name = volumes(d)["rules"]["configMap"]["name"]
    cm = next(x for x in docs.of("ConfigMap") if x["metadata"]["name"] == cm_name)
    assert cm["data"]["rules.yaml"].strip() == SQLITE["rules"].strip()
    assert config_of(docs)["rules_file"] == m["mountPath"] + "/rules.yaml"


def test_config_changes_restart_pods_rule_changes_do_not():
    def annotations(values):
        return render(values).one("Deployment")["spec"]["template"]["metadata"]["annotations"]

    base = annotations(SQLITE)
    assert "checksum/config" in base
    assert not any("rule" in k for k in base), base
    new_rules = merged(SQLITE, rules="version: 1\nrules: []\n")
    assert annotations(new_rules) == base
    new_config = merged(SQLITE, config={**SQLITE["config"], "delivery": {"max_attempts": 3}})
    assert annotations(new_config)["checksum/config"] != base["checksum/config"]


def test_rules_given_as_a_map_are_rendered_as_yaml():
    docs = render({"rules": {"version": 1, "rules": [{"name": "all", "when": {}, "assign": {"packs": [7]}}]}})
    cm = next(x for x in docs.of("ConfigMap") if x["metadata"]["name"] == "hb-hirebridge-rules")
    assert yaml.safe_load(cm["data"]["rules.yaml"])["rules"][0]["assign"]["packs"] == [7]


def test_existing_secrets_become_file_keys():
    docs = render(SQLITE)
    cfg = config_of(docs)
    files = projected_files(docs.one("Deployment"))
    expect = {
        ("connecteam", "api_key_file"): ("connecteam/api-key", "connecteam-api-key"),
        ("admin", "jwt", "hs256_secret_file"): ("admin/jwt-hs256-secret", "admin-jwt-hs256-secret"),
        ("sources", "greenhouse", "secret_file"): ("sources/greenhouse/secret", "source-greenhouse-secret"),
        ("sources", "acme-hris", "auth", "hmac_sha256", "secret_file"): (
            "sources/acme-hris/secret",
            "source-acme-hris-secret",
        ),
    }
    for keys, (path, secret_key) in expect.items():
        node = cfg
        for k in keys:
            node = node[k]
        assert node == f"/var/run/secrets/hirebridge/{path}", keys
        assert files[path] == ("hirebridge-secrets", secret_key)
    # The source's own options survive the merge.
    assert cfg["sources"]["acme-hris"]["auth"]["hmac_sha256"]["header"] == "X-Signature"


def test_quick_try_secret_values_never_reach_a_configmap():
    docs = render(POSTGRES)
    secret_values = ["ci-connecteam-api-key", "ci-admin-hs256-secret", "ci-greenhouse-secret", "ci-database-password"]
    for m in docs:
        if m["kind"] == "Secret":
            continue
        text = yaml.safe_dump(chartlib.strip(m))
        for v in secret_values:
            assert v not in text, f"{v} in {m['kind']} {m['metadata']['name']}"


@pytest.mark.parametrize(
    "config, names",
    [
        ({"connecteam": {"api_key": "k"}}, "config.connecteam.api_key"),
        ({"admin": {"jwt": {"hs256_secret": "s"}}}, "config.admin.jwt.hs256_secret"),
        ({"sources": {"gh": {"kind": "greenhouse", "secret": "s"}}}, "config.sources.gh.secret"),
        (
            {"sources": {"h": {"kind": "generic", "auth": {"bearer": {"token": "t"}}}}},
            "config.sources.h.auth.bearer.token",
        ),
        ({"database_url": "postgres://u:p@h/db"}, "config.database_url"),
        ({"listen": "0.0.0.0:9000"}, "config.listen"),
    ],
)
def test_secret_values_and_chart_keys_are_refused_in_config(config, names):
    assert names in render_error({"config": config})


def test_a_source_secret_needs_its_source_configured():
    msg = render_error({"sources": {"greenhouse": {"existingSecret": "s"}}})
    assert "config.sources.greenhouse.kind" in msg


def test_rendered_config_is_accepted_by_hirebridge(tmp_path):
    """hirebridge loads the ConfigMap's hirebridge.yaml with the files the pod would have."""
    binary = pathlib.Path(os.environ.get("HIREBRIDGE_BIN", ROOT / "target" / "debug" / "hirebridge"))
    assert binary.exists(), f"{binary} is missing: cargo build --locked first"
    for mode in ("sqlite", "postgres"):
        docs = render(MODES[mode])
        root = tmp_path / mode
        text = next(m for m in docs.of("ConfigMap") if m["metadata"]["name"] == "hb-hirebridge")["data"][
            "hirebridge.yaml"
        ]
        for prefix in ("/var/run/secrets/hirebridge", "/etc/hirebridge", "/var/lib/hirebridge"):
            text = text.replace(prefix, str(root) + prefix)
        cfg_path = root / "hirebridge.yaml"
        (root / "var/lib/hirebridge").mkdir(parents=True)
        rules = next(m for m in docs.of("ConfigMap") if m["metadata"]["name"] == "hb-hirebridge-rules")
        (root / "etc/hirebridge/rules").mkdir(parents=True)
        (root / "etc/hirebridge/rules/rules.yaml").write_text(rules["data"]["rules.yaml"])
        for path in projected_files(docs.one("Deployment")):
            f = root / "var/run/secrets/hirebridge" / path
            f.parent.mkdir(parents=True, exist_ok=True)
            # The database URL file: a SQLite database here, so the check needs no server.
            f.write_text(f"sqlite://{root}/pg-stand-in.db" if path == "database/url" else "whsec_c2VjcmV0LXZhbHVlLWZvci1oaXJlYnJpZGdl")
        cfg_path.write_text(text)
        run = subprocess.run(
            [str(binary), "migrate", "--config", str(cfg_path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": os.environ.get("PATH", ""), "HIREBRIDGE__DATABASE_URL": "null"},
        )
        assert run.returncode == 0, f"{mode}: {run.stderr}"
        check = subprocess.run(
            [str(binary), "rules", "check", str(root / "etc/hirebridge/rules/rules.yaml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, f"{mode}: {check.stdout}{check.stderr}"


# ---- the pod -------------------------------------------------------------------------------


def test_probes_use_healthz_and_readyz():
    c = container(render(SQLITE).one("Deployment"))
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8080}


@pytest.mark.parametrize("mode", ["sqlite", "postgres"])
def test_every_container_is_locked_down(mode):
    docs = render(MODES[mode])
    workloads = docs.of("Deployment") + docs.of("Job")
    assert workloads
    for w in workloads:
        pod = pod_spec(w)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 65532
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert mounts(c)["tmp"]["mountPath"] == "/tmp"
            assert "emptyDir" in volumes(w)["tmp"]
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_values_named_as_platform_teams_expect():
    docs = render(
        {
            "image": {"repository": "registry.example.com/hirebridge", "tag": "1.2.3"},
            "podAnnotations": {"example.com/team": "hr"},
            "extraEnv": [{"name": "HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "value": "80"}],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        }
    )
    d = docs.one("Deployment")
    c = container(d)
    assert c["image"] == "registry.example.com/hirebridge:1.2.3"
    assert d["spec"]["template"]["metadata"]["annotations"]["example.com/team"] == "hr"
    assert {"name": "HIREBRIDGE__CONNECTEAM__REQUESTS_PER_MINUTE", "value": "80"} in c["env"]
    assert c["resources"]["limits"]["memory"] == "1Gi"


def test_an_image_digest_pins_the_image():
    digest = "sha256:" + "a" * 64
    c = container(render({"image": {"repository": "hb", "digest": digest}}).one("Deployment"))
    assert c["image"] == f"hb@{digest}"


def test_values_schema_refuses_a_misspelt_key():
    with pytest.raises(helm.HelmError, match="replicaCont"):
        render({"replicaCont": 2})


def test_service_selects_the_server_pods_only():
    docs = render(POSTGRES)
    svc = docs.one("Service")
    d = docs.one("Deployment")
    assert svc["spec"]["selector"] == d["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["selector"]["app.kubernetes.io/component"] == "server"
    assert {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {"http": "http"}


# ---- monitoring and network ----------------------------------------------------------------


def test_optional_objects_are_off_by_default():
    kinds = render({}).kinds()
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}


def test_service_monitor_scrapes_metrics_of_the_service():
    docs = render(POSTGRES)
    sm = docs.one("ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= chartlib.labels(docs.one("Service")).items()
    (ep,) = sm["spec"]["endpoints"]
    assert ep["path"] == "/metrics" and ep["port"] == "http"
    docs = render(merged(POSTGRES, metrics={"port": 9090}))
    assert docs.one("ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"
    assert config_of(docs)["metrics_listen"] == "0.0.0.0:9090"


def test_prometheus_rule_has_the_alerts_over_registered_metrics():
    rules = render(POSTGRES).one("PrometheusRule")["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert set(alerts) >= {
        "HirebridgeDeadLetters",
        "HirebridgeDeliveryLagging",
        "HirebridgeConnecteamRateLimited",
        "HirebridgePodNotReady",
        "HirebridgeHiresWaitingForUser",
    }
    kinds = dashboard_check.source_metrics(str(ROOT / "src"))
    used = set()
    for r in rules:
        names, problems = dashboard_check.check_ast(r["expr"], kinds)
        # The one counter read without increase() is the dead-letter rule's "series new within
        # the window" term, which compares presence, not values.
        problems = [p for p in problems if not ("dead_letters" in p and "without rate" in p)]
        assert not problems, (r["alert"], problems)
        used |= {n for n in names if n.startswith("hirebridge_")}
        for n in names:
            if n.startswith("hirebridge_"):
                assert dashboard_check.resolve(n, kinds)[0], f"{r['alert']}: {n} is not a hirebridge metric"
        assert r["labels"]["severity"] and r["annotations"]["summary"]
    assert {
        "hirebridge_delivery_dead_letters_total",
        "hirebridge_delivery_oldest_due_age_seconds",
        "hirebridge_connecteam_429_total",
        "hirebridge_delivery_hires_waiting_for_user",
    } <= used


def test_alerts_can_be_turned_off_one_by_one():
    values = merged(POSTGRES, prometheusRule={"enabled": True, "alerts": {"connecteam429": {"enabled": False}}})
    rules = render(values).one("PrometheusRule")["spec"]["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert "HirebridgeConnecteamRateLimited" not in names and "HirebridgeDeadLetters" in names


def test_network_policy_allows_dns_postgres_and_https_out():
    docs = render(POSTGRES)
    np = docs.one("NetworkPolicy")
    assert set(np["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert np["spec"]["podSelector"]["matchLabels"].items() <= chartlib.labels(docs.one("Deployment")).items()
    ports = {p["port"] for rule in np["spec"]["egress"] for p in rule["ports"]}
    assert {53, 5432, 443} <= ports
    sqlite_np = render(merged(SQLITE, networkPolicy={"enabled": True})).one("NetworkPolicy")
    assert 5432 not in {p["port"] for rule in sqlite_np["spec"]["egress"] for p in rule["ports"]}


def test_notes_tell_how_to_reach_the_service():
    notes = chartlib.render_notes(SQLITE)
    assert "hb-hirebridge" in notes and "/readyz" in notes and "SQLite" in notes
    notes = chartlib.render_notes(POSTGRES)
    assert "PostgreSQL" in notes and "3" in notes
