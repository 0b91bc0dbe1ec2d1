"""README.md runs as written (issue #20): every command line of its code blocks, in the
README's order, typed into one bash shell as a user would, each exiting 0.

The setting is the README's: the working directory is a new, empty project directory
whose ``../shared`` is the real samples' (``R=../shared/data/real``), and its first
command (``pip install -e . && lineage demo``: the part after ``&&``) builds the default
demo into ``./lineage-repo``.  ``lineage`` and ``python`` are this checkout run by this
test's interpreter (bash functions); ``LINEAGE_CACHE`` is a temporary directory, so
``lineage cache`` does not touch the home directory; ``graphql/`` exists, as it does in
the project root, for ``lineage schema -o graphql/schema.graphql``.

What is not run here:

* a line whose comment says ``needs: ...`` (something outside, or the suite itself):
  ``test_marked_line`` lists each one, skipped with that reason;
* when ``../shared/data/real`` is absent, the lines of a block that reads it (``$R``):
  the test runs the rest and then reports them skipped.

``lineage serve`` lines run in the background on a free port (8000 may be taken on a
test machine): the test waits until ``/graphql`` answers a query, then stops the server.
After the demo the test starts the repository's engine (``lineage engine start``, 0.3 s a
command instead of 1 s) and stops it at the end.  A few key lines must also print what
the README says they do (``EXPECTED``).
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage.api.process import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SHARED = ROOT.parent / "shared"              # the README's ../shared, from the project root
REAL = SHARED / "data" / "real"

#: Seconds one README line may take (the default demo is the longest: about 20-60 s).
LINE_TIMEOUT = 300

#: Key lines (the start of the command, without its comment; a newline ends it) and what
#: their output must contain: what the README says they do.
COADD = "23167e05-128b-5393-a1e9-324840350ed9"      # deepCoadd tract 9813 patch 5 band u, DR2
EXPECTED = {
    "lineage demo\n": ["Which coadds used visit 2026030100001?", "24 coadds", COADD],
    "lineage downstream visit=2026030100001 --type deepCoadd\n": [COADD],
    "lineage upstream 23167e05-128b-5393-a1e9-324840350ed9 --type calexp": ["deleted"],
    "lineage downstream visit=2026030100001 --type deepCoadd --count": ["24"],
    "lineage downstream visit=2026030100001 --type deepCoadd --as-of DR1": ["DemoCam/runs/DR1"],
    "lineage flag visit=2026030100001 --verdict bad --reason \"satellite trail\" "
    "--evidence DRB-42.txt --by drb\n": ["flag:"],
    f"lineage contaminated {COADD}": ["contaminated (bad)", "flag:"],
    "lineage demo --butler demo-butler": ["try: lineage sync demo-butler"],
    "lineage sync demo-butler\n": ["read 12 items, 110 datasets"],
    "lineage sync demo-butler --json": ['"units": 0', '"nodes_created": 0'],
    "lineage upstream \"instrument = 'Cam1' AND visit = 1 AND detector = 1\"": ["input_run"],
    "lineage query CoaddsOfFlaggedVisits": [COADD, "satellite trail"],
    "lineage downstream \"visit = 2026030100001 AND detector IN (1..3)\"": ["6 datasets"],
    "python -c \"import lineage; print(lineage.Repository(": ["DemoCam/runs/DR1"],
    "lineage fetch visit=2026030100001 --downstream --type calexp --to my-data\n": ["copied"],
    "lineage cache prefetch visit=2026030100001": ["40 datasets in the cache"],
    "python -c \"import lineage; print(lineage.get(": ["(32, 32)"],
    "lineage unflag $FLAG": ["retracted flag:"],
    "lineage diff DemoCam/DR1 DemoCam/DR2\n": [" added, ", " removed, ", " changed, "],
}


@dataclass(frozen=True)
class Line:
    """One command line of the README: the code block it is in (0: the first) and its text."""

    block: int
    text: str

    @property
    def command(self) -> str:
        """The line without its trailing comment."""
        return re.sub(r"\s+#\s.*$", "", self.text)

    @property
    def needs(self) -> str | None:
        """What the line needs from outside, as its comment says (``# needs: ...``)."""
        found = re.search(r"#.*\bneeds:\s*(.+)$", self.text)
        return found.group(1).strip() if found else None


def command_lines(text: str) -> list[Line]:
    """Every non-blank line of the README's fenced code blocks, in order; of the first
    block's ``pip install ... && COMMAND`` lines, the COMMAND."""
    lines = []
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.M | re.S)
    for number, block in enumerate(blocks):
        for raw in block.splitlines():
            if not raw.strip():
                continue
            if number == 0 and raw.startswith("pip install"):
                raw = raw.split("&&", 1)[1].strip()
            lines.append(Line(number, raw))
    return lines


LINES = command_lines(README.read_text())


def _blocks_reading_shared(lines: list[Line]) -> set[int]:
    """The code blocks with a line that reads ../shared (``$R``): without the samples, none
    of their lines can run (later ones ask about what earlier ones loaded)."""
    return {line.block for line in lines if "$R" in line.text or "../shared" in line.text}


MARK = "__readme_line_done__"


