"""Reading operator YAML with the line of every value, and reporting all problems at once.

Every config file in ``config/`` is edited by hand, so an error must say which
file, which line and which field is wrong::

    config/designations.yaml:42: organisations[3].aliases.en[0]: is empty

``load_yaml`` returns a :class:`Document` that keeps a line for each path in
the tree. Loaders call :meth:`Document.problem` for each fault they find and
:meth:`Problems.raise_if_any` once at the end, so an operator fixes every
mistake in one pass instead of one per restart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]


def render_path(path: PathKey) -> str:
    """``('organisations', 3, 'aliases')`` -> ``organisations[3].aliases``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


class ConfigError(Exception):
    """One or more problems in the operator's configuration."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class Problems:
    """Collects problems across files; raises them together."""

    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(message)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ConfigError(self.messages)


@dataclass
class Document:
    """A parsed YAML file and the line (1-based) of each value in it."""

    path: Path
    data: Any
    lines: dict[PathKey, int]
    problems: Problems
    # False when the file could not be read or parsed: that problem is already
    # reported, and the empty document must not add "is required" for every field.
    readable: bool = True

    def where(self, path: PathKey) -> str:
        line = self._nearest_line(path)
        return f"{self.path}:{line}: {render_path(path)}"

    def problem(self, path: PathKey, message: str) -> None:
        if not self.readable:
            return
        self.problems.add(f"{self.where(path)}: {message}")

    def _nearest_line(self, path: PathKey) -> int:
        # A missing field has no line of its own: report its parent's.
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    # Typed accessors: each returns a usable default and records a problem when
    # the value has the wrong shape, so loading goes on and reports everything.

    def get(self, path: PathKey, default: Any = None) -> Any:
        node = self.data
        for part in path:
            if isinstance(part, int):
                if not isinstance(node, list) or part >= len(node):
                    return default
            elif not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def mapping(self, path: PathKey, *, required: bool = False) -> dict:
        value = self.get(path)
        if value is None:
            if required:
                self.problem(path, "is required")
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping, not {type(value).__name__} {value!r}")
            return {}
        return value

    def sequence(self, path: PathKey, *, required: bool = False) -> list:
        value = self.get(path)
        if value is None:
            if required:
                self.problem(path, "is required")
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {type(value).__name__} {value!r}")
            return []
        return value

    def text(self, path: PathKey, *, required: bool = False, default: str = "") -> str:
        value = self.get(path)
        if value is None:
            if required:
                self.problem(path, "is required")
            return default
        if not isinstance(value, str):
            self.problem(path, f"must be text, not {type(value).__name__} {value!r}")
            return default
        if required and not value.strip():
            self.problem(path, "is empty")
        return value

    def number(
        self,
        path: PathKey,
        *,
        default: float,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        value = self.get(path)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(path, f"must be a number, not {value!r}")
            return default
        if minimum is not None and value < minimum:
            self.problem(path, f"must be at least {minimum}, not {value!r}")
            return default
        if maximum is not None and value > maximum:
            self.problem(path, f"must be at most {maximum}, not {value!r}")
            return default
        return float(value)

    def choice(self, path: PathKey, options: frozenset[str] | set[str], *, default: str) -> str:
        value = self.get(path)
        if value is None:
            return default
        if not isinstance(value, str) or value not in options:
            self.problem(path, f"{value!r} is not one of {', '.join(sorted(options))}")
            return default
        return value


def load_yaml(path: Path, problems: Problems) -> Document:
    """Parse ``path``; a syntax error becomes a problem with its line, not an exception."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.add(f"{path}: cannot be read: {error}")
        return Document(path, None, {}, problems, readable=False)
    loader = yaml.SafeLoader(source)
    try:
        node = loader.get_single_node()
        lines: dict[PathKey, int] = {}
        data = _construct(loader, node, (), lines) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(error, "problem", None) or str(error)
        problems.add(f"{path}:{line}: invalid YAML: {reason}")
        return Document(path, None, {}, problems, readable=False)
    except RecursionError:
        problems.add(f"{path}: invalid YAML: an alias refers to itself")
        return Document(path, None, {}, problems, readable=False)
    finally:
        loader.dispose()
    return Document(path, data, lines, problems)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, lines: dict) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            result[key] = _construct(loader, value_node, path + (key,), lines)
            # A problem with a field points at its key, even when the value starts below it.
            lines[path + (key,)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, path + (index,), lines)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)
