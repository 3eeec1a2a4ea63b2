"""What one student costs: every notebook run in a fresh kernel, its memory and CPU measured.

For each notebook in ``notebooks/`` (00–05, in order), this starts a fresh kernel in
``notebooks/`` (as JupyterLab does), waits until it is ready, then runs every code cell
with nbclient, as *Run All* would. Meanwhile a thread samples the kernel's resident
memory (RSS, the kernel process plus any children) every 0.1 s. Per notebook it records:

* ``start_rss_mb``: the kernel before its first cell (what an idle, fresh kernel costs);
* ``peak_rss_mb``: the highest sample while the cells ran, and ``hwm_mb``, the kernel's
  own high-water mark from ``/proc/PID/status`` (``VmHWM``, Linux only) as a check on the
  sampling: a peak shorter than 0.1 s shows there and not in the samples;
* ``end_rss_mb``: after the last cell, i.e. what the kernel keeps while the student reads;
* ``cpu_s``: user + system CPU seconds of the kernel process and its children, from its
  start (imports included) to the last cell;
* ``run_s``: wall time from the first cell to the end of the last; ``start_s``: kernel start.

Each student also has a Jupyter server of their own (on a hub, ``jupyterhub-singleuser``;
on Binder, the container's). So the script first starts JupyterLab as a student would
(``python -m jupyterlab``, loopback, an OS-chosen port, a token, empty settings folders),
loads ``/lab`` once and records the server's RSS and CPU seconds, with no kernel running.

The kernel runs *this* interpreter (like ``pytest --nbval-current-env``), so run the
script with the lab's environment. Usage::

    python benchmarks/per_student.py                      # all notebooks, a table
    python benchmarks/per_student.py --json per_student.json
    python benchmarks/per_student.py notebooks/03_websocket.ipynb

Wall time depends on how busy the machine is; CPU seconds and memory much less.
The exit status is 0 unless a notebook fails (a benchmark informs, it does not gate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import ipykernel.kernelspec
import nbformat
import psutil
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SAMPLE_EVERY = 0.1  # seconds between two RSS samples
MB = 1024 * 1024
CURRENT_ENV = "rtlab-current-env"


class CurrentEnvSpecs(KernelSpecManager):
    """The ipykernel of *this* interpreter, whatever ``python3`` kernelspec is installed."""

    def get_kernel_spec(self, kernel_name: str):  # type: ignore[no-untyped-def]
        if kernel_name == CURRENT_ENV:
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


def tree_rss(process: psutil.Process) -> int:
    """RSS of a process plus its children, in bytes (0 for any that ended meanwhile)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU of a process, its children that ended, and those still running."""
    times = process.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue  # it ended since children() listed it; its time may be in children_*
        total += child_times.user + child_times.system
    return total


def high_water_mark(pid: int) -> int | None:
    """The peak RSS the kernel itself has ever had (``VmHWM``), in bytes; None off Linux."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # given in kB
    except OSError:
        pass
    return None


