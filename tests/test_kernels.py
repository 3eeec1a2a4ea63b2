"""What a learner does to a kernel: restart it and run everything, interrupt it mid-experiment.

* "Restart kernel and run all cells", three times in a row: every run succeeds, and each
  fresh kernel ends with the same threads and file descriptors as the first one did — a
  server from a dead kernel never keeps a port, and nothing piles up from run to run.
* Interrupting the kernel while an experiment runs (the ■ button) stops the experiment,
  and the next cell can start servers and measure again.
"""

from __future__ import annotations

import time

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from test_notebooks import CURRENT_ENV, NOTEBOOKS, _CurrentEnvSpecs, _resources, _run_all, _threads

pytestmark = [pytest.mark.notebooks, pytest.mark.timeout(300)]

FIRST_NOTEBOOK = NOTEBOOKS / "00_start_here.ipynb"


def _client(nb: nbformat.NotebookNode) -> tuple[NotebookClient, KernelManager]:
    km = KernelManager(kernel_name=CURRENT_ENV, kernel_spec_manager=_CurrentEnvSpecs())
    client = NotebookClient(nb, km=km, timeout=120, kernel_name=CURRENT_ENV,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    return client, km


def _shutdown(client: NotebookClient, km: KernelManager) -> None:
    if client.kc is not None:
        client.kc.stop_channels()
    if km.has_kernel:
        km.shutdown_kernel(now=True)


@pytest.mark.skipif(not FIRST_NOTEBOOK.exists(), reason="no notebook 00 yet")
def test_restart_kernel_and_run_all_three_times() -> None:
    nb = nbformat.read(FIRST_NOTEBOOK, as_version=4)
    cells = list(nb.cells)
    client, km = _client(nb)
    seen = []
    try:
        with client.setup_kernel(cwd=str(NOTEBOOKS)):
            for attempt in range(3):
                if attempt:
                    km.restart_kernel(now=True)
                    client.kc.wait_for_ready(timeout=60)
                _run_all(client, cells, f"run {attempt + 1} after a kernel restart")
                threads, names, _ = _threads(client, nb)
                fds, tasks = _resources(client, nb)
                seen.append((threads, fds, tasks))
    finally:
        _shutdown(client, km)
    print("threads, fds, client-loop tasks per restart:", seen)
    assert all(s == seen[0] for s in seen), f"resources differ between restarts: {seen}"


INTERRUPT_CELLS = [
    "from rtlab.lessons.experiments import measure, serve",
    # A long experiment: 200 events at 10/s would take 20 s. The test interrupts it.
    "measure('sse', clients=2, events=200, rate=10)",
    # After the interrupt: the lab must still work.
    "server = serve('sse', name='after-interrupt')\n"
    "r = measure('websocket', clients=2, events=20, rate=100)\n"
    "assert r.delivered == 40, r\n"
    "import rtlab.lab\n"
    "print(sorted(rtlab.lab.running_servers()))",
]


def test_interrupting_an_experiment_leaves_the_lab_usable() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in INTERRUPT_CELLS])
    client, km = _client(nb)
    try:
        with client.setup_kernel(cwd=str(NOTEBOOKS)):
            client.execute_cell(nb.cells[0], 0)
            # Send the long cell without waiting for it, interrupt it mid-run, collect the reply.
            msg_id = client.kc.execute(nb.cells[1].source)
            time.sleep(2.5)
            km.interrupt_kernel()
            reply = client.kc.get_shell_msg(timeout=30)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = client.kc.get_shell_msg(timeout=30)
            assert reply["content"]["status"] == "error"
            assert reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
            client.execute_cell(nb.cells[2], 2)
            out = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
            # Only the learner's server is left: the interrupted experiment cleaned up after itself.
            assert out.strip() == "['after-interrupt']", out
    finally:
        _shutdown(client, km)
