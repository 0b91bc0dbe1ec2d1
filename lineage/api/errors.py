"""Which errors a client sees as they are, and how argument errors name their field."""

from __future__ import annotations

from contextlib import contextmanager

from graphql import GraphQLError

from lineage.core.model import ModelError
from lineage.core.selector import SelectorError
from lineage.core.units import MetricError
from lineage.flags import FlagError
from lineage.store.base import StoreError


class ApiError(ValueError):
    """Bad input or a refused request; the message names the field and what is wrong."""


class AccessDenied(ApiError):
    """The request lacks a token or a role."""


def _user_errors() -> tuple[type[BaseException], ...]:
    return (ApiError, SelectorError, ModelError, StoreError, FlagError, GraphQLError)


def is_user_error(exc: BaseException | None) -> bool:
    """True for errors whose message is meant for the client (bad input, no such node ...)."""
    return exc is not None and isinstance(exc, _user_errors())


@contextmanager
def argument(name: str):
    """Prefix the message of a user error raised inside with the argument's name."""
    try:
        yield
    except ApiError:
        raise
    except _user_errors() as exc:
        raise ApiError(f"{name}: {exc}") from None


async def metrics_call(ctx, fn, *args, **kwargs):
    """Run a :mod:`lineage.metrics` call in the thread pool; a MetricError is the client's."""
    try:
        return await ctx.run(fn, *args, **kwargs)
    except MetricError as exc:
        raise ApiError(str(exc)) from None
