"""Reading operator YAML with the line of every value, and reporting all problems at once.

Every config file in ``config/`` is edited by hand, so an error must say which
file, which line and which field is wrong::

    config/designations.yaml:42: organisations[3].aliases.en[0]: is empty

``load_yaml`` returns a :class:`Document` that keeps a line for each path in
the tree. Loaders call :meth:`Document.problem` for each fault they find and
:meth:`Problems.raise_if_any` once at the end, so an operator fixes every
mistake in one pass instead of one per restart.

Nothing is read one way and meant another: a key that appears twice in a
mapping is a problem (YAML would keep the last one silently), and each loader
declares the keys it reads in a schema that :meth:`Document.check_keys`
holds the file to, so a misspelt key is refused with the nearest known one::

    config/modwatch.yaml:9: partitons: is not a modwatch.yaml setting; did you mean 'partitions'?

A schema is a nested dict: each known key maps to the schema of its value,
:data:`VALUE` for a value the loader checks itself, ``[item_schema]`` for a
list, and the key :data:`ANY_KEY` for maps keyed by names the operator
chooses (platform ids, category names). :class:`Section` names a mapping's
keys in messages ("is not a jurisdiction setting").
"""

from __future__ import annotations

import codecs
import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]

# One line per optional file that is absent, so that "no watchlists" is a
# statement in the log rather than something the operator has to infer.
log = logging.getLogger("modwatch.config")

ANY_KEY = "*"
"""In a schema mapping: any key the operator chooses; its value follows the schema given for it."""

VALUE = None
"""A schema leaf: the key is known and its value is checked by the loader that reads it."""


class Section(dict):
    """A schema mapping whose keys messages call "<noun> settings" ("is not a jurisdiction setting").

    A plain dict is named after the key it sits under, or the file at the top level.
    """

    def __init__(self, noun: str, keys: dict):
        super().__init__(keys)
        self.noun = noun


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
    # Several loaders read the same file (policy.yaml, threats.yaml): a repeated
    # key or an unreadable file is one problem, not one per loader.
    _seen: set[str] = field(default_factory=set, repr=False, compare=False)

    def add(self, message: str) -> None:
        if message in self._seen:
            return
        self._seen.add(message)
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

    def check_keys(self, schema: Any, path: PathKey = ()) -> None:
        """Report every key under ``path`` that ``schema`` does not know (see the module docstring).

        Only keys are checked: a value of the wrong shape is left to the loader,
        which reports it with the type it expected.
        """
        if isinstance(schema, Section):
            noun = schema.noun
        else:
            names = [part for part in path if isinstance(part, str)]
            noun = names[-1] if names else self.path.name
        self._check_keys(self.get(path), schema, path, noun)

    def _check_keys(self, value: Any, schema: Any, path: PathKey, noun: str) -> None:
        if isinstance(schema, list):
            if isinstance(value, list):
                for index, item in enumerate(value):
                    self._check_keys(item, schema[0], path + (index,), noun)
            return
        if not isinstance(schema, dict) or not isinstance(value, dict):
            return
        if isinstance(schema, Section):
            noun = schema.noun
        for key, item in value.items():
            if key in schema:
                self._check_keys(item, schema[key], path + (key,), key)
            elif ANY_KEY in schema:
                self._check_keys(item, schema[ANY_KEY], path + (key,), noun)
            else:
                self.problem(path + (key,), unknown_key(key, schema, noun))


def closest_key(key: str, known: Any) -> str | None:
    """The known key ``key`` is most likely a misspelling of, or None when none is close."""
    close = difflib.get_close_matches(str(key), sorted(name for name in known if name != ANY_KEY), n=1)
    return close[0] if close else None


def unknown_key(key: str, known: Any, noun: str) -> str:
    """The problem with ``key`` where only ``known`` keys are read: the nearest known key, else all of them."""
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    close = closest_key(key, known)
    if close is not None:
        return f"is not {article} {noun} setting; did you mean {close!r}?"
    names = sorted(name for name in known if name != ANY_KEY)
    return f"is not {article} {noun} setting ({', '.join(names) or 'it has none'})"


def optional_file(path: Path, consequence: str) -> bool:
    """Whether ``path`` exists; when it does not, one notice says what that means ("no watchlists loaded")."""
    if path.exists():
        return True
    log.warning("%s: not found; %s", path, consequence)
    return False


def read_text(path: Path, problems: Problems, *, encoding: str = "utf-8") -> str | None:
    """The text of ``path``, or None after a problem saying why it cannot be read.

    Bytes that are not UTF-8 are reported with their line (1-based): a file
    saved as Latin-1 by a spreadsheet is fixed at that line, not searched for.
    ``encoding`` is ``utf-8`` or ``utf-8-sig`` (a leading byte-order mark is dropped).
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        problems.add(f"{path}: cannot be read: {error}")
        return None
    if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        problems.add(
            f"{path}:{line}: cannot be read: byte {data[error.start]:#04x} at column {column} is not UTF-8 "
            f"({error.reason}); save the file as UTF-8"
        )
        return None


# libyaml's parser where PyYAML was built with it (9x faster on threats.yaml); the same
# nodes, marks and errors either way.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path, problems: Problems) -> Document:
    """Parse ``path``; a syntax error becomes a problem with its line, not an exception.

    A key repeated in one mapping is a problem too (the value kept is the last,
    as YAML loaders do, so the rest of the file is still checked).
    """
    source = read_text(path, problems)
    if source is None:
        return Document(path, None, {}, problems, readable=False)
    loader = _LOADER(source)
    repeated: list[tuple[PathKey, int, int, int]] = []
    try:
        node = loader.get_single_node()
        lines: dict[PathKey, int] = {}
        data = _construct(loader, node, (), lines, repeated) if node is not None else None
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
    for key_path, line, first, count in repeated:
        times = "twice" if count == 2 else f"{count} times"
        problems.add(f"{path}:{line}: {render_path(key_path)}: appears {times} (first at line {first})")
    return Document(path, data, lines, problems)


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: PathKey, lines: dict, repeated: list) -> Any:
    """The value of ``node``, recording each path's line in ``lines`` and each repeated key in ``repeated``
    as (path, line, line of the first occurrence, occurrences so far)."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result = {}
        first_lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            line = key_node.start_mark.line + 1
            key_path = path + (key,)
            if key in first_lines:
                counts[key] += 1
                repeated.append((key_path, line, first_lines[key], counts[key]))
                # The last value wins: forget the lines of the one it replaces.
                for known in [known for known in lines if known[: len(key_path)] == key_path]:
                    del lines[known]
            else:
                first_lines[key], counts[key] = line, 1
            result[key] = _construct(loader, value_node, key_path, lines, repeated)
            # A problem with a field points at its key, even when the value starts below it.
            lines[key_path] = line
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, path + (index,), lines, repeated) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
