"""The package as a user installs it: a wheel built from the checkout, installed
(not editable) in a fresh venv, runs a saved operation with the checkout nowhere on
``sys.path``.  The saved operations are top-level ``graphql/`` files, installed as
data files (``pyproject.toml``); this is what shows a wheel carries them.

The venv gets its dependencies from the environment running the tests (its
``site-packages`` through a ``.pth`` file, like ``--system-site-packages`` but on top
of this environment, a venv itself in CI), so nothing is downloaded but the build
backend, and only when this environment has no ``setuptools>=77``.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from lineage.demo import default_visit

from .conftest import SMALL

ROOT = Path(__file__).resolve().parents[1]
#: What a build reads: the package, the data files and the project's metadata.
SOURCES = ["pyproject.toml", "README.md", "lineage", "graphql"]


def _run(args, **kw):
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, args))}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_isolation_needed() -> bool:
    """True unless this environment has the build backend pyproject.toml asks for."""
    try:
        from importlib.metadata import version
        return int(version("setuptools").split(".")[0]) < 77
    except Exception:
        return True


def _build_wheel(tmp_path: Path) -> Path:
    """A wheel of a copy of the checkout (a build in the checkout would leave ``build/``
    there, whose stale files a later build packages)."""
    src = tmp_path / "src"
    for name in SOURCES + [p.name for p in ROOT.glob("LICENSE*")]:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", dist, src]
    if not _build_isolation_needed():
        args.insert(4, "--no-build-isolation")
    _run(args, cwd=tmp_path, timeout=300)
    wheels = list(dist.glob("survey_lineage-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.slow
def test_wheel_installs_and_runs_a_saved_operation(tmp_path, demo_repo):
    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.pop("LINEAGE_REPO", None)
    env.pop("LINEAGE_GRAPHQL_PATH", None)
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                        cwd=tmp_path, env=env).stdout.strip())
    # this environment's packages (the dependencies, pip), after the venv's own
    (purelib / "_base_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --force-reinstall: this environment's own survey-lineage (editable) is visible to
    # pip, which leaves it alone ("outside environment") and installs the wheel
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
          "--force-reinstall", wheel], cwd=tmp_path, env=env, timeout=120)

    where = json.loads(_run([python, "-c", (
        "import json, lineage; from lineage.api.saved import project_dir; "
        "print(json.dumps([lineage.__file__, str(project_dir())]))")],
        cwd=tmp_path, env=env).stdout)
    package, graphql = (Path(p).resolve() for p in where)
    assert env_dir.resolve() in package.parents, f"lineage imported from {package}, not the venv"
    assert ROOT not in package.parents
    assert graphql.parent.parent.name == "share" and env_dir.resolve() in graphql.parents, graphql
    assert (graphql / "schema.graphql").read_text() == (ROOT / "graphql" / "schema.graphql").read_text()
    # the web pages' files (GraphiQL, the explorer and its vendored library) are installed
    for assets in ("api/graphiql", "api/explorer", "api/explorer/vendor"):
        shipped = {f.name for f in (ROOT / "lineage" / assets).iterdir() if f.is_file()}
        assert shipped <= {f.name for f in (package.parent / assets).iterdir()}, assets

    visit = f"visit={default_visit(SMALL)}"
    out = _run([bin_dir / "lineage", "query", "CoaddsOfVisit", "--var", f"visit={visit}",
                "--repo", demo_repo], cwd=tmp_path, env=env, timeout=120).stdout
    coadds = json.loads(out)["data"]["lineage"]
    assert coadds["totalCount"] > 0
    assert {e["node"]["datasetType"] for e in coadds["edges"]} == {"deepCoadd"}


def test_a_checkout_uses_its_own_graphql_folder():
    """Run from the checkout (or an editable install, which installs no data files), the
    saved operations are the checkout's, edits and all; site-packages' ``graphql`` (the
    graphql-core package) is never taken for the project's folder."""
    from lineage.core.data_files import source_dir
    from lineage.api.saved import project_dir
    assert project_dir() == source_dir("graphql") == ROOT / "graphql"
