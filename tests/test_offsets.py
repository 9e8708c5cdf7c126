"""The cursor that makes each input record handled once and in order (streams/offsets.py)."""

from __future__ import annotations

from streams.offsets import Cursor

TP = ("posts", 1)


def started(expected: int = 5) -> Cursor:
    cursor = Cursor(retry_after=5.0, stall_after=15.0)
    cursor.start(TP, expected, now=0.0)
    return cursor


def test_records_in_order_are_handled_and_redeliveries_are_not():
    cursor = started(5)
    assert [cursor.admit(TP, offset, 1.0) for offset in (5, 6, 7)] == ["handle"] * 3
    assert [cursor.admit(TP, offset, 2.0) for offset in (5, 6, 7)] == ["duplicate"] * 3
    assert cursor.expected(TP) == 8


def test_a_jump_is_a_gap_and_records_after_the_rewind_are_skipped_until_the_expected_one():
    cursor = started(5)
    assert cursor.admit(TP, 5, 1.0) == "handle"
    assert cursor.admit(TP, 9, 1.0) == "gap"  # 6, 7, 8 never came
    cursor.rewound(TP, 6, 1.0)
    # Records queued before the seek still arrive first: skipped, never handled out of order.
    assert [cursor.admit(TP, offset, 1.1) for offset in (10, 11)] == ["skip", "skip"]
    # The redelivery from the seek: every offset once, in order.
    assert [cursor.admit(TP, offset, 1.2) for offset in (6, 7, 8, 9, 10, 11)] == ["handle"] * 6
    assert cursor.admit(TP, 9, 1.3) == "duplicate"


def test_a_real_gap_is_accepted_without_a_rewind():
    cursor = started(5)
    assert cursor.admit(TP, 7, 1.0) == "gap"
    cursor.accept(TP, 7, 1.0)  # the broker says nothing exists at 5 and 6 (transaction markers)
    assert cursor.admit(TP, 8, 1.1) == "handle"


def test_a_rewind_that_delivers_nothing_is_repeated():
    cursor = started(5)
    assert cursor.admit(TP, 8, 1.0) == "gap"
    cursor.rewound(TP, 5, 1.0)
    assert not cursor.due(TP, highwater=20, now=5.9)
    assert cursor.due(TP, highwater=20, now=6.0)


def test_a_partition_still_behind_its_high_water_mark_is_due_and_an_idle_one_is_not():
    cursor = started(5)
    assert cursor.admit(TP, 5, 1.0) == "handle"
    assert not cursor.due(TP, highwater=6, now=100.0)  # all read
    assert not cursor.due(TP, highwater=9, now=15.9)  # behind, but moved recently
    assert cursor.due(TP, highwater=9, now=16.0)
    cursor.idle(TP, 16.0)  # nothing at or after 6: the high-water mark is past a marker
    assert not cursor.due(TP, highwater=9, now=30.0)
    assert cursor.due(TP, highwater=9, now=31.0)


def test_revoked_partitions_are_forgotten():
    cursor = started(5)
    cursor.forget([TP])
    assert not cursor.known(TP)
    assert not cursor.due(TP, highwater=100, now=1000.0)
