"""Every notebook runs top to bottom, then **again in the same kernel**, and leaks no threads.

nbval (``pytest notebooks/``) runs each notebook once, in a fresh kernel. A learner does
something else: runs everything, changes a number, runs everything again. That second
pass is where a server that is not replaced, a client that is never stopped or a widget
refresher started twice shows up — as an error, a port in use, or one more thread per run.

So this test executes all cells, asks the kernel how many threads it has, executes all
cells again in the same kernel and asks again: the count must not have grown.

The first pass is the notebook's Chinese twin (``notebooks/zh-CN/``, rtlab speaking Chinese),
in a fresh kernel; the second is the English notebook, in the same kernel, after
``rtlab.language("en")``. The twins have the same code cell for cell (tests/test_zh_cn_notebooks.py
proves it, blanking only strings and comments), so the second pass re-runs the same code, as a
learner's Run All does — and every notebook is run once per language with CI's time spent twice,
not three times. The English notebooks also run in a fresh kernel, in JupyterLab
(tests/browser/test_jupyterlab.py). A notebook without a twin runs twice in English.

Select it with ``pytest -m notebooks``. Kernels start in ``notebooks/`` (as JupyterLab
starts them) and run this interpreter's environment, like ``--nbval-current-env``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ipykernel.kernelspec
import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
CURRENT_ENV = "rtlab-current-env"
FD_SLACK = 8  # sockets in transit between two counts (see the assertion)

# What the kernel reports after each pass: Python threads (what rtlab starts) and, for the
# message when it fails, their names and the OS threads of the process.
COUNT_THREADS = """
import os, threading
print(len(threading.enumerate()))
print(sorted(t.name + ('' if t.name.startswith('rtlab-') else
                        f' <{type(t).__module__}.{type(t).__qualname__} '
                        f'{getattr(getattr(t, "_target", None), "__qualname__", "")}>')
             for t in threading.enumerate()))
print(len(os.listdir('/proc/self/task')) if os.path.isdir('/proc/self/task') else -1)
"""

# What rtlab holds after a pass: open sockets (TCP and unix: a server's listener, its
# connections, a client's, an event loop's self-pipe) and the tasks on its client loop. Only
# sockets: the kernel's pyzmq starts a garbage-collector context (an epoll and five eventfds,
# no socket) the first time it sends a large message zero-copy, in whichever pass that happens
# to be, and a count of every descriptor saw that +7 as a leak now and then. Measured after a
# short settle, so connections closing right now are gone.
COUNT_RESOURCES = """
import asyncio, os, time, rtlab.lab
def _link(fd):
    try:
        return os.readlink(f'/proc/self/fd/{fd}')
    except OSError:
        return ''  # closed between listdir and readlink
def _sockets():
    if not os.path.isdir('/proc/self/fd'):
        return -1
    return sum(_link(fd).startswith('socket:') for fd in os.listdir('/proc/self/fd'))
# Settle: connections closing right now (a replaced server's clients, a long poll's hold ending)
# are gone within a second or two; a leak stays. Sample until the count stops falling (<= 5 s).
previous, deadline = _sockets(), time.monotonic() + 5
while time.monotonic() < deadline:
    time.sleep(0.3)
    now = _sockets()
    if now >= previous:
        break
    previous = now
