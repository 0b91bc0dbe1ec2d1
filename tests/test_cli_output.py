"""Output that never loses data (lineage/cli/output.py): terminal tables at 80 and 60 columns
show every data ID, run and UUID whole; ``--format csv|ecsv|json`` parse back to the same
rows; every listing command takes ``--format``; progress is plain lines off a terminal."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from astropy.table import Table

from lineage.cli import COMMANDS, commands_of
from lineage.cli.output import FORMATS, json_ready
from lineage.demo import default_visit

from .cli_runner import run
from .conftest import SMALL

ROOT = Path(__file__).resolve().parents[1]
VISIT = default_visit(SMALL)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")

#: Commands that change something and report on it: ``--json`` only, no listing to format.
REPORTS = {"copy", "demo", "flag", "unflag", "ingest", "flags recompute", "flags block",
           "flags import", "metrics record", "token create", "cache prefetch", "migrate"}


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES", "LINEAGE_WIDTH", "LINEAGE_REPO")}
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **extra}


def _lineage_process(args, env: dict, tty_width: int | None = None) -> str:
    """Standard output of ``python -m lineage.cli ARGS`` in a new process: piped, or on a
    pseudo-terminal ``tty_width`` columns wide (rich then sees a real terminal)."""
    command = [sys.executable, "-m", "lineage.cli", *map(str, args)]
    if tty_width is None:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout
    import fcntl
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, tty_width, 0, 0))
    proc = subprocess.Popen(command, env=env, stdin=slave, stdout=slave,
                            stderr=subprocess.PIPE)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process is done writing
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    return ANSI.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")


def _assert_whole(text: str, rows: list[dict], width: int) -> None:
    """Every row's UUID, run and data ID in ``text`` whole: its UUID's table line (with the
    header and shared values above the table) or its stacked block holds the run and every
    ``dimension=value`` (or the value as a cell under a dimension column)."""
    lines = text.splitlines()
    assert "\u2026" not in text, "rich cut a value"
    assert all(len(line.rstrip()) <= width for line in lines), text
    uuid_line = {r["uuid"]: next((i for i, line in enumerate(lines) if r["uuid"] in line), None)
                 for r in rows}
    missing = [u for u, i in uuid_line.items() if i is None]
    assert not missing, f"UUIDs not shown whole: {missing}\n{text}"
    first = min(uuid_line.values())
    for r in rows:
        i = uuid_line[r["uuid"]]
        if lines[i].lstrip().startswith("UUID"):  # stacked: the block of this row
            start = max(j for j in range(i + 1) if lines[j].startswith("-- "))
            end = next((j for j in range(i, len(lines)) if lines[j].startswith("-- ")),
                       len(lines))
            unit, cells = "\n".join(lines[start:end]), []
        else:  # the row's first line and the lines its wrapped cells continue on
            end = i + 1
            while end < len(lines) and lines[end].strip() and not lines[end].startswith("└") \
                    and not any(u in lines[end] for u in uuid_line):
                end += 1
            row_lines = lines[i:end]
            unit = "\n".join(lines[:first] + [" ".join(
                " ".join(line.replace("│", " ").split()) for line in row_lines)])
            cells = lines[i].replace("│", " ").split()
        assert re.search(rf"(^|\s){re.escape(r['run'])}(\s|$)", unit, re.M), (r, unit)
        header = "\n".join(lines[:first])
        for dim, value in r["data_id"].items():
            assert f"{dim}={value}" in unit or (str(value) in cells and dim in header), \
                (dim, value, unit)


@pytest.mark.parametrize("width", [80, 60])
def test_downstream_shows_every_data_id_run_and_uuid_whole(demo_repo, width):
    args = ["downstream", f"visit={VISIT}", "--type", "deepCoadd", "--repo", demo_repo]
    rows = json.loads(run(*args, "--format", "json").stdout)
    assert len(rows) >= 4 and len({r["run"] for r in rows}) == 2
    piped = _lineage_process(args, _env(COLUMNS=str(width)))
    on_tty = _lineage_process(args, _env(TERM="xterm"), tty_width=width)
    forced = _lineage_process(args, _env(LINEAGE_WIDTH=str(width)))
    in_process = run(*args, env={"COLUMNS": str(width)}).stdout
    for text in (piped, on_tty, forced, in_process):
        _assert_whole(text, rows, width)
    assert piped == forced


def test_mixed_dataset_types_stack_rather_than_cut(demo_repo):
    args = ["downstream", f"visit={VISIT}", "--depth", "1", "--repo", demo_repo]
    rows = json.loads(run(*args, "--json").stdout)
    assert len({r["dataset_type"] for r in rows}) > 1
    _assert_whole(run(*args, env={"COLUMNS": "80"}).stdout, rows, 80)


@pytest.mark.parametrize("width", [120, 100, 80])
def test_wrapping_columns_never_cut_a_uuid(demo_repo, width):
    """A table whose every column may wrap (the blast radius of a dry run): rich, shrinking
    it to fit, would fold the widest column, here the UUIDs, below their length."""
    args = ["flag", f"visit={VISIT}", "--verdict", "suspect", "--reason", "trail", "--evidence",
            "https://example.org/e", "--by", "me", "--dry-run", "--repo", demo_repo]
    radius = json.loads(run(*args, "--json").stdout)["blast_radius"]["most_affected"]
    rows = [{**r, "uuid": r["key"].split(":", 1)[1]} for r in radius]
    _assert_whole(run(*args, env={"COLUMNS": str(width)}).stdout, rows, width)


def test_headers_of_columns_that_do_not_wrap_are_whole(monkeypatch, capsys):
    """rich wraps a header as it wraps its column: a narrow column of numbers under the
    header "new nodes" showed "new n" when a wrapping column took the room."""
    from lineage.cli import output
    monkeypatch.setenv("LINEAGE_WIDTH", "90")
    output.console.cache_clear()
    try:
        output.table("t", ["what", "why", "new nodes", "new edges"],
                     [("RUN", "something is new and a long reason " * 3, 36, 166)], fold=("why",))
    finally:
        output.console.cache_clear()
    shown = capsys.readouterr().out
    assert "new nodes" in shown and "new edges" in shown and "┃" in shown  # a table, not stacked


def test_csv_ecsv_and_json_are_the_same_rows(demo_repo):
    args = ["downstream", f"visit={VISIT}", "--type", "deepCoadd", "--repo", demo_repo]
    rows = json.loads(run(*args, "--format", "json").stdout)
    assert rows[0]["data_id"]["tract"] == 9813 and isinstance(rows[0]["data_id"]["band"], str)
    assert json.loads(run(*args, "--json").stdout) == rows

    def nested(flat: dict) -> dict:
        out: dict = {}
        for name, value in flat.items():
            head, _, tail = name.partition(".")
            if tail:
                out.setdefault(head, {})[tail] = value
            else:
                out[head] = value
        return out

    ecsv = Table.read(run(*args, "--format", "ecsv").stdout, format="ascii.ecsv")
    assert ecsv["data_id.tract"].dtype.kind == "i" and ecsv["steps"].dtype.kind == "i"
    from_ecsv = [nested({c: None if row[c] is np.ma.masked   # a null: deleted of a live row
                         else row[c].item() if hasattr(row[c], "item") else row[c]
                         for c in ecsv.colnames}) for row in ecsv]
    assert from_ecsv == rows
    from_csv = [nested(r) for r in csv.DictReader(io.StringIO(run(*args, "--format", "csv").stdout))]
    as_text = [{k: ({d: str(x) for d, x in v.items()} if isinstance(v, dict)
                    else "" if v is None else str(v))
                for k, v in r.items()} for r in rows]
    assert from_csv == as_text


def test_data_ids_in_json_are_objects_of_typed_values():
    assert json_ready([{"data_id": "visit=2026030100001,detector=3,band=r", "run": "r"},
                       {"nested": {"data_id": "detector=007,exposure=0,x=1\u0663"}}]) == [
        {"data_id": {"band": "r", "detector": 3, "visit": 2026030100001}, "run": "r"},
        {"nested": {"data_id": {"detector": "007", "exposure": 0, "x": "1\u0663"}}}]


def test_fetch_reads_the_json_of_a_listing(demo_repo, tmp_path):
    """``lineage fetch answer.json`` takes any listing's JSON, data IDs as objects."""
    answer = tmp_path / "answer.json"
    answer.write_text(run("downstream", f"visit={VISIT}", "--type", "deepCoadd", "--json",
                          "--repo", demo_repo).stdout)
    plan = json.loads(run("fetch", answer, "--to", tmp_path / "out", "--dry-run", "--json",
                          "--repo", demo_repo).stdout)
    assert plan["count"] == len(json.loads(answer.read_text()))


