"""Rerun the shell examples of a page in docs/ and write their real output back.

A page shows commands as fenced blocks whose lines start with ``$ ``; the lines
after a command, up to the next command or the end of the block, are its output.
This script runs every command of one page, in order, in a working directory you
prepare (a demo repository, the real samples next to it as ``../shared/data/real``),
with ``lineage`` meaning ``python -m lineage.cli`` of this checkout, and replaces
each output with what the command printed (standard output and error together).

It does not judge: review ``git diff`` afterwards. Outputs the page shortened by
hand in other ways come back whole, and times, flag IDs and timings change
from run to run; commands that need a server or a file the page made elsewhere
fail. An old output shortened with one ``...`` line is shortened the same way
(``keep_elision``). Blocks marked ``<!-- norefresh -->`` on the line before are left alone.

    python scripts/refresh_docs.py docs/lineage.md --cwd /tmp/demo [--columns 100]

A command line ending in ``\\`` (or inside a quote) continues on the next
line; ``cd DIR`` changes the directory of the commands after it in its block;
``--only 1-3,7`` reruns only those commands (numbered from 1 as printed), so a
section that wants a fresh repository can run in its own ``--cwd``; ``--dry-run``
prints the new outputs without writing the page.

How the pages were last refreshed (session 7): docs/lineage.md in a directory
holding the full demo as ``lineage-repo``, ``hsc`` (``lineage ingest
butler-export`` of the real exports) and ``qgrepo`` (``scripts/make_provenance_qg.py``);
docs/ingest.md one fresh repository per section (``--only``), the test inputs
(``run.json``, ``events.ndjson``) written with ``tests/test_ingest_run.py``'s
helpers; docs/flags.md and docs/api.md, whose commands name ``/tmp/x`` and
``/tmp/y``, under ``unshare -m`` with private directories bind-mounted there (and
``unshare -n`` plus ``lineage serve`` for the ``curl`` lines), so nothing shared
in /tmp is touched; widths as the page had them (``--columns 80`` for flags.md,
130 for diff.md, 190 for the lightcurve table, the 160 of a pipe elsewhere).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
PROMPT = "$ "
SKIP_MARK = "<!-- norefresh -->"


def open_quote(command):
    """Whether a shell command ends inside a quote (it goes on on the next line)."""
    quote = None
    for char in command.replace('\\"', ""):
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
    return quote is not None


def parse_examples(lines):
    """Return (output start, output end, command text, block number) of every
    command of the page; its output is lines[output start:output end]."""
    examples = []
    in_block = False
    skip_block = False
    block = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("```"):
            if not in_block:
                skip_block = index > 0 and lines[index - 1].strip() == SKIP_MARK
            in_block = not in_block
            block += in_block
            index += 1
            continue
        if in_block and not skip_block and line.startswith(PROMPT):
            command = line[len(PROMPT):]
            while (command.endswith("\\") or open_quote(command)) and index + 1 < len(lines):
                index += 1
                if command.endswith("\\"):
                    command = command[:-1] + " " + lines[index].strip()
                else:
                    command = command + "\n" + lines[index]
            index += 1
            output_start = index
            while index < len(lines) and not lines[index].startswith(PROMPT) and not lines[index].startswith("```"):
                index += 1
            examples.append((output_start, index, command, block))
            continue
        index += 1
    return examples


def run(command, cwd, columns):
    """Run one command as a user would at a shell, `lineage` being this checkout's CLI."""
    env = dict(os.environ, PYTHONPATH=str(CHECKOUT))
    env.pop("COLUMNS", None)
    if columns:
        env["COLUMNS"] = str(columns)
    script = f'lineage() {{ "{sys.executable}" -m lineage.cli "$@"; }}\n{command}'
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return [line.rstrip() for line in done.stdout.rstrip("\n").split("\n")] if done.stdout.strip() else []


def keep_elision(old, new):
    """Shorten a new output as the page shortened the old one: an old output with a
    line that is ``...`` or starts with ``... (`` keeps that line, the new output's
    first lines (as many as the old had before it) and its last lines (as many as after).
    A blank line that ended the old output (a gap before the next command) stays."""
    if old and not old[-1].strip() and new:
        new = new + [""]
    marks = [index for index, line in enumerate(old) if line == "..." or line.startswith("... (")]
    if len(marks) != 1:
        return new
    head, tail = marks[0], len(old) - marks[0] - 1
    if len(new) <= head + tail + 1:
        return new
    return new[:head] + [old[head]] + (new[len(new) - tail:] if tail else [])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--cwd", required=True, type=Path)
    parser.add_argument("--columns", type=int, default=None)
    parser.add_argument("--only", default=None, help="command numbers: 1-3,7")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    lines = args.page.read_text().split("\n")
    wanted = set()
    for part in (args.only.split(",") if args.only else []):
        first, _, last = part.partition("-")
        wanted.update(range(int(first), int(last or first) + 1))
    replacements = []
    cwd_block = (0, args.cwd.resolve())
    for number, (output_start, end, command, block) in enumerate(parse_examples(lines), 1):
        cwd = cwd_block[1] if cwd_block[0] == block else args.cwd.resolve()
        stripped = command.strip()
        if stripped.startswith("cd "):
            cwd_block = (block, (cwd / stripped[3:].strip()).resolve())
            continue
        if wanted and number not in wanted:
            continue
        output = run(command, cwd, args.columns)
        print(f"--- {number}: $ {command}", file=sys.stderr)
        print("\n".join(output), file=sys.stderr)
        replacements.append((output_start, end, keep_elision(lines[output_start:end], output)))
    if args.dry_run:
        return
    for output_start, end, output in reversed(replacements):
        lines[output_start:end] = output
    args.page.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
