"""What a table, column or segment name of a model's YAML may be: the names end up in SQL (quoted as
identifiers), in file readers and in report pages, so a name that carries SQL or markup syntax is refused with
the key that holds it, before anything reads a source.

A name may hold letters (any script), digits, spaces and ``_ - . ( ) / % # + : @ $ & ,``: real column names
such as ``amount (EUR)`` or ``Jahr-Monat`` pass. Quotes, backticks, semicolons, comment openers (``--``,
``/*``), backslashes, angle brackets, control characters and leading or trailing blanks are refused."""

from __future__ import annotations

import re

MAX_LENGTH = 128
_ALLOWED = re.compile(r"[\w \-.()/%#+:@$&,]+")
_COMMENT = re.compile(r"--|/\*|\*/")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a usable column or segment name, or None when it is."""
    if not name:
        return "is empty"
    if len(name) > MAX_LENGTH:
        return f"is longer than {MAX_LENGTH} characters"
    if name != name.strip():
        return "starts or ends with a blank"
    if _COMMENT.search(name):
        return "holds an SQL comment marker (-- or /* */)"
    bad = sorted({ch for ch in name if not _ALLOWED.fullmatch(ch)})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:5])
        return (
            f"holds characters a column name may not have ({shown}): quotes, semicolons, backslashes, angle "
            "brackets and control characters are refused"
        )
    return None


def check_name(name: str) -> str:
    """``name``, or a ValueError saying what is wrong with it (pydantic puts the key before it; the name is
    quoted: it is no secret)."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(f"the name {name!r} {problem}")
    return name


TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
"""A table (or view) name, optionally ``schema.table``: plain SQL identifiers only."""


def check_table(name: str) -> str:
    if not TABLE.fullmatch(name):
        raise ValueError(f"the table name {name!r} must be a plain name or schema.name (letters, digits and _ only)")
    return name
