"""The lazy ``lineage`` group: its table of commands tells the truth, and ``lineage --help``
imports no command module and none of the heavy libraries behind them."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import lineage.cli
from lineage.cli import COMMANDS, cli, commands_of

ROOT = Path(__file__).resolve().parents[1]

#: Modules of ``lineage.cli`` that hold no command.
NOT_COMMANDS = {"__main__", "common", "output"}

#: Third-party modules too slow to load for ``lineage --help``.
HEAVY = ["networkx", "astropy", "pandas", "numpy", "rich", "matplotlib", "graphene", "neo4j",
         "redis", "pyarrow"]


def _command_modules():
    return [importlib.import_module(f"lineage.cli.{m.name}")
            for m in pkgutil.iter_modules(lineage.cli.__path__) if m.name not in NOT_COMMANDS]


def test_the_table_names_every_command_and_its_module():
    found = {name: module.__name__.rsplit(".", 1)[1]
             for module in _command_modules() for name in commands_of(module)}
    assert found == {name: module for name, (module, _) in COMMANDS.items()}


def test_the_table_holds_each_commands_short_help():
    for name, (_, short_help) in COMMANDS.items():
        command = cli.get_command(None, name)
        assert short_help == command.get_short_help_str(limit=sys.maxsize), name


def test_help_imports_no_command_and_no_heavy_library():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lineage.cli", "--help"],
                          env=env, capture_output=True, text=True, check=True)
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "Commands:" in done.stdout
    heavy = sorted(m for m in imported if m.split(".")[0] in HEAVY)
    assert not heavy, heavy
    cli_modules = sorted(m for m in imported
                         if m.startswith("lineage.cli.") and m != "lineage.cli.__main__")
    assert not cli_modules, cli_modules