def _listing_commands():
    """(name, command) of every command and subcommand that takes ``--json``."""
    found = []
    for name, (module, _) in COMMANDS.items():
        import importlib
        command = commands_of(importlib.import_module(f"lineage.cli.{module}"))[name]
        subs = command.commands.items() if isinstance(command, click.Group) else [("", command)]
        for sub, c in subs:
            options = {o for p in c.params for o in getattr(p, "opts", [])}
            if "--json" in options:
                found.append((f"{name} {sub}".strip(), c))
    return found


def test_every_listing_command_takes_format():
    listings = [(n, c) for n, c in _listing_commands() if n not in REPORTS]
    assert {"downstream", "upstream", "show", "visits", "contaminated", "flags list",
            "flags inputs", "flags plan", "lightcurve", "metrics jobs", "metrics trend",
            "metrics job", "fetch", "calibs", "overlaps", "cache status", "token list",
            "diff"} <= {n for n, _ in listings}
    for name, command in listings:
        fmt = next((p for p in command.params if "--format" in p.opts), None)
        assert fmt is not None, f"lineage {name} has --json but no --format"
        assert set(FORMATS) <= set(fmt.type.choices), name


def test_json_and_another_format_refused(demo_repo):
    bad = run("status", "--json", "--format", "csv", "--repo", demo_repo)
    assert bad.returncode == 2 and "--json and --format csv" in bad.stderr