class Shell:
    """One bash process the README's lines are typed into, one after another, so that what
    a line sets (``R=...``, ``FLAG=$(...)``) is there for the next, as for a user."""

    def __init__(self, cwd: Path, env: dict, prelude: str):
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.output: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.proc.stdin.write(prelude + "\n")

    def _read(self):
        for text in self.proc.stdout:
            self.output.put(text)
        self.output.put(None)

    def run(self, command: str, timeout: float) -> tuple[int | None, str]:
        """(exit status, output) of one line; None when it did not end within ``timeout``
        seconds (the shell is stopped then) or the shell exited."""
        self.proc.stdin.write(f"{{ {command}\n}} < /dev/null\nprintf '\\n{MARK} %s\\n' $?\n")
        self.proc.stdin.flush()
        seen, deadline = [], time.monotonic() + timeout
        while True:
            try:
                text = self.output.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.stop()
                return None, "".join(seen) + f"\n(no end after {timeout:.0f} s)"
            if text is None:
                return None, "".join(seen) + "\n(the shell exited)"
            if text.startswith(MARK):
                return int(text.split()[1]), "".join(seen)
            seen.append(text)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def _graphql_answers(base: str) -> bool:
    request = urllib.request.Request(f"{base}/graphql", data=b'{"query": "{ __typename }"}',
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return json.load(answer).get("data", {}).get("__typename") == "Query"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _serve(line: Line, cwd: Path, env: dict, prelude: str, timeout: float) -> tuple[bool, str]:
    """Run a ``lineage serve`` line on a free port until /graphql answers, then stop it:
    (answered, the server's output)."""
    port = free_port()
    command = f"{line.command} --port {port}"
    log = cwd.parent / f"serve-{port}.log"
    with open(log, "w") as out:
        server = subprocess.Popen(["bash", "--noprofile", "--norc", "-c", f"{prelude}\n{command}"],
                                  cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    answered, deadline = False, time.monotonic() + timeout
    try:
        while not answered and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            answered = _graphql_answers(f"http://127.0.0.1:{port}")
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)
    return answered, log.read_text()


@pytest.mark.parametrize("line", [ln.text for ln in LINES if ln.needs], ids=lambda t: t[:60])
def test_marked_line(line):
    """A line that needs something outside is marked so in the README and not run."""
    pytest.skip(f"README line needs: {Line(0, line).needs}")


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path):
    project = tmp_path / "project"
    (project / "graphql").mkdir(parents=True)
    if REAL.is_dir():
        (tmp_path / "shared").symlink_to(SHARED.resolve(), target_is_directory=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LINEAGE_") and k not in ("PYTHONPATH", "COLUMNS")}
    env.update(PYTHONPATH=str(ROOT), LINEAGE_CACHE=str(tmp_path / "cache"), COLUMNS="200",
               README_PYTHON=sys.executable)
    prelude = ('lineage() { "$README_PYTHON" -m lineage.cli "$@"; }\n'
               'python() { "$README_PYTHON" "$@"; }')
    left_out = set() if REAL.is_dir() else _blocks_reading_shared(LINES)
    shell = Shell(project, env, prelude)
    failures, skipped, ran, seconds, checked = [], [], 0, {}, set()
    try:
        for line in LINES:
            if line.needs:
                continue
            if line.block in left_out:
                skipped.append(line.text)
                continue
            ran += 1
            if line.text.startswith("lineage serve"):
                answered, output = _serve(line, project, env, prelude, LINE_TIMEOUT)
                if not answered:
                    failures.append(f"{line.text}\n  /graphql never answered:\n{output[-1500:]}")
                continue
            started = time.monotonic()
            status, output = shell.run(line.text, LINE_TIMEOUT)
            seconds[line.text] = time.monotonic() - started
            if status != 0:
                failures.append(f"{line.text}\n  exit {status}:\n{output[-1500:]}")
                if status is None:
                    break
                continue
            if line.text == "lineage demo":
                # keep the repository's engine running between the lines
                assert shell.run("lineage engine start", LINE_TIMEOUT)[0] == 0
            for start, claims in EXPECTED.items():
                if (line.command + "\n").startswith(start):
                    checked.add(start)
                    missing = [c for c in claims if c not in output]
                    if missing:
                        failures.append(f"{line.text}\n  output lacks {missing}:\n{output[-1500:]}")
    finally:
        shell.stop()
        # the engine started after the demo outlives the commands: stop it
        subprocess.run([sys.executable, "-m", "lineage.cli", "engine", "stop", "--repo",
                        str(project / "lineage-repo")], env=env, cwd=project,
                       capture_output=True, timeout=120)
    print("slowest README lines:", *(f"{t:6.1f} s  {text[:100]}" for text, t in
                                       sorted(seconds.items(), key=lambda x: -x[1])[:12]),
          f"{sum(seconds.values()):6.1f} s  all {len(seconds)}", sep="\n")
    assert not failures, f"{len(failures)} of {ran} README lines failed:\n\n" + "\n\n".join(failures)
    assert checked == set(EXPECTED), f"no README line starts with {set(EXPECTED) - checked}"
    manifest = json.loads((project / "my-data" / "manifest.json").read_text())
    assert manifest["failed"] == 0 and manifest["count"] > 0
    if skipped:
        pytest.skip(f"{ran} README lines ran; {len(skipped)} left out, as {REAL} is absent: "
                    + "; ".join(skipped))
