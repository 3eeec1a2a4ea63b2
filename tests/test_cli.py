"""The command line, run as a real subprocess: ``python -m rtlab serve ...`` and ``compare``."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import connect_sse
from rtlab_support import TIMEOUT
from websockets.sync.client import connect


class Serving:
    """A ``python -m rtlab serve`` process and its first stdout line, parsed."""

    def __init__(self, transport: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rtlab", "serve", transport, "--rate", "20"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.info = json.loads(self.next_line())

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def next_line(self) -> str:
        try:
            return self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            self.process.kill()
            pytest.fail(f"no output from the CLI; stderr: {self.process.stderr.read()[:2000]}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("the CLI did not exit after SIGTERM")


@pytest.fixture
def serving(request) -> Iterator[Serving]:
    server = Serving(request.param)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait()
    server.process.stdout.close()
    server.process.stderr.close()


def read_sse(url: str) -> list[int]:
    with httpx.Client(timeout=TIMEOUT) as http, connect_sse(http, "GET", url) as source:
        ids = []
        for event in source.iter_sse():
            if event.data:  # skip httpx-sse's data-less "retry" event
                ids.append(int(event.id.rpartition("-")[2]))  # ids are <stream>-<seq> (issue 11)
            if len(ids) == 3:
                return ids
    return ids


def read_websocket(url: str) -> list[int]:
    with connect(url.replace("http://", "ws://"), compression=None,
                 open_timeout=TIMEOUT) as ws:
        return [json.loads(ws.recv(timeout=TIMEOUT))["seq"] for _ in range(3)]


def read_long_polling(url: str) -> list[int]:
    seqs: list[int] = []
    while len(seqs) < 3:
        body = httpx.get(url, params={"since": seqs[-1] if seqs else 0, "hold": 10},
                         timeout=TIMEOUT).json()
        seqs += [e["seq"] for e in body["events"]]
    return seqs[:3]


def read_short_polling(url: str) -> list[int]:
    with httpx.Client(timeout=TIMEOUT) as http:
        for _ in range(200):
            body = http.get(url, params={"since": 0}).json()
            if body["seq"] >= 3:
                return [e["seq"] for e in body["events"]][:3]
            time.sleep(0.05)  # a poll interval, not an assertion
    pytest.fail("no events from the short-polling CLI server")


READERS = {"sse": read_sse, "websocket": read_websocket,
           "long-polling": read_long_polling, "short-polling": read_short_polling}


@pytest.mark.parametrize("serving", list(READERS), indirect=True)
def test_serve_prints_its_url_serves_events_and_exits_on_sigterm(serving):
    transport = serving.process.args[4]
    assert serving.info["transport"] == transport
    url = serving.info["url"]
    assert url.startswith("ws://127.0.0.1:" if transport == "websocket" else "http://127.0.0.1:")
    assert url.endswith(str(serving.info["port"]) + {"sse": "/events", "websocket": "/ws",
                                                      "long-polling": "/poll",
                                                      "short-polling": "/state"}[transport])
    assert READERS[transport](url) == [1, 2, 3]
    assert serving.terminate() == 0
    assert json.loads(serving.next_line())["stopped"] == transport


def test_compare_prints_a_table_with_all_four():
    done = subprocess.run(
        [sys.executable, "-m", "rtlab", "compare", "--seconds", "1"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["transport", "delivered"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert set(rows) == {"short-polling", "long-polling", "sse", "websocket"}
    for transport, row in rows.items():
        assert row[1] == "40/40", f"{transport} delivered {row[1]}"  # 20 events x 2 clients


def test_unknown_transport_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "rtlab", "serve", "carrier-pigeon"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
