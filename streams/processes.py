"""Starting modwatch's own processes: a worker, a local broker, anything whose output goes to a log.

Every place that runs a worker (``modwatch demo`` and ``modwatch simulate``,
the benchmarks and the crash harness in bench/, the tests' fixtures in
tests/conftest.py) builds its environment and waits for it the same way:

1. :func:`worker_environment`: the caller's environment, the broker, and the
   worker's own app id and topic prefix (so runs never see each other's
   records), config folder, state folder and web port;
2. :class:`Worker` (a :class:`ChildProcess`) starts ``python -m streams.cli
   worker`` with its output appended to a log file, and ``wait_ready`` waits
   for the line Faust logs once the worker has joined its group and recovered
   its tables; an exit or a timeout raises :class:`ProcessFailed` naming the log;
3. ``stop`` asks with SIGTERM and kills after a timeout; ``kill`` is ``kill -9``.

:class:`LocalBroker` runs deploy/kafka/local.sh, on a port pair and data
folder of its own when asked. Nothing here imports Faust or aiokafka: the
benchmarks and the test fixtures import this module before any worker runs.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from streams.settings import broker_url

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "deploy" / "kafka" / "local.sh"
# Faust logs this once the worker has joined its group and recovered its tables.
WORKER_READY = b"Worker ready"


class ProcessFailed(RuntimeError):
    """A child process exited, or did not get ready in time; the message names its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_fixed_port(low: int = 20000, high: int = 32000) -> int:
    """A free port below Linux's ephemeral range (32768-60999): a broker killed and started again
    gets its port back, where one from that range may meanwhile be some client's outgoing port."""
    for _ in range(200):
        port = random.randrange(low, high)
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no free port from {low} to {high}")


def free_port_pair() -> int:
    """A port whose successor is free too: the local broker's controller uses port + 1.

    Below the ephemeral range, as :func:`free_fixed_port`: a port from it may become some client's
    outgoing port before the broker binds it (seen once a cluster's seven JVMs started alongside)."""
    for _ in range(50):
        port = free_fixed_port()
        try:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no two consecutive free ports")


def worker_environment(
    bootstrap: str,
    name: str,
    *,
    config_dir: Path | str,
    data_dir: Path | str | None = None,
    web_port: int | None = None,
    keep_modwatch_settings: bool = False,
    **settings: str,
) -> dict[str, str]:
    """The environment of a worker on topics, group and state of its own, named ``name``.

    The caller's ``MODWATCH_*`` variables are dropped unless
    ``keep_modwatch_settings`` (``modwatch demo`` and ``simulate`` honour the
    user's, a test or a benchmark must not); ``settings`` come last and win.
    """
    environment = {
        key: value for key, value in os.environ.items() if keep_modwatch_settings or not key.startswith("MODWATCH_")
    }
    environment.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        MODWATCH_BROKER=broker_url(bootstrap),
        MODWATCH_APP_ID=name,
        MODWATCH_TOPIC_PREFIX=name,
        MODWATCH_CONFIG_DIR=str(config_dir),
        PYTHONUNBUFFERED="1",  # the log shows "Worker ready" as soon as it is printed
    )
    if data_dir is not None:
        environment["MODWATCH_DATA_DIR"] = str(data_dir)
    if web_port is not None:
        environment["MODWATCH_WEB_PORT"] = str(web_port)
    environment.update(settings)
    return environment


def stop_process(process: subprocess.Popen, timeout: float = 30.0) -> int | None:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout`` seconds; only ever our own child."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


