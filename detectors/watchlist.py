"""Account watchlists: posts by accounts the operator has named.

A watchlisted author is reported as a finding of its own (category
``watchlisted_account``). On its own it asks for nothing: the default policy
has no review or takedown threshold for it, so a clean post by a listed
account is never requested down. Beside content findings it raises severity
and may turn review into takedown (``watchlist`` in config/policy.yaml).

Entries match on ``account_id`` (exact) or on the handle, compared as the
platform would: case-insensitive, without the leading ``@``, with look-alike
letters folded (:func:`detectors.text.handle_key`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

from detectors._config_values import optional_date
from detectors.base import Finding
from detectors.configfile import VALUE, Problems, Section, load_yaml, optional_file
from detectors.events import Post
from detectors.text import handle_key

ANY_PLATFORM = "*"


@dataclass(frozen=True, slots=True)
class WatchlistEntry:
    platform: str
    account_id: str | None
    handle: str | None
    reason: str
    source: str
    added: date | None


WATCHLISTS_SCHEMA = {
    "accounts": [
        Section(
            "watchlist entry", dict.fromkeys(("platform", "account_id", "handle", "reason", "source", "added"), VALUE)
        ),
    ],
}


def load_watchlist(path: Path, problems: Problems, platforms: frozenset[str]) -> tuple[WatchlistEntry, ...]:
    document = load_yaml(path, problems)
    document.check_keys(WATCHLISTS_SCHEMA)
    entries = []
    for index, item in enumerate(document.sequence(("accounts",))):
        where = ("accounts", index)
        if not isinstance(item, dict):
            document.problem(where, f"must be a mapping, not {item!r}")
            continue
        platform = document.text(where + ("platform",), required=True)
        if platform and platform != ANY_PLATFORM and platform not in platforms:
            document.problem(where + ("platform",), f"{platform!r} is not a configured platform (or {ANY_PLATFORM!r})")
        account_id = document.text(where + ("account_id",)) or None
        handle = document.text(where + ("handle",)) or None
        if account_id is None and handle is None:
            document.problem(where, "needs an account_id or a handle")
        added = optional_date(document, where + ("added",))
        entries.append(
            WatchlistEntry(
                platform=platform,
                account_id=account_id.strip() if account_id else None,
                handle=handle,
                reason=document.text(where + ("reason",), required=True),
                source=document.text(where + ("source",), required=True),
                added=added,
            )
        )
    return tuple(entries)


class WatchlistDetector:
    name: ClassVar[str] = "watchlist"

    def __init__(self, entries: Sequence[WatchlistEntry]):
        self.entries = tuple(entries)
        self._by_id: dict[tuple[str, str], WatchlistEntry] = {}
        self._by_handle: dict[tuple[str, str], WatchlistEntry] = {}
        for entry in self.entries:
            if entry.account_id:
                self._by_id.setdefault((entry.platform, entry.account_id), entry)
            if entry.handle:
                self._by_handle.setdefault((entry.platform, handle_key(entry.handle)), entry)

    def add(self, entry: WatchlistEntry) -> None:
        """A runtime addition (the watchlist topic); it replaces an entry for the same account."""
        self.remove(entry.platform, entry.account_id, entry.handle)
        if entry.account_id:
            self._by_id[(entry.platform, entry.account_id)] = entry
        if entry.handle:
            self._by_handle[(entry.platform, handle_key(entry.handle))] = entry
        self.entries = self.entries + (entry,)

    def remove(self, platform: str, account_id: str | None, handle: str | None) -> bool:
        """Forget the entry for this account (by id and by handle); whether there was one."""
        gone = set()
        if account_id:
            gone.add(self._by_id.pop((platform, account_id), None))
        if handle:
            gone.add(self._by_handle.pop((platform, handle_key(handle)), None))
        gone.discard(None)
        for entry in gone:  # the same entry may also be reachable the other way
            if entry.account_id:
                self._by_id.pop((entry.platform, entry.account_id), None)
            if entry.handle:
                self._by_handle.pop((entry.platform, handle_key(entry.handle)), None)
        if gone:
            self.entries = tuple(entry for entry in self.entries if entry not in gone)
        return bool(gone)

    @classmethod
    def from_config(cls, config_dir: Path, problems: Problems, platforms: frozenset[str]) -> WatchlistDetector:
        path = config_dir / "watchlists.yaml"
        # Optional: a deployment may watch no accounts at all.
        if not optional_file(path, "no watchlists loaded"):
            return cls(())
        return cls(load_watchlist(path, problems, platforms))

    def detect(self, posts: Sequence[Post]) -> list[list[Finding]]:
        if not self.entries:
            return [[] for _ in posts]
        return [self._detect_one(post) for post in posts]

    def _detect_one(self, post: Post) -> list[Finding]:
        matched_on, entry = self._lookup(post)
        if entry is None:
            return []
        evidence = {
            "matched_on": matched_on,
            "platform": post.platform,
            "account_id": post.account_id,
            "account_handle": post.account_handle,
            "reason": entry.reason,
            "source": entry.source,
            "added": entry.added.isoformat() if entry.added else None,
        }
        return [Finding(self.name, "watchlisted_account", 1.0, MappingProxyType(evidence))]

    def _lookup(self, post: Post) -> tuple[str, WatchlistEntry | None]:
        for platform in (post.platform, ANY_PLATFORM):
            entry = self._by_id.get((platform, post.account_id))
            if entry is not None:
                return "account_id", entry
        if post.account_handle:
            key = handle_key(post.account_handle)
            for platform in (post.platform, ANY_PLATFORM):
                entry = self._by_handle.get((platform, key))
                if entry is not None:
                    return "handle", entry
        return "", None
