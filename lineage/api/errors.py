"""Which errors a client sees as they are, and how argument errors name their field."""

from __future__ import annotations

from contextlib import contextmanager

from graphql import GraphQLError

from lineage.core.errors import LineageError, UserError


class ApiError(UserError):
    """Bad input or a refused request; the message names the field and what is wrong."""


class AccessDenied(ApiError):
    """The request lacks a token or a role."""

    code = "FORBIDDEN"


def is_user_error(exc: BaseException | None) -> bool:
    """True for errors whose message is meant for the client (bad input, no such node ...):
    the library's (:class:`LineageError`) and GraphQL's own."""
    return exc is not None and isinstance(exc, (LineageError, GraphQLError))


def input_path(field: str, within: str | None = None) -> str:
    """A library field as the API names the input: ``as_of`` -> ``asOf``; below the input
    object ``within`` if given (``input.idempotencyKey``)."""
    first, *rest = field.split("_")
    name = first + "".join(word.capitalize() for word in rest)
    return f"{within}.{name}" if within else name


def client_message(exc: BaseException) -> str:
    """The message a client reads: a user error that names its field starts with the
    field's input path (``asOf: ...``)."""
    field = getattr(exc, "field", None)
    return f"{input_path(field)}: {exc}" if field else str(exc)


@contextmanager
def argument(name: str, within: str | None = None):
    """Prefix the message of a user error raised inside with the input it is about: the
    error's own field (an argument, or a field of the input object ``within``), else
    ``name``."""
    try:
        yield
    except ApiError:
        raise
    except (LineageError, GraphQLError) as exc:
        field = getattr(exc, "field", None)
        raise ApiError(f"{input_path(field, within) if field else name}: {exc}") from None
