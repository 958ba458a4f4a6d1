"""The pipeline-health dashboard and the alerting rules query only metrics the services export.

The metric names (and their label names) come from the collectors registered by
``services.common.metrics``, not from a hand-written list: renaming a metric without updating the
dashboard or the rules fails here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

from services.common import metrics
from services.common.settings import REPO_ROOT

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "engage-pipeline.json"
RULES = REPO_ROOT / "deploy" / "helm" / "engage" / "files" / "prometheus-rules.yml"

# Series Prometheus itself adds for every target, and the ones it writes for alerting rules.
SERVER_SERIES = {
    "up": set(),
    "scrape_duration_seconds": set(),
    "scrape_samples_scraped": set(),
    "ALERTS": {"alertname", "alertstate", "severity"},
}
# Labels every scraped series gets from the target (static configs, ServiceMonitor relabelling).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}

FUNCTIONS = {
    # aggregation operators
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
    "quantile",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
    "histogram_quantile", "histogram_count", "histogram_sum", "histogram_fraction", "holt_winters", "hour",
    "idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
    "predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time",
    "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
    "count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
    "present_over_time",
    # Grafana template query functions
    "label_values", "query_result", "metrics", "label_names",
}  # fmt: skip
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or"}
KEYWORDS |= {"unless", "atan2", "inf", "nan"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
_TOKEN = re.compile(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\s*\()?")


def exported_series() -> dict[str, set[str]]:
    """Every series name the services expose on /metrics → its label names."""
    series: dict[str, set[str]] = {}
    collectors = [m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)]
    assert collectors, "services.common.metrics defines no collectors"
    for collector in collectors:
        labels = set(collector._labelnames) | ({"le"} if collector._type == "histogram" else set())
        for family in collector.describe():
            for suffix in SUFFIXES[family.type]:
                series[family.name + suffix] = labels
    # Default process and Python collectors of prometheus_client, exported by every service too.
    for family in REGISTRY.collect():
        for sample in family.samples:
            series.setdefault(sample.name, set(sample.labels))
    # Info metrics carry their values as labels.
    for family in metrics.BUILD_INFO.describe():
        series[family.name + "_info"] = {"version", "python"}
    return series


def references(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(name, label names matched on it) for every series name in a PromQL expression.

    A small scanner, not a parser: strings, grouping clauses, range selectors and Grafana variables
    are removed, then every identifier that is not a function or keyword is a series name.
    """
    text = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana variables ($__rate_interval, ${datasource})
    text = _STRING.sub('""', text)
    text = _GROUPING.sub("", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors and subqueries
    matched: dict[str, set[str]] = {}
    for m in _SELECTOR.finditer(text):
        if m.group(1) and m.group(1) not in FUNCTIONS | KEYWORDS:
            matched.setdefault(m.group(1), set()).update(_MATCHER_LABEL.findall(m.group(2)))
        else:  # {__name__=...} or a bare selector: the name check below cannot see it
            assert m.group(1) is None or "__name__" not in m.group(2), expr
    text = _SELECTOR.sub(lambda m: m.group(1) or "", text)
    text = re.sub(r"\b\d[\w.]*", "", text)  # numbers and durations (offset 5m, 1e-9)
    for m in _TOKEN.finditer(text):
        name, call = m.group(1), m.group(2)
        if call:
            assert name in FUNCTIONS, f"unknown PromQL function {name!r} in {expr!r}"
        elif name not in KEYWORDS:
            yield name, matched.get(name, set())


def check(expr: str, where: str, series: dict[str, set[str]]) -> list[str]:
    problems = []
    for name, labels in references(expr):
        known = series.get(name, SERVER_SERIES.get(name))
        if known is None:
            problems.append(f"{where}: {name!r} is not exported by the services ({expr})")
        elif unknown := labels - known - TARGET_LABELS - {"__name__"}:
            problems.append(f"{where}: {name} has no label(s) {sorted(unknown)} ({expr})")
    return problems


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dash: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in panels(dash):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            # label_values(metric, label): the metric must carry the label.
            if m := re.fullmatch(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*(\w+)\s*\)", query):
                query = f'{m.group(1)}{{{m.group(2)}!=""}}'
            yield f"variable {var['name']}", query
    for anno in dash["annotations"]["list"]:
        if "expr" in anno:
            yield f"annotation {anno['name']}", anno["expr"]


def rule_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"rule {rule.get('alert') or rule.get('record')}", rule["expr"]


def test_scanner_finds_names_and_labels() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (stage, le) (rate(engage_processing_seconds_bucket{stage="x", '
        'namespace=~"$namespace"}[$__rate_interval]))) / on (stage) group_left max(engage_nope) > 1e-3'
    )
    assert list(references(expr)) == [
        ("engage_processing_seconds_bucket", {"stage", "namespace"}),
        ("engage_nope", set()),
    ]
    series = exported_series()
    assert check(expr, "t", series) == ["t: 'engage_nope' is not exported by the services (" + expr + ")"]
    assert check('engage_dlq_total{tabel="x"}', "t", series) == [
        "t: engage_dlq_total has no label(s) ['tabel'] (engage_dlq_total{tabel=\"x\"})"
    ]
    with pytest.raises(AssertionError, match="unknown PromQL function"):
        list(references("ratee(engage_dlq_total[5m])"))


def test_exported_series_come_from_the_registry() -> None:
    series = exported_series()
    assert series["engage_events_in_total"] == {"stage", "platform", "event_type"}
    assert series["engage_consumer_lag"] == {"group", "topic", "partition"}
    assert series["engage_event_to_load_seconds_bucket"] == {"clock", "le"}
    assert "engage_build_info" in series and "process_resident_memory_bytes" in series
    assert "engage_events_in" not in series  # counters are exported with _total


def test_dashboard_queries_reference_only_exported_metrics() -> None:
    series = exported_series()
    queries = list(dashboard_queries(dashboard()))
    assert len(queries) >= 20
    problems = [p for where, expr in queries for p in check(expr, where, series)]
    assert not problems, "\n".join(problems)


def test_rules_reference_only_exported_metrics() -> None:
    series = exported_series()
    exprs = list(rule_expressions())
    assert exprs
    problems = [p for where, expr in exprs for p in check(expr, where, series)]
    assert not problems, "\n".join(problems)


def test_dashboard_has_a_panel_for_every_engage_metric_family() -> None:
    used = {name for _, expr in dashboard_queries(dashboard()) for name, _ in references(expr)}
    families = {
        family.name
        for m in vars(metrics).values()
        if isinstance(m, MetricWrapperBase)
        for family in m.describe()
    }
    assert families >= {
        "engage_events_in",
        "engage_events_out",
        "engage_dlq",
        "engage_processing_seconds",
        "engage_event_to_load_seconds",
        "engage_loader_batch_rows",
        "engage_loader_failures",
        "engage_consumer_lag",
        "engage_alerts_fired",
        "engage_alerts_delivered",
        "engage_alert_delivery_failures",
        "engage_last_event_timestamp_seconds",
    }
    missing = {f for f in families if not any(u == f or u.startswith(f + "_") for u in used)}
    assert not missing, f"no panel for {sorted(missing)}"


def test_dashboard_is_wired_to_a_prometheus_datasource_variable() -> None:
    dash = dashboard()
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels(dash):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert 'namespace=~"$namespace"' in target["expr"], panel["title"]


def test_dashboard_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & taken, f"panel {panel['title']!r} overlaps another"
        taken |= cells
