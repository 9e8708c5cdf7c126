"""What the two validators share: absent values, enumerations, dates and paths into a document."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

# Stands for a key the document does not have (None is a value a document can hold).
MISSING = object()


def is_present(value: Any) -> bool:
    return value is not MISSING and value is not None and value != "" and value != [] and value != {}


def enum_problems(where: str, value: Any, allowed: tuple[str, ...], table: str) -> list[str]:
    if value is MISSING or value is None:
        return []
    values = value if isinstance(value, list) else [value]
    choices = ", ".join(allowed) if len(allowed) <= 12 else f"the {len(allowed)} values of {table}"
    return [
        f"{where}{f'[{index}]' if isinstance(value, list) else ''}: {item!r} is not one of {choices}"
        for index, item in enumerate(values)
        if item not in allowed
    ]


def resolve(document: Any, path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) for every place ``path`` names; ``MISSING`` where a key is absent.

    Below an absent key or a non-list, nothing is reported: the rule on the
    parent already says what is wrong there.
    """
    found: list[tuple[str, Any]] = [("", document)]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        deeper = []
        for where, value in found:
            if not isinstance(value, Mapping):
                continue
            here = f"{where}.{key}" if where else key
            child = value.get(key, MISSING)
            if not many:
                deeper.append((here, child))
            elif isinstance(child, list):
                deeper.extend((f"{here}[{index}]", item) for index, item in enumerate(child))
        found = deeper
    return found


def parse_date(value: Any) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
