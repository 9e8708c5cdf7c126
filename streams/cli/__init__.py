"""The ``modwatch`` command line: one click group, each command in the module named after it.

``worker``        run the Faust worker                                      (pipeline.py)
``scan``          the validation and detector pipeline over a JSONL file, no Kafka
``produce``       send a JSONL file to a topic, keyed by platform:post_id
``tail``          print a topic's records as JSON lines
``demo``          the embedded default: a local broker, a worker and sample traffic (demo.py)
``simulate``      the whole loop against simulated platforms, checked     (simulate.py)
``report``        time to removal from the ledger (Kaplan-Meier)          (report.py)
``reviews``       what awaits review: whole ids, text, evidence; ``--json`` (review.py)
``review``        approve or reject an item, as the console's buttons do (review.py)
``resend``        send a request whose delivery failed again            (resend.py)
``designations``  the designated-organisation lists; ``build-un``         (designations.py)
``export``        a request as a DSA statement of reasons or a Lumen notice (export.py)
``train``         train the text classifier (reproduces the shipped model) (model.py)
``evaluate``      per-class precision, recall and F1 of a model on held-out data
``evaluate-threat`` the English threat model against its baseline         (threat.py)
``evaluate-extremism`` the four-language extremism model: across authors, beside the rules (extremism.py)
``hash``          PDQ (with quality), MD5 and SHA-256 of image files      (hashes.py)
``hash-import``   a ThreatExchange-style PDQ list as a bank CSV
``bank``          the live hash bank: add, remove, import, list             (lists.py)
``watchlist``     the live watchlist: add, remove, list                     (lists.py)
``deadletter``    list dead letters; replay them once the cause is fixed    (deadletters.py)
``lag``           records not yet handled, per input partition and group    (lag.py)

Every command that reads or writes a topic opens its Kafka client through
_topics.py; options several commands share are in _options.py.
``python -m streams.cli`` is the same as ``modwatch``.
"""

from __future__ import annotations

import sys

import click

from detectors.configfile import ConfigError
from streams.cli.deadletters import deadletter
from streams.cli.demo import demo
from streams.cli.designations import designations
from streams.cli.export import export
from streams.cli.extremism import evaluate_extremism
from streams.cli.hashes import hash_images, import_hash_list
from streams.cli.lag import lag
from streams.cli.lists import bank, watchlist
from streams.cli.model import evaluate, train
from streams.cli.pipeline import produce, scan, tail, worker
from streams.cli.report import report
from streams.cli.resend import resend
from streams.cli.review import review, reviews
from streams.cli.simulate import simulate
from streams.cli.threat import evaluate_threat


@click.group()
def cli() -> None:
    """modwatch: find terrorist and violent-extremist content, request its removal, measure compliance."""


for command in (
    worker,
    scan,
    produce,
    tail,
    demo,
    simulate,
    report,
    reviews,
    review,
    resend,
    designations,
    export,
    train,
    evaluate,
    evaluate_threat,
    evaluate_extremism,
    hash_images,
    import_hash_list,
    bank,
    watchlist,
    deadletter,
    lag,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli(prog_name="modwatch")
    except ConfigError as error:
        click.echo("modwatch: configuration problems:", err=True)
        for problem in error.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