async def _tasks(): return len(asyncio.all_tasks())
loop = rtlab.lab._client_loop
print(min(previous, _sockets()), loop.run(_tasks()) - 1 if loop is not None and loop.alive else 0)
"""


# After a zh-CN run: the message ids rtlab asked its catalogue for and did not find.
ASKED_BUT_MISSING = """
from rtlab.lessons import i18n
print(sorted(i18n.missing()))
"""

# Between the two passes: the learner switches back to English, and the kernel moves to the
# English notebook's folder (JupyterLab starts a notebook's kernel in the notebook's folder).
BACK_TO_ENGLISH = """
import os, rtlab
rtlab.language("en")
os.chdir({folder!r})
"""


class _CurrentEnvSpecs(KernelSpecManager):
    """The ipykernel of *this* interpreter, whatever ``python3`` kernelspecs are installed."""

    def get_kernel_spec(self, kernel_name: str):  # type: ignore[no-untyped-def]
        if kernel_name == CURRENT_ENV:
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())
        return super().get_kernel_spec(kernel_name)


def _run_all(client: NotebookClient, cells: list[nbformat.NotebookNode], label: str) -> None:
    for index, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        try:
            client.execute_cell(cell, index)
        except Exception as exc:
            raise AssertionError(f"{label}: cell {index} failed:\n{cell.source}\n\n{exc}") from None


def _probe(client: NotebookClient, nb: nbformat.NotebookNode, code: str) -> list[str]:
    # nbclient writes an executed cell back into the notebook at its index: give the probe
    # a slot of its own after the notebook's cells, never one of theirs.
    probe = nbformat.v4.new_code_cell(code)
    nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(nb.cells) - 1, store_history=False)
    finally:
        nb.cells.pop()
    # stdout only: a warning a background thread raises meanwhile (the widget refresher's
    # savefig, seen once) goes to stderr and must not be read as the probe's answer.
    text = "".join(o.get("text", "") for o in probe.outputs
                   if o.output_type == "stream" and o.get("name") == "stdout")
    return text.strip().splitlines()


def _threads(client: NotebookClient, nb: nbformat.NotebookNode) -> tuple[int, list[str], int]:
    count, names, os_threads = _probe(client, nb, COUNT_THREADS)[-3:]
    return int(count), ast.literal_eval(names), int(os_threads)


def _resources(client: NotebookClient, nb: nbformat.NotebookNode) -> tuple[int, int]:
    fds, tasks = _probe(client, nb, COUNT_RESOURCES)[-1].split()
    return int(fds), int(tasks)


def _twin(path: Path) -> Path | None:
    twin = NOTEBOOKS / "zh-CN" / path.name
    return twin if twin.exists() else None


def _check_chinese_run(twin: Path, nb: nbformat.NotebookNode, missed: list[str]) -> None:
    """Everything rtlab said went through the catalogue (nothing asked for that it lacks), and
    matplotlib found a glyph for every character it drew (it warns "Glyph ... missing") and a
    font for every text (it warns "findfont: ...")."""
    # (A label the Chinese notebook wrote in Chinese itself, passed through t(), is missed too: harmless.)
    english = [m for m in missed if not any("\u4e00" <= ch <= "\u9fff" for ch in m)]
    assert not english, f"zh-CN/{twin.name}: no zh-CN translation for {english}"
    stderr = [o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    warned = [text for text in stderr if "Glyph" in text or "findfont" in text]
    assert not warned, f"zh-CN/{twin.name}: {warned}"


@pytest.mark.notebooks
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "path", PATHS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks yet"))],
    ids=[str(p.relative_to(NOTEBOOKS).with_suffix("")) for p in PATHS] or ["none"],
)
def test_notebook_runs_twice_in_one_kernel(path: Path) -> None:
    """The zh-CN twin in a fresh kernel, then the English notebook again in that kernel."""
    twin = _twin(path)
    nb = nbformat.read(path, as_version=4)
    first_nb = nbformat.read(twin, as_version=4) if twin else nbformat.read(path, as_version=4)
    first_label = f"zh-CN/{path.name}, first run (fresh kernel)" if twin else "first run"
    km = KernelManager(kernel_name=CURRENT_ENV, kernel_spec_manager=_CurrentEnvSpecs())
    # nbclient writes outputs into the notebook it holds: give it the one being run.
    first_folder = (twin or path).parent
    client = NotebookClient(first_nb, km=km, timeout=120, kernel_name=CURRENT_ENV,
                            resources={"metadata": {"path": str(first_folder)}})
    try:
        with client.setup_kernel(cwd=str(first_folder)):  # as JupyterLab starts it
            _run_all(client, list(first_nb.cells), first_label)
            if twin:
                missed = ast.literal_eval(_probe(client, first_nb, ASKED_BUT_MISSING)[-1])
                _check_chinese_run(twin, first_nb, missed)
                _probe(client, first_nb, BACK_TO_ENGLISH.format(folder=str(path.parent)))
            first, first_names, first_os = _threads(client, first_nb)
            first_fds, first_tasks = _resources(client, first_nb)
            client.nb = nb
            _run_all(client, list(nb.cells), "second run (same kernel)")
            second_fds, second_tasks = _resources(client, nb)  # (settles first)
            second, second_names, second_os = _threads(client, nb)
    finally:
        if client.kc is not None:
            client.kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    print(f"{path.name}: threads {first} -> {second} (OS threads {first_os} -> {second_os}), "
          f"sockets {first_fds} -> {second_fds}, client-loop tasks {first_tasks} -> {second_tasks}; "
          f"python {sys.version.split()[0]}")
    # A live notebook opens and closes connections all the time (a poller's next request, a hold
    # ending), so two counts taken a run apart can differ by a few sockets in transit. A leaked
    # server is caught by the thread count below (one thread each); this catches leaked clients
    # and connections.
    assert second_fds <= first_fds + FD_SLACK, (
        f"{path.name} leaks sockets on a re-run: {first_fds} -> {second_fds}")
    assert second_tasks <= first_tasks, (
        f"{path.name} leaks tasks on rtlab's client loop on a re-run: {first_tasks} -> {second_tasks}")
    # Every thread rtlab starts is named rtlab-… (a server, the client loop, the widget
    # refresher): a leaked one is a leak, strictly. The kernel's libraries start a few helper
    # threads lazily, once, when first needed (seen: an unnamed "Thread-N" appearing in the first
    # run of one test and the second run of another, then staying): one such newcomer is
    # allowed, a second is not, and the message names each one's class.
    rtlab_first = [n for n in first_names if n.startswith("rtlab-")]
    rtlab_second = [n for n in second_names if n.startswith("rtlab-")]
    assert len(rtlab_second) <= len(rtlab_first), (
        f"{path.name} leaks rtlab threads on a re-run: {rtlab_first} -> {rtlab_second}")
    others_first, others_second = first - len(rtlab_first), second - len(rtlab_second)
    assert others_second <= others_first + 1, (
        f"{path.name} leaks threads on a re-run: {first} after the first run, {second} after the "
        f"second.\nfirst:  {first_names}\nsecond: {second_names}")
