"""Run a real Apache Kafka broker (KRaft, single node) from its Maven Central artifacts.

Why this exists: the pipeline talks to Kafka through aiokafka and faust-streaming, and the only
trustworthy test of that is a real broker — consumer-group rebalancing, idempotent producers,
faust's changelog topics and offset commits are all broker-side behaviour that mocks get wrong.
There is no Docker on the development and CI machines, and no way to download the Kafka tarball,
but Maven Central is reachable and ``org.apache.kafka:kafka_2.13`` carries the whole broker.

So: ``deploy/local/kafka/pom.xml`` names the broker jars; :func:`ensure_jars` has Maven copy them
once into a cache directory; :class:`LocalKafka` writes a KRaft config (one process that is both
broker and controller, a standalone dynamic quorum), formats its storage on first start, spawns
``java ... kafka.Kafka server.properties`` detached from the caller, and waits until the broker
answers a metadata request. The state lives in one data directory (config, pid file, logs, log
segments), so a restart keeps the topics, and another process — ``engage kafka down`` — can find
and stop the broker with :meth:`LocalKafka.from_pid_dir`.

Used by ``engage kafka up/down`` for local runs and by the session fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from services.local.process import alive

KAFKA_VERSION = "4.3.1"
"""Must equal the ``kafka.version`` property in ``deploy/local/kafka/pom.xml`` (a unit test checks)."""

KAFKA_DIR: Path = Path(__file__).resolve().parents[2] / "deploy" / "local" / "kafka"
"""The Maven project, config template and log4j2 config."""

MIN_JAVA_MAJOR = 17

_MARKER = "libs.complete"
_PID_FILE = "kafka.pid"
_STATE_FILE = "kafka.json"
_MAIN_CLASS = "kafka.Kafka"

log = logging.getLogger(__name__)


class KafkaLocalError(RuntimeError):
    """The local broker could not be prepared, started or stopped."""


_LOWEST_PORT = 10_000
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    """First port of the kernel's range for outgoing connections (Linux default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(span: int = 1) -> int:
    """Return a TCP port on 127.0.0.1 that is free right now, with the ``span - 1`` ports after it.

    Chosen below the kernel's ephemeral range: a port the OS picks (bind to 0) comes from the range it
    also gives to outgoing connections, so between choosing and listening a client socket may take it
    (or take ``port + 1``, the local broker's controller port). Ports are not handed out twice per process.
    """
    high = _ephemeral_low() - span
    if high <= _LOWEST_PORT:
        raise KafkaLocalError(f"no room for {span} ports below the ephemeral range ({high + span})")
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_LOWEST_PORT, high)
        run = range(port, port + span)
        if _handed_out.isdisjoint(run) and all(_bindable(p) for p in run):
            _handed_out.update(run)
            return port
    raise KafkaLocalError(f"no {span} consecutive free ports found on 127.0.0.1 below {high + span}")


