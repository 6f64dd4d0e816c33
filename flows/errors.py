"""Errors a user can act on: each names the file, column or setting at fault."""


class DriftwardenError(Exception):
    """Base of the errors that fail a monitoring run with a clear reason (not a crash)."""


class SourceError(DriftwardenError):
    """A source cannot be read or lacks what the config says it has."""


class SourceUnavailable(SourceError):
    """A source that cannot be reached now (a database down, an object store timing out): retried with
    backoff, then the run fails with this message, naming the source."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error, for a one-line message: the driver's own where SQLAlchemy wraps one."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