class PeakSampler(threading.Thread):
    """Samples the RSS of a process tree every ``SAMPLE_EVERY`` seconds and keeps the peak."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.process = process
        self.peak = tree_rss(process)
        self.samples = 1
        self._stop_event = threading.Event()

    def run(self) -> None:
        # Event.wait as the clock: returns at once when stop() is called.
        while not self._stop_event.wait(SAMPLE_EVERY):
            self.sample()

    def sample(self) -> None:
        try:
            self.peak = max(self.peak, tree_rss(self.process))
            self.samples += 1
        except psutil.NoSuchProcess:
            pass

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()  # one last look, after the last cell


def run_notebook(path: Path) -> dict[str, Any]:
    """Run every code cell of ``path`` in a fresh kernel and measure the kernel."""
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=CURRENT_ENV, kernel_spec_manager=CurrentEnvSpecs())
    client = NotebookClient(nb, km=km, timeout=300, kernel_name=CURRENT_ENV,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    try:
        # setup_kernel returns once the kernel answers: it is started and idle.
        with client.setup_kernel(cwd=str(NOTEBOOKS)):
            kernel = psutil.Process(km.provisioner.pid)
            ready = time.perf_counter()
            start_rss = tree_rss(kernel)
            sampler = PeakSampler(kernel)
            sampler.start()
            try:
                for index, cell in enumerate(nb.cells):
                    if cell.cell_type == "code":
                        client.execute_cell(cell, index)
            finally:
                sampler.stop()
            done = time.perf_counter()
            # Measured before the kernel shuts down, while it still holds what it built.
            cpu = tree_cpu_seconds(kernel)
            end_rss = tree_rss(kernel)
            hwm = high_water_mark(kernel.pid)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return {
        "notebook": path.name,
        "code_cells": sum(cell.cell_type == "code" for cell in nb.cells),
        "start_s": round(ready - started, 2),
        "run_s": round(done - ready, 2),
        "cpu_s": round(cpu, 2),
        "start_rss_mb": round(start_rss / MB, 1),
        "peak_rss_mb": round(sampler.peak / MB, 1),
        "hwm_mb": None if hwm is None else round(hwm / MB, 1),
        "end_rss_mb": round(end_rss / MB, 1),
        "rss_samples": sampler.samples,
    }


def measure_server() -> dict[str, Any]:
    """Start JupyterLab as one student's server, load /lab once, and measure the server."""
    token = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="rtlab-server-") as home:
        # Fresh Jupyter folders: no settings, workspaces or extensions config of this machine.
        env = dict(os.environ, JUPYTER_CONFIG_DIR=f"{home}/config", JUPYTER_DATA_DIR=f"{home}/data",
                   JUPYTER_RUNTIME_DIR=f"{home}/runtime", JUPYTERLAB_WORKSPACES_DIR=f"{home}/ws")
        log_path = Path(home) / "server.log"
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", "--port=0",
                   f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"]
        if os.geteuid() == 0:
            command.append("--allow-root")  # Jupyter refuses root otherwise (CI runs as root)
        started = time.perf_counter()
        with open(log_path, "w") as log:
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = None
            while url is None and time.perf_counter() - started < 60:
                found = re.search(r"http://127\.0\.0\.1:(\d+)/", log_path.read_text())
                if found:
                    url = f"http://127.0.0.1:{found.group(1)}"
                if server.poll() is not None:
                    raise RuntimeError("JupyterLab exited:\n" + log_path.read_text()[-2000:])
                time.sleep(0.1)  # polling the log file for the URL, not timing anything
            if url is None:
                raise RuntimeError("JupyterLab printed no URL within 60 s")
            # What a student's browser fetches first: the page, then the server's status.
            for path in ("/lab", "/api/status"):
                with urllib.request.urlopen(f"{url}{path}?token={token}", timeout=60) as response:
                    response.read()
            ready = time.perf_counter()
            process = psutil.Process(server.pid)
            # JupyterLab runs short-lived helpers at startup (an `npm` of ~45 MB was seen
            # here): wait up to 15 s for them to end, to measure what the server keeps.
            while process.children() and time.perf_counter() - ready < 15:
                time.sleep(0.1)
            return {
                "start_s": round(ready - started, 2),
                "cpu_s": round(tree_cpu_seconds(process), 2),
                "rss_mb": round(tree_rss(process) / MB, 1),
            }
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


COLUMNS = [("notebook", "notebook"), ("cells", "code_cells"), ("start s", "start_s"),
           ("run s", "run_s"), ("CPU s", "cpu_s"), ("start MB", "start_rss_mb"),
           ("peak MB", "peak_rss_mb"), ("VmHWM MB", "hwm_mb"), ("end MB", "end_rss_mb")]


def table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table, one notebook a row, as pasted into the README."""
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = ["—" if row[key] is None else str(row[key]) for _, key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def totals(rows: list[dict[str, Any]]) -> dict[str, float]:
    """The whole course for one student, one notebook after another."""
    return {
        "run_s": round(sum(row["run_s"] for row in rows), 1),
        "cpu_s": round(sum(row["cpu_s"] for row in rows), 1),
        "largest_peak_rss_mb": max(row["peak_rss_mb"] for row in rows),
        # JupyterLab keeps one kernel per open notebook: a student who never shuts one
        # down ends up holding all of them at once.
        "all_kernels_open_mb": round(sum(row["end_rss_mb"] for row in rows), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to run (default: notebooks/[0-9][0-9]_*.ipynb)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))

    load_before = os.getloadavg()
    print("starting JupyterLab ...", file=sys.stderr, flush=True)
    server = measure_server()
    rows = []
    for path in paths:
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        rows.append(run_notebook(path))
    load_after = os.getloadavg()

    total = totals(rows)
    print(f"JupyterLab server (one per student), /lab loaded, no kernel: {server['rss_mb']} MB, "
          f"{server['cpu_s']} CPU s to start\n")
    print(table(rows))
    print(f"\none student, every notebook in turn: {total['run_s']} s of cells, {total['cpu_s']} CPU s; "
          f"largest kernel {total['largest_peak_rss_mb']} MB; "
          f"all {len(rows)} kernels left open: {total['all_kernels_open_mb']} MB")
    machine = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "load_average_1min": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    print(f"Python {machine['python']}, {machine['cpus']} CPUs, load average "
          f"{machine['load_average_1min'][0]} -> {machine['load_average_1min'][1]}")
    if args.json:
        results = {"machine": machine, "server": server, "notebooks": rows, "total": total}
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
