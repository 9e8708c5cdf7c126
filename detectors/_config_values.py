"""Config values that :class:`~detectors.configfile.Document`'s accessors do not read: dates.

YAML gives an unquoted ``2024-05-01`` as a :class:`datetime.date`; anything
else where a date belongs is a problem with its file and line, and the value
is treated as absent so that loading goes on and reports everything.
"""

from __future__ import annotations

from datetime import date

from detectors.configfile import Document, PathKey


def optional_date(document: Document, where: PathKey) -> date | None:
    """The date at ``where``, or None when it is absent or not a date (then a problem is recorded)."""
    value = document.get(where)
    if value is not None and not isinstance(value, date):
        document.problem(where, f"{value!r} is not a date (YYYY-MM-DD)")
        return None
    return value