def test_contaminated_and_flags_list_show_the_reason(demo_repo):
    reason = "tracking error during the second half of the exposure"
    run("flag", f"visit={VISIT}", "--verdict", "bad", "--reason", reason, "--evidence",
        "https://example.org/DRB-42", "--by", "alice", "--repo", demo_repo)
    coadd = json.loads(run("downstream", f"visit={VISIT}", "--type", "deepCoadd", "--json",
                           "--repo", demo_repo).stdout)[0]["uuid"]
    answer = json.loads(run("contaminated", coadd, "--json", "--repo", demo_repo).stdout)
    assert [m["reason"] for m in answer["by"]] == [reason]
    for args in (["contaminated", coadd], ["flags", "list"]):
        shown = run(*args, "--repo", demo_repo, env={"COLUMNS": "80"}).stdout
        assert reason in " ".join(shown.split()), shown
        rows = list(csv.DictReader(io.StringIO(run(*args, "--format", "csv", "--repo",
                                                   demo_repo).stdout)))
        assert [r["reason"] for r in rows] == [reason]


def test_progress_lines_when_stderr_is_a_file(tmp_path):
    log = tmp_path / "stderr.log"
    with open(log, "w") as err:
        done = subprocess.run([sys.executable, "-m", "lineage.cli", "demo", "--small", "--repo",
                               tmp_path / "repo"], env=_env(LINEAGE_PROGRESS_EVERY="0"),
                              stdout=subprocess.DEVNULL, stderr=err, timeout=300)
    try:
        assert done.returncode == 0, log.read_text()
        lines = log.read_text().splitlines()
        progress = [line for line in lines
                    if re.fullmatch(r"[^:]+: [\d,]+/[\d,]+ .*\(\d+ %\), \d+ s", line)]
        assert progress, lines
        done_counts = [int(line.split(": ")[1].split("/")[0].replace(",", "")) for line in progress]
        assert done_counts == sorted(done_counts) and done_counts[-1] > 0
        assert not any("\x1b" in line or "\r" in line for line in lines)
    finally:
        from lineage.store.falkordb_server import FalkorServer
        FalkorServer(tmp_path / "repo").stop()
