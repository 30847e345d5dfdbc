import pytest

from cosell.emulators.salesforce import ids


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("001R0000005hDFY", "001R0000005hDFYIA2"),
        ("00190000001pPvH", "00190000001pPvHAAU"),
        ("003J800000DeOXj", "003J800000DeOXjIAN"),
        ("0034C00000VaYfK", "0034C00000VaYfKQAV"),
    ],
)
def test_known_15_character_ids_get_salesforce_checksums(id15: str, id18: str) -> None:
    assert ids.to18(id15) == id18
    assert ids.normalize(id15) == id18
    assert ids.normalize(id18.lower()) == id18


@pytest.mark.parametrize("bad", ["", "001", "001R0000005hDFYIA3", "001R0000005hDFY!A2", "x" * 19])
def test_malformed_ids_are_refused(bad: str) -> None:
    assert ids.normalize(bad) is None


@pytest.mark.parametrize("prefix", ["001", "003", "005", "006", "00K", "00q", "002", "a0X"])
def test_minted_ids_carry_prefix_and_valid_checksum(prefix: str) -> None:
    factory = ids.IdFactory()
    minted = {factory.new(prefix) for _ in range(50)}
    assert len(minted) == 50
    for record_id in minted:
        assert len(record_id) == 18
        assert record_id.startswith(prefix)
        assert ids.checksum(record_id[:15]) == record_id[15:]
