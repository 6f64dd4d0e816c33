"""Errors a user can act on: each names the file, column or setting at fault."""


class DriftwardenError(Exception):
    """Base of the errors that fail a monitoring run with a clear reason (not a crash)."""


class SourceError(DriftwardenError):
    """A source cannot be read or lacks what the config says it has."""
