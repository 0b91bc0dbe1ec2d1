"""The root of every error the library means a person to read.

:class:`LineageError` is the one class the interfaces catch: the command line
(``lineage.cli.common.call``) prints it as one line, the API
(``lineage.api.errors``) answers it as an error of the request.  Anything else
that escapes is a bug.

:class:`UserError` is the branch for input the user can fix.  It may say which
input it is about: ``field`` is the library's name of the argument
(``reason``, ``as_of``), which each interface renders its own way (the command
line as ``--as-of``, the API as the input path ``asOf``), so a library message
never names a command-line flag; ``file`` and ``line`` say where in an input
file.
"""

from __future__ import annotations


class LineageError(Exception):
    """An error whose message is meant for the user: what was asked, and what is wrong."""

    #: The API's error code (``extensions.code``) for this error.
    code = "BAD_INPUT"


class UserError(LineageError, ValueError):
    """Input the user can fix; ``field``, ``file`` and ``line`` say which input, if known.

    A ValueError too, as the library's input errors were before they had a root.
    """

    def __init__(self, message: str = "", *, field: str | None = None,
                 file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.file = file
        self.line = line


class UnknownName(UserError, KeyError):
    """A name the user gave that names nothing (a saved operation, a table column): a
    user error, and a KeyError for code that looks names up."""

    def __str__(self) -> str:   # the message, not KeyError's quoted repr of it
        return str(self.args[0]) if self.args else ""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (at most 300 characters), for one-line
    errors that quote what a library raised."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "(no message)"