def kafka_cache_dir() -> Path:
    """Where the broker jars are cached: ``$ENGAGE_KAFKA_CACHE`` or ``~/.cache/engage/kafka-<version>``."""
    env = os.environ.get("ENGAGE_KAFKA_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "engage" / f"kafka-{KAFKA_VERSION}"


# --------------------------------------------------------------------------- tools


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("java")
    if not found:
        raise KafkaLocalError(
            f"`java` not found on PATH: the local Kafka broker needs Java {MIN_JAVA_MAJOR}+ "
            f"(e.g. `apt-get install -y openjdk-{MIN_JAVA_MAJOR}-jre-headless`)."
        )
    return found


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KafkaLocalError(f"could not run `{java} -version`: {exc}") from exc
    text = out.stderr + out.stdout
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        raise KafkaLocalError(f"could not parse the Java version from `{java} -version`:\n{text}")
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_392" style
        major = int(m.group(2))
    return major


def _check_java() -> str:
    java = _java()
    major = _java_major(java)
    if major < MIN_JAVA_MAJOR:
        raise KafkaLocalError(
            f"Kafka {KAFKA_VERSION} needs Java {MIN_JAVA_MAJOR}+, but `{java}` is Java {major} "
            f"(install e.g. openjdk-{MIN_JAVA_MAJOR}-jre-headless and put it first on PATH or set JAVA_HOME)."
        )
    return java


def _mvn() -> str:
    found = shutil.which("mvn")
    if not found:
        raise KafkaLocalError(
            "`mvn` not found on PATH: it is needed once to fetch the Kafka broker jars from Maven Central "
            "(e.g. `apt-get install -y maven`)."
        )
    return found


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


# --------------------------------------------------------------------------- jars


def _pom_digest() -> str:
    return hashlib.sha256((KAFKA_DIR / "pom.xml").read_bytes()).hexdigest()


def ensure_jars(cache_dir: Path | None = None) -> Path:
    """Make sure the broker jars are in ``<cache_dir>/libs`` and return that directory.

    Maven runs only when the completion marker is missing or was written for a different pom.
    The jars are copied into a temporary directory that is renamed into place, and the marker is
    written last, so an interrupted run never leaves a cache that looks complete. A file lock keeps
    concurrent callers (e.g. parallel test sessions) from racing.
    """
    cache = (cache_dir or kafka_cache_dir()).expanduser().resolve()
    libs = cache / "libs"
    marker = cache / _MARKER
    digest = _pom_digest()

    def complete() -> bool:
        try:
            return marker.read_text().strip() == digest and libs.is_dir()
        except OSError:
            return False

    _check_java()
    if complete():
        return libs

    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if complete():  # another process finished while we waited
            return libs
        mvn = _mvn()
        marker.unlink(missing_ok=True)
        tmp = cache / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-q", "-B",
            "-f", str(KAFKA_DIR / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
        ]  # fmt: skip
        log.info("fetching Kafka %s jars with Maven into %s", KAFKA_VERSION, libs)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise KafkaLocalError(f"Maven timed out fetching the Kafka jars: {' '.join(cmd)}") from exc
        jars = list(tmp.glob("*.jar")) if tmp.is_dir() else []
        if proc.returncode != 0 or not any(j.name.startswith("kafka_2.13-") for j in jars):
            shutil.rmtree(tmp, ignore_errors=True)
            output = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
            raise KafkaLocalError(
                f"Maven failed to fetch the Kafka {KAFKA_VERSION} jars (exit {proc.returncode}).\n"
                f"command: {' '.join(cmd)}\n{output}"
            )
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(digest + "\n")
    return libs


# --------------------------------------------------------------------------- readiness


def _run_coro(coro: Coroutine[Any, Any, bool]) -> bool:
    """``asyncio.run`` that also works when the caller already runs an event loop (uses a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[bool] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=target, name="kafka-ready-check", daemon=True)
    t.start()
    t.join()
    if errors:
        raise errors[0]
    return result[0]


async def _metadata_ok(bootstrap: str, timeout: float) -> bool:
    """One readiness probe: a metadata request that lists at least one broker."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout * 1000),
        client_id="engage-kafka-local-probe",
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            cluster = await admin.describe_cluster()
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- the broker


class LocalKafka:
    """A single-node KRaft Kafka broker whose whole state lives in ``data_dir``.

    Layout of ``data_dir``: ``server.properties``, ``kraft/`` (log segments and metadata),
    ``logs/server.log`` (broker log, INFO), ``logs/stdout.log`` (JVM output, WARN+),
    ``kafka.pid`` (while running) and ``kafka.json`` (ports, for :meth:`from_pid_dir`).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 9092,
        controller_port: int | None = None,
        heap: str = "512m",
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.port = port
        self.controller_port = controller_port if controller_port is not None else port + 1
        self.heap = heap
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"LocalKafka(data_dir={str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"

    # paths -------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "kraft"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / _PID_FILE

    @property
    def state_path(self) -> Path:
        return self.data_dir / _STATE_FILE

    # construction from another process -----------------------------------------------
    @classmethod
    def from_pid_dir(cls, data_dir: Path) -> LocalKafka:
        """Rebuild the handle of a broker started (possibly by another process) in ``data_dir``."""
        data_dir = Path(data_dir).expanduser().resolve()
        state = data_dir / _STATE_FILE
        try:
            info = json.loads(state.read_text())
            return cls(
                data_dir,
                port=int(info["port"]),
                controller_port=int(info["controller_port"]),
                heap=str(info.get("heap", "512m")),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KafkaLocalError(f"no local Kafka state in {data_dir} ({state}: {exc})") from exc

    # status ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid recorded in the pid file, or None."""
        try:
            return int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None

    def _is_our_java(self, pid: int) -> bool:
        if not alive(pid):
            return False
        cmdline_path = Path(f"/proc/{pid}/cmdline")
        if not cmdline_path.exists():  # no /proc: trust the pid file
            return True
        try:
            args = [a.decode(errors="replace") for a in cmdline_path.read_bytes().split(b"\0") if a]
        except OSError:
            return False
        if not args or Path(args[0]).name != "java":
            return False
        return _MAIN_CLASS in args and str(self.config_path) in args

    def is_running(self) -> bool:
        """True if the pid file names a live java process running this data dir's broker."""
        pid = self.pid()
        if pid is not None and self._proc is not None and self._proc.pid == pid and self._proc.poll() is None:
            # Started by this object and not exited: no need to read /proc/<pid>/cmdline, which can
            # come back empty while the JVM starts on a loaded machine (and made startup "fail"
            # and the broker leak, as stop() then did not signal it).
            return True
        return pid is not None and self._is_our_java(pid)

    # lifecycle ---------------------------------------------------------------------------
    def _write_config(self) -> None:
        template = (KAFKA_DIR / "server.properties.template").read_text()
        text = template.format(port=self.port, controller_port=self.controller_port, log_dir=self.log_dir)
        self.config_path.write_text(text)
        self.state_path.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "controller_port": self.controller_port,
                    "heap": self.heap,
                    "kafka_version": KAFKA_VERSION,
                },
                indent=2,
            )
            + "\n"
        )

    def _java_base(self, java: str, libs: Path) -> list[str]:
        return [
            java,
            f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.logs_dir}",
            "-cp",
            f"{libs}/*",
        ]

    def _format_storage(self, java: str, libs: Path) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        base = self._java_base(java, libs)
        try:
            uuid = subprocess.run(
                [*base, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True, text=True, timeout=120, check=True,
            ).stdout.strip().splitlines()[-1]  # fmt: skip
            subprocess.run(
                [*base, "kafka.tools.StorageTool", "format",
                 "-t", uuid, "-c", str(self.config_path), "--standalone"],
                capture_output=True, text=True, timeout=120, check=True,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise KafkaLocalError(
                f"formatting Kafka storage in {self.log_dir} failed (exit {exc.returncode}):\n"
                f"{exc.stdout}\n{exc.stderr}"
            ) from exc
        except (subprocess.TimeoutExpired, IndexError) as exc:
            raise KafkaLocalError(f"formatting Kafka storage in {self.log_dir} failed: {exc}") from exc

    def _check_ports_free(self) -> None:
        for p in (self.port, self.controller_port):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError as exc:
                    raise KafkaLocalError(
                        f"port 127.0.0.1:{p} is in use; cannot start Kafka in {self.data_dir}"
                    ) from exc

    def logs_tail(self, lines: int = 40) -> str:
        """The last lines of the broker log and of the JVM's stdout, for error messages."""
        parts = []
        for name in ("server.log", "stdout.log"):
            tail = _tail(self.logs_dir / name, lines)
            if tail:
                parts.append(f"--- {self.logs_dir / name} (tail) ---\n{tail}")
        return "\n".join(parts) or "(no logs)"

    def start(self, timeout: float = 90.0) -> None:
        """Start the broker (formatting storage on first use) and wait until it serves metadata."""
        if self.is_running():
            log.info("Kafka already running in %s (pid %s)", self.data_dir, self.pid())
            self._wait_ready(timeout)
            return
        stale = self.pid()
        if stale is not None:
            self.pid_path.unlink(missing_ok=True)
            log.warning("removed stale Kafka pid file %s (pid %d is not running)", self.pid_path, stale)
        java = _check_java()
        libs = ensure_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._check_ports_free()
        self._write_config()
        self._format_storage(java, libs)

        cmd = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            *self._java_base(java, libs)[1:],
            _MAIN_CLASS,
            str(self.config_path),
        ]
        with (self.logs_dir / "stdout.log").open("ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir,
                close_fds=True,
            )
        self.pid_path.write_text(f"{self._proc.pid}\n")
        log.info("started Kafka %s pid %s on %s", KAFKA_VERSION, self._proc.pid, self.bootstrap)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout=10)
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.is_running():
                code = self._proc.poll() if self._proc is not None else None
                raise KafkaLocalError(
                    f"Kafka in {self.data_dir} exited during startup (exit code {code}).\n{self.logs_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KafkaLocalError(
                    f"Kafka on {self.bootstrap} not ready after {timeout:.0f}s.\n{self.logs_tail()}"
                )
            # A plain TCP check first keeps aiokafka from logging connection errors while the JVM boots.
            if _tcp_open("127.0.0.1", self.port) and _run_coro(
                _metadata_ok(self.bootstrap, min(5.0, max(remaining, 0.5)))
            ):
                return
            time.sleep(0.25)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=0.1)
            if not alive(pid):
                return True
            time.sleep(0.1)
        return not alive(pid)

    def _signal(self, sig: signal.Signals, timeout: float) -> bool:
        pid = self.pid()
        if pid is None or not self._is_our_java(pid):
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        return self._wait_exit(pid, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop gracefully (SIGTERM), SIGKILL after ``timeout``; no error if not running."""
        if not self._signal(signal.SIGTERM, timeout) and not self._signal(signal.SIGKILL, 10.0):
            raise KafkaLocalError(f"Kafka pid {self.pid()} in {self.data_dir} did not exit after SIGKILL")
        self._reap()
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would."""
        if not self._signal(signal.SIGKILL, 10.0):
            raise KafkaLocalError(f"Kafka pid {self.pid()} in {self.data_dir} did not exit after SIGKILL")
        self._reap()
        self.pid_path.unlink(missing_ok=True)

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1)
            self._proc = None

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
