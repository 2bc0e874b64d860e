"""``make run`` installs requirements.txt only; the app must work from that.

A second venv with only requirements.txt would double the install time of CI, so this test
builds the same thing cheaply: a folder of symlinks to the installed packages of
requirements.txt and their dependencies (read from the installed metadata), *without* what
only requirements-dev.txt brings (pytest, playwright, ruff, sacrebleu ...). ``python -S app.py``
with that folder as its only site-packages is what a runtime-only install can import; its
``/healthz`` must report every backend ready that the full dev install reports ready (a
package used at run time but listed only in requirements-dev.txt, like seqeval was, makes the
fine-tune trainer unavailable there). ``tests/unit/test_requirements.py`` checks the imports.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.helpers import ROOT, free_port, wait_http

pytestmark = pytest.mark.integration


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(path: Path) -> list[Requirement]:
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(" --", 1)[0].strip()
        if line.startswith("-r"):
            out += requirements(path.parent / line[2:].strip())
        elif line:
            out.append(Requirement(line))
    return out


def closure(reqs: list[Requirement]) -> set[str]:
    """Installed distributions these requirements pull in (markers evaluated, extras followed)."""
    seen: set[tuple[str, str]] = set()
    todo = [(norm(r.name), extra) for r in reqs for extra in ("", *r.extras)]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue  # an optional dependency that is not installed
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": extra}):
                continue
            todo += [(norm(req.name), e) for e in ("", *req.extras)]
    return {name for name, _ in seen}


def runtime_site(target: Path) -> tuple[Path, set[str]]:
    """Symlinks to everything in site-packages except what only dev distributions own."""
    runtime = closure(requirements(ROOT / "requirements.txt"))
    dev_only = closure(requirements(ROOT / "requirements-dev.txt")) - runtime
    site = Path(sysconfig.get_paths()["purelib"])
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        for f in dist.files or []:
            if f.parts and f.parts[0] != "..":
                owners.setdefault(f.parts[0], set()).add(norm(dist.metadata["Name"]))
    target.mkdir()
    for entry in site.iterdir():
        own = owners.get(entry.name, set())
        if own and own <= dev_only:
            continue
        (target / entry.name).symlink_to(entry)
    return target, dev_only


def test_the_app_runs_from_requirements_txt_alone(tmp_path, settings):
    site, dev_only = runtime_site(tmp_path / "site")
    assert {"pytest", "playwright", "ruff"} <= dev_only  # the filter really removes the dev set
    assert not (site / "_pytest").exists() and (site / "gradio").exists()

    from backends import registry

    full = {(s.kind, s.name): s.available for s in registry.all_status(settings)}
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "WB_PORT": str(port),
        "WB_DATA_DIR": str(settings.data_dir),
        "WB_MODELS_DIR": str(settings.models_dir),
    }
    log = open(tmp_path / "app.log", "w")
    proc = subprocess.Popen(  # -S: no site-packages but the runtime-only folder
        [sys.executable, "-S", "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=180, proc=proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as r:
            health = json.load(r)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    alone = {(b["kind"], b["name"]): b["available"] for b in health["backends"]}
    lost = sorted(k for k, ok in full.items() if ok and not alone.get(k))
    assert not lost, f"ready with the dev install, not with requirements.txt alone: {lost}"
    assert alone[("finetune", "trainer")] and alone[("chat", "llama_cpp")]
