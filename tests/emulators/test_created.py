from cosell.emulators.created import CreatedMoments


def test_the_latest_creates_are_kept_in_the_order_they_came() -> None:
    moments = CreatedMoments(kept=2)
    for record_id in ("a", "b", "c"):
        moments.stamp(record_id)
    assert moments.of("a") is None  # the oldest went when a third came
    b, c = moments.of("b"), moments.of("c")
    assert b is not None
    assert c is not None
    assert b <= c
    moments.clear()
    assert moments.of("c") is None
