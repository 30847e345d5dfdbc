"""The loop detector's counting (pure): what continues a streak, what starts a new one, and
what the parking reason says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cosell.sync.core.loops import LoopLimits, Streak, flip_flops, is_loop, reason, wrote

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIMITS = LoopLimits(writes=4, gap_seconds=60)


def run(rounds: list[dict[str, object]], step: float = 2.0) -> Streak | None:
    streak: Streak | None = None
    for n, written in enumerate(rounds):
        streak = wrote(streak, written, T0 + timedelta(seconds=n * step), LIMITS)
    return streak


def test_the_same_field_written_round_after_round_is_a_loop() -> None:
    streak = run([{"deal_value → Partner Center": 1000 + n} for n in range(4)])
    assert streak is not None
    assert streak.count == 4
    assert is_loop(streak, T0 + timedelta(seconds=8), LIMITS)
    assert flip_flops(streak) == []
    assert "changes them again after every write" in reason(streak, T0)


def test_values_that_come_back_are_a_flip_flop() -> None:
    streak = run([{"stage → CRM": "Won" if n % 2 else "Lost"} for n in range(4)])
    assert streak is not None
    assert flip_flops(streak) == ["stage → CRM"]
    assert "the same values keep coming back (stage → CRM)" in reason(streak, T0)


def test_a_round_writing_other_fields_starts_a_new_streak() -> None:
    rounds: list[dict[str, object]] = [
        {"deal_value → Partner Center": 1, "notes → CRM": "a"},
        {"deal_value → Partner Center": 2},
        {"notes → CRM": "b"},
    ]
    streak = run(rounds)
    assert streak is not None
    assert (streak.count, streak.steady) == (1, ["notes → CRM"])


def test_a_long_pause_starts_a_new_streak_and_a_late_round_is_no_loop() -> None:
    streak = run([{"deal_value → Partner Center": n} for n in range(4)], step=61)
    assert streak is not None
    assert streak.count == 1
    looping = run([{"deal_value → Partner Center": n} for n in range(4)])
    assert not is_loop(looping, T0 + timedelta(seconds=6 + 61), LIMITS)


def test_the_streak_survives_the_store() -> None:
    streak = run([{"deal_value → Partner Center": n} for n in range(3)])
    assert streak is not None
    assert Streak.from_json(streak.to_json()) == streak
