"""An approval names the category it approves (or keeps the detectors'), and its request cites
only a law that lists that category (takedowns/requests.py Requests.approved)."""

from __future__ import annotations

import pytest

from detectors.events import EventParser, InvalidEvent
from takedowns.requests import Requests
from tests.conftest import ROOT

REQUESTS = Requests.from_config_dir(ROOT / "config")


def pending(categories: list[str], jurisdiction: str = "PK") -> dict:
    return {"request_id": "tr-eDox", "jurisdiction": jurisdiction, "categories": categories, "state": "pending_review"}


def test_the_categories_sent_are_those_the_law_lists_the_reviewers_first():
    assert REQUESTS.approved(pending(["violent_threat", "abuse"]))["categories"] == ["violent_threat"]
    approved = REQUESTS.approved(pending(["violent_threat", "terrorism_promotion"]), "terrorism_promotion")
    assert approved["categories"] == ["terrorism_promotion", "violent_threat"]


def test_a_category_the_law_does_not_list_is_refused_with_what_it_does_list():
    with pytest.raises(ValueError, match=r"^EU \(.*\) does not list 'hate': approve it as one of terrorism_promotion"):
        REQUESTS.approved(pending(["terrorism_promotion"], "EU"), "hate")
    with pytest.raises(ValueError, match=r"lists none of designated_organisation_mention: approve it as one of hate"):
        REQUESTS.approved(pending(["designated_organisation_mention"]))


def test_only_an_approval_names_a_category():
    parser = EventParser(frozenset({"x"}))
    base = b'"request_id": "tr-eDox", "reviewer": "r1", "at": "2026-11-29T10:00:00Z"'
    assert parser.decision(b'{"decision": "approve", "category": "hate", ' + base + b"}").category == "hate"
    assert parser.decision(b'{"decision": "approve", ' + base + b"}").category is None
    with pytest.raises(InvalidEvent) as refused:
        parser.decision(b'{"decision": "reject", "category": "hate", ' + base + b"}")
    assert (refused.value.reason, refused.value.field) == ("invalid_value", "category")
