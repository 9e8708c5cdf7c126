"""Account strikes (takedowns/accounts.py): one account-level request at the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from detectors.configfile import ConfigError, Problems
from takedowns import accounts

POLICY = accounts.AccountPolicy(confirmed_violations=3, window=timedelta(days=30), watchlisted_confirmed_violations=1)
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def request(post_id: str, account_id="acct-9", watchlisted=False, target="item") -> dict:
    evidence = [{"detector": "designated_organisation"}] + ([{"detector": "watchlist"}] if watchlisted else [])
    return {
        "request_id": f"tr-{post_id}",
        "platform": "x",
        "post_id": post_id,
        "account_id": account_id,
        "categories": ["terrorism_promotion"],
        "evidence": evidence,
        "target": target,
    }


def strikes(state, *posts, at=T0, watchlisted=False):
    flagged = []
    for index, post_id in enumerate(posts):
        strike = accounts.strike_from(request(post_id, watchlisted=watchlisted), "removed", at + timedelta(days=index))
        changed, made = accounts.on_strike(state, strike, POLICY)
        state = changed or state
        flagged.append(made)
    return state, flagged


def test_the_third_confirmed_violation_makes_one_account_request_and_later_ones_none():
    state, flagged = strikes(None, "p1", "p2", "p3", "p4")
    assert [made is not None for made in flagged] == [False, False, True, False]
    request = flagged[2]
    assert (request["target"], request["post_id"], request["action"]) == ("account", "~account~acct-9", "takedown")
    assert [known["item"] for known in request["findings"][0]["evidence"]["confirmed"]] == ["x:p1", "x:p2", "x:p3"]
    assert len(state["strikes"]) == 4  # the fourth is kept as evidence


def test_the_same_item_confirmed_twice_is_one_strike():
    state, _ = strikes(None, "p1")
    again = accounts.strike_from(request("p1"), "review_approved", T0 + timedelta(hours=1))
    assert accounts.on_strike(state, again, POLICY) == (None, None)


def test_strikes_outside_the_window_do_not_count():
    state, _ = strikes(None, "p1", "p2")
    late = accounts.strike_from(request("p3"), "removed", T0 + timedelta(days=45))
    state, made = accounts.on_strike(state, late, POLICY)
    assert made is None and [known["item"] for known in state["strikes"]] == ["x:p3"]


def test_a_watchlisted_account_needs_one_confirmed_violation():
    _, flagged = strikes(None, "p1", watchlisted=True)
    assert flagged[0] is not None and flagged[0]["findings"][0]["evidence"]["threshold"] == 1


def test_account_requests_and_posts_without_an_author_are_no_strike():
    assert accounts.strike_from(request("p1", target="account"), "removed", T0) is None
    assert accounts.strike_from(request("p1", account_id=None), "removed", T0) is None


def test_account_keys_cannot_be_mistaken_for_the_accounts_posts():
    assert accounts.account_item_key("x", "acct-9") == "x:~account~acct-9"
    assert accounts.is_account_key("x:~account~acct-9") and not accounts.is_account_key("x:acct-9")


def test_the_accounts_policy_is_read_and_every_fault_named(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("accounts:\n  confirmed_violations: 5\n  window_days: 7\n")
    problems = Problems()
    policy = accounts.load_account_policy(path, problems)
    problems.raise_if_any()
    assert (policy.confirmed_violations, policy.window, policy.watchlisted_confirmed_violations) == (
        5,
        timedelta(days=7),
        1,
    )
    path.write_text("accounts:\n  confirmed_violations: 0\n  strikes: 3\n")
    problems = Problems()
    accounts.load_account_policy(path, problems)
    with pytest.raises(ConfigError) as raised:
        problems.raise_if_any()
    assert "policy.yaml:2: accounts.confirmed_violations" in str(raised.value)
    assert "policy.yaml:3: accounts.strikes: is not an accounts setting" in str(raised.value)


def test_strikes_are_forgotten_after_the_window_unless_they_made_an_account_request():
    below, _ = strikes(None, "p1", "p2")
    assert not accounts.expired(below, T0 + timedelta(days=30), POLICY)
    assert accounts.expired(below, T0 + timedelta(days=32), POLICY)
    requested, _ = strikes(None, "p1", "p2", "p3")
    assert not accounts.expired(requested, T0 + timedelta(days=365), POLICY)


def test_strikes_arriving_out_of_order_give_the_same_request_in_time_order():
    made = []
    for order in (("p1", "p2", "p3"), ("p2", "p1", "p3"), ("p3", "p2", "p1")):
        state, request_made = None, None
        for post_id in order:
            at = T0 + timedelta(hours=int(post_id[1:]))
            state, request_made = accounts.on_strike(
                state, accounts.strike_from(request(post_id), "removed", at), POLICY
            )
        made.append([known["item"] for known in request_made["findings"][0]["evidence"]["confirmed"]])
    assert made == [["x:p1", "x:p2", "x:p3"]] * 3


def test_a_late_arriving_old_strike_outside_the_window_is_dropped():
    state, _ = strikes(None, "p2", at=T0 + timedelta(days=45))
    old = accounts.strike_from(request("p1"), "removed", T0)
    state, made = accounts.on_strike(state, old, POLICY)
    assert made is None and [known["item"] for known in state["strikes"]] == ["x:p2"]
