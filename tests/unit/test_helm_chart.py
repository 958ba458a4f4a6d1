"""The Helm chart agrees with the code: every setting, every topic, the commands, the rules file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings
from typer.testing import CliRunner

from services.cli import app as cli
from services.common.kafka import topic_specs
from services.common.settings import AlertsSettings, EnrichSettings, IngestSettings, LoaderSettings
from tests.unit.helm_render import CHART, PRODUCTION_VALUES, helm_template, of_kind, render, values

SERVICES: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "enrich": EnrichSettings,
    "loader": LoaderSettings,
    "alerts": AlertsSettings,
}
FIELDS = set().union(*(cls.model_fields for cls in SERVICES.values()))
# Chart defaults that differ from the settings defaults on purpose: in a pod the services listen on
# all interfaces, keep state under the /data volume and reach the Strimzi cluster's bootstrap Service.
KUBERNETES_DEFAULTS = {
    "kafka_bootstrap": "engage-kafka-bootstrap:9092",
    "clickhouse_dsn": "chdb:///data/clickhouse",
    "ingest_host": "0.0.0.0",
    "enrich_web_host": "0.0.0.0",
    "loader_web_host": "0.0.0.0",
    "loader_query_host": "0.0.0.0",
    "loader_query_port": 6068,  # /query on a port of its own, for a NetworkPolicy of its own
    "alerts_web_host": "0.0.0.0",
    "enrich_data_dir": Path("/data/enrich"),
    "alerts_data_dir": Path("/data/alerts"),
    "var_dir": Path("/data"),
}
RENDERS = {"default": (), "production": ("-f", str(PRODUCTION_VALUES))}


@pytest.fixture(scope="module", params=sorted(RENDERS))
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(*RENDERS[request.param])


def configmap_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    (cm,) = of_kind(docs, "ConfigMap")
    data = cm["data"]
    assert all(isinstance(v, str) for v in data.values())
    return dict(data)


def settings_from(
    env: dict[str, str], cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> Any:
    with monkeypatch.context() as m:
        for name in FIELDS:
            m.delenv(f"ENGAGE_{name.upper()}", raising=False)
        for key, value in env.items():
            m.setenv(key, value)
        return cls(**kw)


# --- settings <-> values.yaml ------------------------------------------------------------------


@pytest.mark.parametrize("path", [CHART / "values.yaml", PRODUCTION_VALUES], ids=lambda p: p.name)
def test_every_setting_is_in_the_chart_and_nothing_else(path: Path) -> None:
    v = values(path)
    config, secret = set(v["config"]), set(v["secretEnv"])
    if path == PRODUCTION_VALUES:  # an overlay: only known keys, merged onto values.yaml
        assert not (config | secret) - FIELDS
        return
    missing = FIELDS - config - secret
    assert not missing, f"settings missing from values.yaml config/secretEnv: {sorted(missing)}"
    unknown = (config | secret) - FIELDS
    assert not unknown, f"values.yaml keys that are no setting: {sorted(unknown)}"
    for name, ref in v["secretEnv"].items():
        assert set(ref) == {"secretName", "key", "optional", "services"}, name
        assert set(ref["services"]) <= {*SERVICES, "migrate"}, name
        owners = {s for s, cls in SERVICES.items() if name in cls.model_fields}
        assert set(ref["services"]) - {"migrate"} <= owners, f"{name} goes to a service that lacks it"


def test_chart_defaults_are_the_settings_defaults() -> None:
    config = values()["config"]
    for service, cls in SERVICES.items():
        defaults = cls().model_dump()
        chart = cls.model_validate(
            {k: val for k, val in config.items() if k in cls.model_fields and val != ""}
        )
        for name, value in chart.model_dump().items():
            expected = KUBERNETES_DEFAULTS.get(name, defaults[name])
            assert value == expected, f"{service}: values.yaml config.{name}={value!r}, settings {expected!r}"
    for name, value in config.items():
        if value == "":  # "leave at the service default": only for settings without a real default
            assert all(cls.model_fields[name].default in (None, "") for cls in SERVICES.values()
                       if name in cls.model_fields), name  # fmt: skip


def test_rendered_configmap_is_read_back_by_every_service(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = configmap_env(docs)
    assert set(env) <= {f"ENGAGE_{f.upper()}" for f in FIELDS}
    for cls in SERVICES.values():
        settings = settings_from(env, cls, monkeypatch)
        for key, text in env.items():
            name = key.removeprefix("ENGAGE_").lower()
            if name in cls.model_fields:
                # The service sees exactly the value the chart wrote (no lost digits, no exponent form).
                assert getattr(settings, name) == cls.model_validate({name: text}).model_dump()[name]
                assert "e+" not in text, key


def test_secrets_are_referenced_never_inlined(docs: list[dict[str, Any]]) -> None:
    v = values()
    secret_vars = {
        f"ENGAGE_{name.upper()}" for name, ref in v["secretEnv"].items() if name != "clickhouse_dsn"
    }
    assert not secret_vars & set(configmap_env(docs))
    for deploy in of_kind(docs, "Deployment"):
        service = deploy["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        for entry in container.get("env", []):
            name = entry["name"].removeprefix("ENGAGE_").lower()
            assert name in SERVICES[service].model_fields, f"{service} gets {entry['name']} it does not read"
            if name != "kafka_ssl_cafile":
                assert set(entry) == {"name", "valueFrom"}, entry
                assert "secretKeyRef" in entry["valueFrom"]


# --- topics -------------------------------------------------------------------------------------


def expected_topics(env: dict[str, str], tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every topic the code uses with the chart's settings: its own topics and faust's."""
    from services.alerts.app import create_app as alerts_app
    from services.enrich.app import create_app as enrich_app

    enrich = settings_from(env, EnrichSettings, monkeypatch, enrich_data_dir=tmp / "e")
    alerts = settings_from(env, AlertsSettings, monkeypatch, alerts_data_dir=tmp / "a")
    topics: dict[str, Any] = {}
    for settings in (enrich, alerts):
        for spec in topic_specs(settings):
            config = {"cleanup.policy": "delete", **spec.config}
            topics[spec.name] = (spec.partitions, spec.replication, config)
    for faust_app in (enrich_app(enrich), alerts_app(alerts)):
        replicas = faust_app.conf.topic_replication_factor
        for table in faust_app.tables.values():
            assert table.changelog_topic.compacting and not table.changelog_topic.deleting
            topics[table.changelog_topic.get_topic_name()] = (
                table.partitions,
                replicas,
                {"cleanup.policy": "compact"},
            )
        # faust's LeaderAssignor: one single-partition topic per app ("<id>-__assignor-__leader").
        leader = faust_app._leader_assignor._leader_topic_name  # type: ignore[attr-defined]
        topics[leader] = (1, replicas, {"cleanup.policy": "delete"})
    return topics


