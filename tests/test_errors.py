"""One error root: every error class of the library derives from LineageError, library
messages never name a command-line flag, and each interface renders a user error's field
its own way (the CLI as ``--field``, the API as the input path)."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from lineage.core.errors import LineageError, UserError

from .conftest import client_for

PACKAGE = Path(__file__).resolve().parents[1] / "lineage"

#: Exception classes that are not errors for a person to read, and why.
NOT_LINEAGE_ERRORS = {
    "lineage.api.execute.Refused": "protocol control flow: a request refused before it runs, "
                                   "carrying the GraphQL error bodies to answer",
    "lineage.api.app.HttpError": "protocol control flow: an HTTP status and body to answer",
    "lineage.cli.common.CliError": "click's exception: how the CLI prints a LineageError",
    "lineage.ingest.formats.headers._Skip": "private: a header record left out, with why",
    "lineage.ingest.loading._DuplicateKey": "private: raised and caught inside the loader",
    "lineage.ingest.butler_yaml._Problem": "private: raised and caught inside the reader",
    "lineage.store.falkordb_store._Entity": "private: a reply entity while decoding",
    "lineage.store.falkordb_store._ReplyTooLarge": "private: turned into ResultTooLarge",
}

#: Library messages that may name a flag, and why.
FLAG_MESSAGES_ALLOWED = {
    # the per-file error of an ingest report is text the report keeps; its hint is asserted
    # by tests/test_ingest_pipeline.py (test_unknown_import_variable_...)
    "lineage/ingest/pipeline_ir.py": "--var",
}

#: Raises of Python's own exception classes in the library, and why none reaches a user:
#: the rest raise a LineageError, the one class each interface catches.
BUILTIN_RAISES_ALLOWED = {
    "lineage/ingest/provenance.py ValueError": "caught by its callers and reported as the "
                                               "ingest error of the file and record",
    "lineage/ingest/butler_yaml.py ValueError": "caught by the Butler export reader, which "
                                                "names the file and record",
    "lineage/ingest/rubin_translator.py ValueError": "astro_metadata_translator's protocol; "
                                                     "the header ingest reports it per file",
    "lineage/ingest/rubin_translator.py KeyError": "astro_metadata_translator's protocol",
    "lineage/ingest/loading.py TypeError": "a programming error: an unsafe YAML loader",
    "lineage/store/falkordb_store.py TypeError": "a programming error: an unsupported "
                                                 "parameter type",
    "lineage/flags/propagation.py RuntimeError": "a bug in the graph: never expected",
    "lineage/demo/survey.py ValueError": "a demo survey definition that cannot be built",
    "lineage/api/process.py RuntimeError": "tests and scripts starting a server",
}

_BUILTIN = {"ValueError", "KeyError", "TypeError", "RuntimeError", "OSError", "IOError",
            "LookupError", "IndexError", "Exception"}


def test_the_library_raises_only_lineage_errors():
    """A ValueError or KeyError raised for a user would escape both interfaces' one catch."""
    found = set()
    for path, _, tree in _modules():
        rel = str(path.relative_to(PACKAGE.parent))
        if rel.startswith("lineage/cli/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and isinstance(node.exc.func, ast.Name) and node.exc.func.id in _BUILTIN:
                found.add(f"{rel} {node.exc.func.id}")
    assert not found - set(BUILTIN_RAISES_ALLOWED), (
        "raise a LineageError (core/errors.py) instead, or list it with why: "
        f"{sorted(found - set(BUILTIN_RAISES_ALLOWED))}")
    assert not set(BUILTIN_RAISES_ALLOWED) - found, "no longer raised: drop from the list"


_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.endswith("__main__"):
            yield path, name, ast.parse(path.read_text())


def test_every_exception_class_derives_from_lineage_error():
    found, stray = set(), []
    for _, name, tree in _modules():
        classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
        if not classes:
            continue
        module = importlib.import_module(name)
        for cls_name in classes:
            cls = getattr(module, cls_name, None)
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                continue
            qualified = f"{name}.{cls_name}"
            found.add(qualified)
            if not issubclass(cls, LineageError) and qualified not in NOT_LINEAGE_ERRORS:
                stray.append(qualified)
    assert not stray, f"exception classes outside the root (or list them, with why): {stray}"
    assert set(NOT_LINEAGE_ERRORS) <= found, set(NOT_LINEAGE_ERRORS) - found


def _raised_texts(tree):
    """(line, text) of every string constant in a ``raise`` statement."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield node.lineno, part.value


def test_library_messages_name_no_command_line_flag():
    found = []
    for path, name, tree in _modules():
        if name.startswith("lineage.cli"):
            continue
        where = str(path.relative_to(PACKAGE.parent))
        for line, text in _raised_texts(tree):
            flags = set(_FLAG.findall(text)) - {FLAG_MESSAGES_ALLOWED.get(where)}
            if flags:
                found.append(f"{where}:{line}: {sorted(flags)}")
    assert not found, "raise UserError(message, field=...) instead: " + "; ".join(found)


def test_a_user_error_knows_its_file_and_line():
    from lineage.ingest.driver import IngestError
    exc = IngestError("runs.yaml", "line 12 column 3", "not valid YAML")
    assert (exc.file, exc.line, exc.path, exc.where) == ("runs.yaml", 12, "runs.yaml",
                                                         "line 12 column 3")
    assert IngestError("runs.yaml", "runs[2]", "no name").line is None
    assert isinstance(exc, UserError) and isinstance(exc, ValueError)


def test_the_cli_renders_a_field_as_its_option():
    from lineage.cli.common import CliError, call

    def failing(exc):
        raise exc

    with pytest.raises(CliError) as info:
        call(failing, UserError("'soon': not an ISO date or time", field="as_of"))
    assert info.value.format_message() == "--as-of 'soon': not an ISO date or time"
    with pytest.raises(CliError) as info:
        call(failing, LineageError("the engine is down"))
    assert info.value.format_message() == "the engine is down"


def test_the_api_renders_a_field_as_its_input_path(repo):
    with client_for(repo) as client:
        body = client.post("/graphql", json={
            "query": '{ flags(asOf: "not a time") { totalCount } }'}).json()
    error = body["errors"][0]
    assert error["message"].startswith("asOf: 'not a time': not an ISO date"), error
    assert error["extensions"]["code"] == "BAD_INPUT"


def test_api_error_codes_are_class_attributes():
    from lineage.api.errors import AccessDenied, ApiError, argument, input_path
    from lineage.api.flags import DeadlineRefused
    assert (ApiError.code, AccessDenied.code, DeadlineRefused.code) == \
        ("BAD_INPUT", "FORBIDDEN", "TIMEOUT")
    assert input_path("idempotency_key", within="input") == "input.idempotencyKey"
    with pytest.raises(ApiError, match=r"^filter\.where: 'x': expected"):
        with argument("filter", within="filter"):
            raise UserError("'x': expected dim=value", field="where")
    with pytest.raises(ApiError, match=r"^dataset: no such node"):
        with argument("dataset"):
            raise UserError("no such node")
