"""One setting drives the local broker's address, and ENGAGE_VAR_DIR holds every piece of local state."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from services.common.settings import AlertsSettings, CommonSettings, EnrichSettings, IngestSettings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("ENGAGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("settings_class", [CommonSettings, IngestSettings, EnrichSettings, AlertsSettings])
def test_unset_bootstrap_is_the_local_broker_port(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[CommonSettings]
) -> None:
    assert settings_class().kafka_bootstrap == "127.0.0.1:9092"
    monkeypatch.setenv("ENGAGE_LOCAL_KAFKA_PORT", "19092")
    assert settings_class().kafka_bootstrap == "127.0.0.1:19092"
    monkeypatch.setenv("ENGAGE_KAFKA_BOOTSTRAP", "kafka-0.kafka:9093")
    assert settings_class().kafka_bootstrap == "kafka-0.kafka:9093"


def test_a_running_local_broker_is_found_on_its_recorded_port(tmp_path: Path) -> None:
    kafka_dir = tmp_path / "var" / "kafka"
    kafka_dir.mkdir(parents=True)
    (kafka_dir / "kafka.json").write_text(json.dumps({"port": 29092, "controller_port": 29093}))
    (kafka_dir / "kafka.pid").write_text(f"{os.getpid()}\n")
    assert CommonSettings().kafka_bootstrap == "127.0.0.1:29092"
    dead = subprocess.Popen(["true"])
    dead.wait()
    (kafka_dir / "kafka.pid").write_text(f"{dead.pid}\n")  # stopped: back to local_kafka_port
    assert CommonSettings().kafka_bootstrap == "127.0.0.1:9092"


def test_var_dir_holds_chdb_and_worker_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "elsewhere"
    monkeypatch.setenv("ENGAGE_VAR_DIR", str(state))
    enrich, alerts = EnrichSettings(), AlertsSettings()
    assert enrich.clickhouse_dsn == f"chdb://{state / 'clickhouse'}"
    assert enrich.enrich_data_dir == state / "enrich"
    assert alerts.alerts_data_dir == state / "alerts"
    # explicit settings still win
    monkeypatch.setenv("ENGAGE_ENRICH_DATA_DIR", str(tmp_path / "faust"))
    assert EnrichSettings().enrich_data_dir == tmp_path / "faust"


def test_default_var_dir_is_var_under_the_working_directory(tmp_path: Path) -> None:
    assert CommonSettings().var_dir == tmp_path / "var"
    assert EnrichSettings().enrich_data_dir == tmp_path / "var" / "enrich"


def test_a_dead_workers_pid_file_is_removed_with_a_log_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from services.local.stack import clear_stale_pid, worker_pid

    monkeypatch.setenv("ENGAGE_VAR_DIR", str(tmp_path / "state"))
    run_dir = tmp_path / "state" / "run"
    run_dir.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (run_dir / "enrich.pid").write_text(str(dead.pid))
    (run_dir / "alerts.pid").write_text(str(os.getpid()))
    assert worker_pid("enrich") is None and worker_pid("alerts") == os.getpid()
    clear_stale_pid("enrich")
    clear_stale_pid("alerts")
    assert not (run_dir / "enrich.pid").exists()
    assert (run_dir / "alerts.pid").exists()
    assert f"removed stale pid file {run_dir / 'enrich.pid'} (pid {dead.pid} is not running)" in caplog.text