def test_kafka_topics_are_every_topic_the_code_uses(
    docs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = {}
    if any(d["metadata"].get("namespace") == "kafka" for d in of_kind(docs, "KafkaTopic")):
        extra = values(PRODUCTION_VALUES)["kafkaTopics"]["extraConfig"]
    rendered = {
        d["spec"]["topicName"]: (d["spec"]["partitions"], d["spec"]["replicas"], d["spec"]["config"])
        for d in of_kind(docs, "KafkaTopic")
    }
    expected = expected_topics(configmap_env(docs), tmp_path, monkeypatch)
    assert sorted(rendered) == sorted(expected)
    for name, (partitions, replicas, config) in expected.items():
        assert rendered[name] == (partitions, replicas, {**config, **extra}), name
    assert len({d["metadata"]["name"] for d in of_kind(docs, "KafkaTopic")}) == len(rendered)


# --- workloads ----------------------------------------------------------------------------------


def pod_specs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]


def test_every_container_runs_an_engage_command(docs: list[dict[str, Any]]) -> None:
    runner = CliRunner()
    commands = set()
    for spec in pod_specs(docs):
        for container in spec["containers"]:
            result = runner.invoke(cli, [*container["args"], "--help"])
            assert result.exit_code == 0, (container["args"], result.output)
            commands.add(" ".join(container["args"]))
    assert {"ingest serve", "enrich worker", "loader worker", "alerts worker"} <= commands


def test_pods_are_locked_down(docs: list[dict[str, Any]]) -> None:
    for spec in pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]