class ChildProcess:
    """A command run as a child process, its output and errors appended to ``log_path`` across restarts."""

    def __init__(
        self,
        command: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path = ROOT,
        *,
        name: str = "",
        ready_line: bytes = b"",
    ):
        self.command = list(command)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.name = name or Path(self.command[0]).name
        self.ready_line = ready_line  # what it logs once it is ready, for wait_ready
        self.process: subprocess.Popen | None = None
        self.started_at: float | None = None
        self._offset = 0  # where this run's lines start in the log

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._offset = self.log_path.stat().st_size
            self.process = subprocess.Popen(
                self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
            )
        self.started_at = time.monotonic()
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """The whole log file, earlier runs included."""
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        """Whether this run has logged ``ready_line``; raises :class:`ProcessFailed` once it has exited."""
        if self.process.poll() is not None:
            raise ProcessFailed(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
        return self.ready_line in self.log_path.read_bytes()[self._offset :]

    def wait_ready(self, timeout: float, interval: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise ProcessFailed(f"{self.name} not ready within {timeout:g} s; see {self.log_path}")
            time.sleep(interval)

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush, no commit."""
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, SIGKILL after ``timeout`` seconds; the exit code."""
        return stop_process(self.process, timeout) if self.process is not None else None


class Worker(ChildProcess):
    """``python -m streams.cli worker`` from the source tree ``cwd`` (bench_ordered_writes runs an older one)."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path = ROOT):
        command = [sys.executable, "-m", "streams.cli", "worker"]
        super().__init__(command, env, log_path, cwd, name="worker", ready_line=WORKER_READY)


class LocalBroker:
    """deploy/kafka/local.sh: one Kafka node on 127.0.0.1; with ``port``, on that port pair and ``data_dir``."""

    def __init__(self, data_dir: Path | None = None, port: int | None = None, *, quiet: bool = False):
        own = {"MODWATCH_KAFKA_PORT": str(port)} if port else {}
        if data_dir is not None:
            own["MODWATCH_KAFKA_DATA"] = str(data_dir)
        self.env = dict(os.environ, **own)
        self.port = port
        self.quiet = quiet  # the launcher's progress lines are not shown (chaos prints its own)

    @classmethod
    def of_its_own(cls, data_dir: Path, *, quiet: bool = False) -> LocalBroker:
        """A broker on a free port pair with its data in ``data_dir``: it shares nothing with another run."""
        return cls(data_dir, free_port_pair(), quiet=quiet)

    @property
    def bootstrap(self) -> str:
        if self.port is not None:
            return f"127.0.0.1:{self.port}"
        return self._launcher("bootstrap", check=True, capture=True).stdout.strip()

    def running(self) -> bool:
        return self._launcher("status", check=False, capture=True).returncode == 0

    def start(self) -> None:
        self._launcher("start", check=True)

    def stop(self) -> None:
        self._launcher("stop", check=False)

    def _launcher(self, command: str, *, check: bool, capture: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(LAUNCHER), command], env=self.env, check=check, capture_output=capture or self.quiet, text=True
        )


class LocalCluster:
    """deploy/kafka/local.sh --brokers N: N brokers and three controllers, each on a free port of its own.

    ``kill("broker-2")`` is ``kill -9`` of that node; ``start_node`` brings it back on its data.
    """

    def __init__(self, data_dir: Path, brokers: int = 3, controllers: int = 3, *, quiet: bool = False):
        self.data = data_dir
        self.nodes = [f"broker-{n}" for n in range(1, brokers + 1)] + [
            f"controller-{n}" for n in range(1, controllers + 1)
        ]
        self.ports = [free_fixed_port() for _ in range(brokers)]
        controller_ports = [free_fixed_port() for _ in range(controllers)]
        self.env = dict(
            os.environ,
            MODWATCH_KAFKA_BROKERS=str(brokers),
            MODWATCH_KAFKA_CONTROLLERS=str(controllers),
            MODWATCH_KAFKA_DATA=str(data_dir),
            MODWATCH_KAFKA_PORTS=",".join(map(str, self.ports)),
            MODWATCH_KAFKA_CONTROLLER_PORTS=",".join(map(str, controller_ports)),
        )
        self.quiet = quiet

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self) -> None:
        self._launcher("start")

    def stop(self) -> None:
        self._launcher("stop", check=False)

    def kill(self, node: str) -> None:
        self._launcher("node-kill", node)

    def kill_all(self) -> None:
        """``kill -9`` of every node: a test's cluster, whose data goes with it, needs no clean stop."""
        for node in self.nodes:
            self._launcher("node-kill", node, check=False)

    def stop_node(self, node: str) -> None:
        self._launcher("node-stop", node)

    def start_node(self, node: str) -> None:
        self._launcher("node-start", node)

    def _launcher(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(LAUNCHER), *arguments], env=self.env, check=check, capture_output=self.quiet, text=True
        )
