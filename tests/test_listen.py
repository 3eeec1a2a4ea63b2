"""``python -m rtlab listen URL``, run as a real subprocess against ``python -m rtlab serve``.

Each line ``listen`` prints is parsed: an event line has ``seq``, ``type``, ``transport`` and
``latency_ms``; a switch line is ``{"switched": {"from": ..., "to": ..., "why": ...}}``.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from rtlab_support import TIMEOUT


class Process:
    """A ``python -m rtlab ...`` process whose stdout lines are read on a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "rtlab", *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next_json(self) -> dict | None:
        try:
            line = self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            self.process.kill()
            pytest.fail(f"no output from {self.process.args}; stderr: {self.process.stderr.read()[:2000]}")
        return None if line is None else json.loads(line)

    def all_json(self) -> list[dict]:
        lines = []
        while (line := self.next_json()) is not None:
            lines.append(line)
        return lines

    def wait(self) -> tuple[int, str]:
        try:
            code = self.process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"{self.process.args} did not exit")
        return code, self.process.stderr.read()

    def terminate(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        return self.wait()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.close()


def serve(processes: list[Process], *args: str) -> str:
    server = Process("serve", *args)
    processes.append(server)
    info = server.next_json()
    assert info is not None
    return info["url"]


EVENT_KEYS = {"seq", "type", "transport", "latency_ms"}


@pytest.mark.parametrize("transport", ["auto", "sse", "websocket", "long-polling", "short-polling"])
def test_listen_prints_one_json_line_per_event_for_each_technique(processes, transport):
    url = serve(processes, transport, "--rate", "50")
    listener = Process("listen", url, "--count", "5")
    processes.append(listener)
    lines = listener.all_json()
    code, err = listener.wait()
    assert code == 0, err
    events = [line for line in lines if "seq" in line]
    assert len(events) == 5 and all(set(e) == EVENT_KEYS for e in events), lines
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))  # in order, never twice
    if transport != "short-polling":  # short polling shows the state: it may skip a seq
        assert seqs == list(range(seqs[0], seqs[0] + 5))
    expected = {"auto": {"long-polling", "websocket", "sse"}}.get(transport, {transport})
    assert {e["transport"] for e in events} <= expected
    assert all(e["latency_ms"] >= 0 for e in events)
    assert "Traceback" not in err


def test_listen_auto_prints_the_switch_and_stops_cleanly_on_sigterm(processes):
    url = serve(processes, "auto", "--rate", "50")
    listener = Process("listen", url, "--transport", "auto")
    processes.append(listener)
    switch = None
    while switch is None:
        line = listener.next_json()
        assert line is not None, "listen ended early"
        switch = line.get("switched")
    assert switch["from"] == "long-polling" and switch["to"] == "websocket" and switch["why"]
    after = listener.next_json()
    assert after is not None and after["transport"] == "websocket"
    code, err = listener.terminate()
    assert code == 0 and "Traceback" not in err, err
    assert json.loads(err.strip().splitlines()[-1])["stopped"] == "listen"


def test_listen_seconds_stops_it_and_a_bad_url_is_named(processes):
    url = serve(processes, "sse", "--rate", "0")  # nothing published: --seconds must stop it
    listener = Process("listen", url, "--seconds", "0.5")
    processes.append(listener)
    assert listener.all_json() == []
    code, err = listener.wait()
    assert code == 0 and "Traceback" not in err
    bad = Process("listen", "not-a-url")
    processes.append(bad)
    code, err = bad.wait()
    assert code == 2 and "not a server URL" in err and "Traceback" not in err
    unclear = Process("listen", "http://127.0.0.1:9/somewhere")
    processes.append(unclear)
    code, err = unclear.wait()
    assert code == 2 and "--transport" in err


def test_listen_auto_through_no_upgrade_shows_the_fall_back(processes):
    url = serve(processes, "auto", "--rate", "50", "--middlebox", "no-upgrade")
    listener = Process("listen", url)
    processes.append(listener)
    lines = []
    while not any("switched" in line for line in lines) or "seq" not in lines[-1]:
        line = listener.next_json()
        assert line is not None, "listen ended early"
        lines.append(line)
    code, err = listener.terminate()
    assert code == 0 and "Traceback" not in err, err
    switches = [line["switched"] for line in lines if "switched" in line]
    assert switches[0]["from"] == "long-polling" and switches[0]["to"] == "sse", switches
    assert lines[-1]["transport"] == "sse"
    seqs = [line["seq"] for line in lines if "seq" in line]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost or repeated at the switch