def test_workers_keep_state_under_the_data_volume(docs: list[dict[str, Any]]) -> None:
    env = configmap_env(docs)
    for deploy in of_kind(docs, "Deployment"):
        service = deploy["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        port_key = {"ingest": "INGEST_PORT"}.get(service, f"{service.upper()}_WEB_PORT")
        assert container["ports"][0]["containerPort"] == int(env[f"ENGAGE_{port_key}"])
        if service != "ingest":
            assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp", "/data"}
        if service == "loader":  # its state: the embedded chDB (production: a server, DSN in a Secret)
            assert env.get("ENGAGE_CLICKHOUSE_DSN", "chdb:///data/").startswith("chdb:///data/")
        elif service != "ingest":
            assert env[f"ENGAGE_{service.upper()}_DATA_DIR"].startswith("/data/")


def test_embedded_chdb_allows_exactly_one_loader_replica() -> None:
    proc = helm_template("--set", "loader.replicas=2", check=False)
    assert proc.returncode != 0
    assert "loader.replicas > 1 needs a ClickHouse server" in proc.stderr
    proc = helm_template("--set", "loader.enabled=false", check=False)
    assert "nothing would write ClickHouse" in proc.stderr

    docs = render("--set", "enrich.replicas=2")  # enrich no longer touches ClickHouse: it may scale
    (loader,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-loader")]
    assert loader["spec"]["replicas"] == 1
    assert loader["spec"]["strategy"] == {"type": "Recreate"}
    assert loader["spec"]["template"]["spec"]["containers"][0]["args"] == ["loader", "worker"]
    (enrich,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-enrich")]
    assert enrich["spec"]["replicas"] == 2 and "strategy" not in enrich["spec"]
    assert not of_kind(docs, "Job")  # the loader migrates its embedded chDB itself

    server = render("--set", "secretEnv.clickhouse_dsn.secretName=ch", "--set", "loader.replicas=3")
    (loader,) = [d for d in of_kind(server, "Deployment") if d["metadata"]["name"].endswith("-loader")]
    assert loader["spec"]["replicas"] == 3
    assert "strategy" not in loader["spec"]
    (c,) = loader["spec"]["template"]["spec"]["containers"]
    assert {e["name"]: e for e in c["env"]}["ENGAGE_CLICKHOUSE_DSN"]["valueFrom"]["secretKeyRef"][
        "name"
    ] == "ch"
    for other in of_kind(server, "Deployment"):  # only the loader (and the Job) talk to ClickHouse
        if other is not loader:
            (c,) = other["spec"]["template"]["spec"]["containers"]
            assert "ENGAGE_CLICKHOUSE_DSN" not in {e["name"] for e in c.get("env", [])}
    assert "ENGAGE_CLICKHOUSE_DSN" not in configmap_env(server)
    (job,) = of_kind(server, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    dsn = {e["name"]: e for e in container["env"]}["ENGAGE_CLICKHOUSE_DSN"]
    assert dsn["valueFrom"]["secretKeyRef"] == {"name": "ch", "key": "dsn", "optional": False}


def test_keda_scales_each_worker_on_its_consumer_group() -> None:
    docs = render("-f", str(PRODUCTION_VALUES))
    prod = values(PRODUCTION_VALUES)["config"]
    scaled = {d["metadata"]["name"]: d for d in of_kind(docs, "ScaledObject")}
    assert set(scaled) == {"engage-enrich", "engage-alerts"}
    enrich = scaled["engage-enrich"]["spec"]["triggers"][0]["metadata"]
    alerts = scaled["engage-alerts"]["spec"]["triggers"][0]["metadata"]
    assert (enrich["consumerGroup"], enrich["topic"]) == (
        EnrichSettings().enrich_app_id,
        prod.get("topic_raw", EnrichSettings().topic_raw),
    )
    assert (alerts["consumerGroup"], alerts["topic"]) == (
        AlertsSettings().alerts_app_id,
        AlertsSettings().topic_enriched,
    )
    assert enrich["sasl"] == "scram_sha512" and enrich["tls"] == "enable"
    env = configmap_env(docs)
    for auth in of_kind(docs, "TriggerAuthentication"):
        (user,) = auth["spec"]["configMapTargetRef"]
        assert user["key"] in env
    # KEDA owns the enrich and alerts replica counts; the loader's are set.
    assert all(
        ("replicas" in d["spec"]) == d["metadata"]["name"].endswith("-loader")
        for d in of_kind(docs, "Deployment")
    )
    proc = helm_template("-f", str(PRODUCTION_VALUES), "--set", "enrich.keda.maxReplicas=13", check=False)
    assert "exceeds config.topic_partitions" in proc.stderr


def test_prometheus_rule_carries_the_rules_file(docs: list[dict[str, Any]]) -> None:
    rules = yaml.safe_load((CHART / "files" / "prometheus-rules.yml").read_text())
    (rule,) = of_kind(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == rules["groups"]
    (monitor,) = of_kind(docs, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = [s for s in of_kind(docs, "Service") if selector.items() <= s["metadata"]["labels"].items()]
    assert len(scraped) == 4
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"http"}


# --- who reaches the workers ---------------------------------------------------------------------

ANALYSTS = {"podSelector": {"matchLabels": {"engage.io/query": "true"}}}


def _ingress(docs: list[dict[str, Any]], component: str) -> dict[str, list[Any]]:
    """Port name -> NetworkPolicy peers admitted there, for one component."""
    (policy,) = [d for d in of_kind(docs, "NetworkPolicy") if d["metadata"]["name"].endswith(f"-{component}")]
    rules = policy["spec"]["ingress"]
    assert rules is not None  # an empty list denies all; a missing key would not render valid YAML
    return {port["port"]: rule.get("from", ["anyone"]) for rule in rules for port in rule["ports"]}


def test_workers_admit_scrapers_to_metrics_and_analysts_to_query_only() -> None:
    v = values()["networkPolicy"]
    docs = render("--set-json", f"networkPolicy.queryFrom=[{json.dumps(ANALYSTS)}]")
    for component in ("enrich", "loader", "alerts"):
        admitted = _ingress(docs, component)
        assert admitted["http"] == v["metricsFrom"], component  # not every pod of the release (ingest)
        assert not any("app.kubernetes.io/instance" in str(p) for p in admitted["http"])
    assert _ingress(docs, "loader")["query"] == [ANALYSTS]
    assert "query" not in _ingress(docs, "alerts") and "query" not in _ingress(docs, "enrich")
    # The default scrapers are Prometheus' pods, not the whole monitoring namespace.
    assert all("podSelector" in peer for peer in v["metricsFrom"])
    # By default nobody reaches /query; with no scrapers either, the workers admit nothing.
    assert "query" not in _ingress(render(), "loader")
    assert _ingress(render("--set-json", "networkPolicy.metricsFrom=[]"), "loader") == {}
    # /query served on the web port: the analysts are admitted there instead.
    same_port = render(
        "--set",
        "config.loader_query_port=0",
        "--set-json",
        f"networkPolicy.queryFrom=[{json.dumps(ANALYSTS)}]",
    )
    assert _ingress(same_port, "loader") == {"http": [*v["metricsFrom"], ANALYSTS]}
    assert _ingress(same_port, "alerts") == {"http": v["metricsFrom"]}


def test_query_port_tokens_and_limits_are_deployed(docs: list[dict[str, Any]]) -> None:
    env = configmap_env(docs)
    for name in ("QUERY_MAX_EXECUTION_SECONDS", "QUERY_MAX_RESULT_ROWS", "QUERY_MAX_MEMORY_BYTES"):
        assert float(env[f"ENGAGE_{name}"]) > 0, name
    limits = settings_from_env(env)
    assert limits.query_max_memory_bytes < 2 * 1024**3  # below the loader container's memory limit
    port = int(env["ENGAGE_LOADER_QUERY_PORT"])
    (loader,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"].endswith("-loader")]
    (container,) = loader["spec"]["template"]["spec"]["containers"]
    assert {"name": "query", "containerPort": port, "protocol": "TCP"} in container["ports"]
    tokens = {e["name"]: e for e in container.get("env", [])}["ENGAGE_QUERY_TOKENS"]
    assert tokens["valueFrom"]["secretKeyRef"]["key"] == "query-tokens"
    (service,) = [s for s in of_kind(docs, "Service") if s["metadata"]["name"].endswith("-loader")]
    assert {"name": "query", "port": port, "targetPort": "query", "protocol": "TCP"} in service["spec"][
        "ports"
    ]
    for other in of_kind(docs, "Deployment"):
        if other is not loader:
            (c,) = other["spec"]["template"]["spec"]["containers"]
            assert "ENGAGE_QUERY_TOKENS" not in {e["name"] for e in c.get("env", [])}


def settings_from_env(env: dict[str, str]) -> LoaderSettings:
    return LoaderSettings.model_validate(
        {
            k.removeprefix("ENGAGE_").lower(): v
            for k, v in env.items()
            if k.removeprefix("ENGAGE_").lower() in LoaderSettings.model_fields
        }
    )
