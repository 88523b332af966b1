"""The day's write allowance: what fits today, and how many days the rest needs."""

from __future__ import annotations

from syncworker.domain.write_budget import WriteAllowance, pending_message


def test_writes_take_what_is_left_of_the_day_in_order() -> None:
    now, later = WriteAllowance(calls_left=3).split(list("abcde"))
    assert (now, later) == (list("abc"), list("de"))
    assert WriteAllowance(calls_left=0).split([1, 2]) == ([], [1, 2])
    assert WriteAllowance(calls_left=None).split([1, 2]) == ([1, 2], [])  # no limit known: no queue
    assert WriteAllowance(calls_left=2, per_call=50).split(list(range(120))) == (list(range(100)), list(range(100, 120)))


def test_days_to_drain_at_a_full_days_allowance() -> None:
    xpm = WriteAllowance(calls_left=0, per_call=1, calls_per_day=4_500)
    assert [xpm.days_to_drain(n) for n in (0, 1, 4_500, 4_501, 10_000)] == [0, 1, 1, 2, 3]
    assert WriteAllowance(calls_left=0).days_to_drain(5) is None
    assert pending_message(5_500, xpm) == \
        "5500 pushes pending (the day's write allowance is spent), about 2 days at the current budget"
    assert "1 push pending" in pending_message(1, xpm) and "about 1 day at" in pending_message(1, xpm)
