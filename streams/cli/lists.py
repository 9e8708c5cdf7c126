"""``modwatch bank`` and ``modwatch watchlist``: manage the live hash bank and watchlist.

Each change is one keyed record on a compacted topic (``<prefix>.hashbank``,
``<prefix>.watchlist``) that every worker follows and applies before its next
detection batch; detectors/live_lists.py builds and checks it as a worker
would, so a change a worker would refuse is refused here, with the field
named, and nothing is sent. A command returns once the broker has
acknowledged the record (exit 1 if it did not). ``list`` reads the topic
whole and shows the entries live now. The bank files under ``config/hashbank``
are the other source of the bank: ``list`` shows only the live changes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import orjson

from detectors.configfile import Problems
from detectors.live_lists import ChangeRefused, bank_addition, bank_removal, fold, watchlist_addition, watchlist_removal
from streams.cli._options import broker_option, config_option
from streams.cli._topics import ensure_topics_at, read_keyed, resolve, writing


@click.group()
def bank() -> None:
    """The live hash bank: add, remove, import, list (topic hashbank)."""


@click.group()
def watchlist() -> None:
    """The live watchlist: add, remove, list (topic watchlist)."""


def _send(topic: str, broker: str | None, changes: list[tuple[str, dict]]) -> None:
    name, bootstrap = resolve(topic, broker)
    ensure_topics_at(bootstrap)
    try:
        asyncio.run(_send_all(name, bootstrap, changes))
    except Exception as error:  # noqa: BLE001 - the broker's refusal, in one line
        message = f"{name}: the broker did not take the change: {type(error).__name__}: {error}"
        raise click.ClickException(message) from None
    click.echo(f"{len(changes)} change(s) acknowledged on {name}", err=True)


async def _send_all(topic: str, bootstrap: str, changes: list[tuple[str, dict]]) -> None:
    async with writing(bootstrap) as producer:
        acks = [await producer.send(topic, key=key.encode(), value=orjson.dumps(record)) for key, record in changes]
        await asyncio.gather(*acks)


def _refused(error: ChangeRefused):
    raise click.UsageError(str(error))


@bank.command("add")
@click.option("--hash-type", required=True, type=click.Choice(["pdq", "md5", "sha256"]))
@click.option("--hash", "hash_", required=True, help="The hash, in hex.")
@click.option("--label", required=True, help="Bank label (config/hashing.yaml maps it to a category).")
@click.option("--source", required=True, help="Where the hash came from, quoted in evidence (a case number).")
@broker_option()
def bank_add(hash_type: str, hash_: str, label: str, source: str, broker: str | None) -> None:
    """Add one hash to every worker's bank."""
    try:
        change = bank_addition(hash_type, hash_, label, source)
    except ChangeRefused as error:
        _refused(error)
    _send("hashbank", broker, [change])


@bank.command("remove")
@click.option("--hash-type", required=True, type=click.Choice(["pdq", "md5", "sha256"]))
@click.option("--hash", "hash_", required=True, help="The hash, in hex.")
@click.option("--label", default=None, help="Remove it under this label only (default: under every label).")
@broker_option()
def bank_remove(hash_type: str, hash_: str, label: str | None, broker: str | None) -> None:
    """Remove one hash from every worker's bank."""
    try:
        change = bank_removal(hash_type, hash_, label)
    except ChangeRefused as error:
        _refused(error)
    _send("hashbank", broker, [change])


@bank.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@broker_option()
def bank_import(file: Path, broker: str | None) -> None:
    """Add every row of a bank CSV (hash_type,hash,label,source): all of them, or none if any row is bad."""
    from detectors.hashbank import load_bank_file

    problems = Problems()
    entries = load_bank_file(file, problems)
    problems.raise_if_any()  # every bad row, with its line, and exit 2: nothing is sent
    _send("hashbank", broker, [bank_addition(e.hash_type, e.hash, e.label, e.source) for e in entries])


@bank.command("list")
@broker_option()
def bank_list(broker: str | None) -> None:
    """The hashes added on the topic and not removed since, one JSON line each."""
    _print_live("hashbank", broker)


@watchlist.command("add")
@click.option("--platform", required=True, help="A configured platform, or * for every platform.")
@click.option("--account-id", default=None, help="The account's id (this, --handle, or both).")
@click.option("--handle", default=None, help="The account's handle (@voice).")
@click.option("--reason", required=True, help="Why it is listed.")
@click.option("--source", required=True, help="Who listed it (a case number).")
@config_option("the platforms")
@broker_option()
def watchlist_add(platform, account_id, handle, reason, source, config_dir, broker) -> None:
    """List an account on every worker's watchlist."""
    try:
        change = watchlist_addition(_platforms(config_dir), platform, account_id, handle, reason, source)
    except ChangeRefused as error:
        _refused(error)
    _send("watchlist", broker, [change])


@watchlist.command("remove")
@click.option("--platform", required=True, help="The platform it was listed for (or *).")
@click.option("--account-id", default=None, help="The account's id, as it was listed.")
@click.option("--handle", default=None, help="The handle, for an entry listed by handle alone.")
@config_option("the platforms")
@broker_option()
def watchlist_remove(platform, account_id, handle, config_dir, broker) -> None:
    """Take an account off every worker's watchlist."""
    try:
        change = watchlist_removal(_platforms(config_dir), platform, account_id, handle)
    except ChangeRefused as error:
        _refused(error)
    _send("watchlist", broker, [change])


@watchlist.command("list")
@broker_option()
def watchlist_list(broker: str | None) -> None:
    """The accounts listed on the topic and not removed since, one JSON line each."""
    _print_live("watchlist", broker)


def _platforms(config_dir: Path | None) -> list[str]:
    from detectors.pipeline import load_jurisdictions, load_platforms
    from streams.settings import default_config_dir

    folder = Path(config_dir or default_config_dir())
    problems = Problems()
    jurisdictions, default = load_jurisdictions(folder / "jurisdictions.yaml", problems)
    platforms = load_platforms(folder / "platforms.yaml", problems, set(jurisdictions), default)
    problems.raise_if_any()
    return list(platforms)


def _print_live(topic: str, broker: str | None) -> None:
    name, bootstrap = resolve(topic, broker)
    ensure_topics_at(bootstrap)  # an unreachable broker: one line, exit 2
    live = fold(asyncio.run(read_keyed(name, bootstrap)))
    for key, record in sorted(live.items()):
        click.echo(orjson.dumps({"key": key, **record}).decode())
    click.echo(f"{len(live)} live entr{'y' if len(live) == 1 else 'ies'} on {name}", err=True)
