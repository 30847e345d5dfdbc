import pytest

from cosell.signals.cadence import Cadence, budget_share, daily_calls, shortest_idle_interval


@pytest.mark.parametrize(
    ("previous", "changes", "expected"),
    [
        (None, 0, 2.0),
        (None, 5, 2.0),
        (2.0, 3, 2.0),
        (60.0, 1, 2.0),
        (2.0, 0, 4.0),
        (4.0, 0, 8.0),
        (16.0, 0, 32.0),
        (32.0, 0, 60.0),
        (60.0, 0, 60.0),
        (0.5, 0, 4.0),
    ],
)
def test_next_interval_table(previous: float | None, changes: int, expected: float) -> None:
    assert Cadence(2.0, 60.0).next_interval(previous, changes) == expected


def test_idle_backoff_reaches_the_ceiling_in_a_few_looks() -> None:
    cadence, wait, waits = Cadence(2.0, 60.0), 2.0, []
    for _ in range(8):
        wait = cadence.next_interval(wait, 0)
        waits.append(wait)
    assert waits == [4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0, 60.0]


@pytest.mark.parametrize(("retry_after", "expected"), [(None, 60.0), (5.0, 60.0), (300.0, 300.0)])
def test_refusal_waits_at_least_the_idle_ceiling(
    retry_after: float | None, expected: float
) -> None:
    assert Cadence(2.0, 60.0).after_refusal(retry_after) == expected


@pytest.mark.parametrize(
    ("interval", "calls", "share"),
    [(60.0, 1_440, 0.0144), (30.0, 2_880, 0.0288), (2.0, 43_200, 0.432)],
)
def test_budget_arithmetic(interval: float, calls: float, share: float) -> None:
    assert daily_calls(interval) == pytest.approx(calls)
    assert budget_share(interval, 100_000) == pytest.approx(share)


def test_three_percent_of_a_100k_day_needs_about_29_seconds_idle() -> None:
    floor = shortest_idle_interval(0.03, 100_000)
    assert floor == pytest.approx(28.8)
    assert budget_share(floor) == pytest.approx(0.03)
    assert budget_share(Cadence().max_interval) <= 0.03


@pytest.mark.parametrize(
    ("low", "high", "factor"), [(0.0, 60.0, 2.0), (10.0, 5.0, 2.0), (1.0, 5.0, 0.5)]
)
def test_nonsense_cadence_is_refused(low: float, high: float, factor: float) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        Cadence(low, high, factor)
