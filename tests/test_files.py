"""The one atomic write (owner-only, whole or not at all), and the journaled document."""

import json
import stat
from pathlib import Path

import pytest

from cosell.files import JournaledFile, write_atomically


def test_writes_owner_only_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    write_atomically(path, "new", prefix=".state-", durable=True)
    assert path.read_text() == "new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "\udcff", prefix=".state-")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_journal_follows_its_snapshot_and_is_read_back_in_order(tmp_path: Path) -> None:
    doc = JournaledFile(tmp_path / "doc.json", prefix=".doc-")
    assert doc.read() is None
    assert doc.due()  # nothing written yet: the first save writes the whole document
    doc.rewrite('{"n": 0}')
    assert not doc.due()
    doc.append([json.dumps({"n": 1}), json.dumps({"n": 2})])
    doc.append([json.dumps({"n": 3})])
    assert (tmp_path / "doc.json").read_text() == '{"n": 0}'  # the snapshot is not rewritten
    again = JournaledFile(tmp_path / "doc.json", prefix=".doc-")
    assert again.read() == ('{"n": 0}', [{"n": 1}, {"n": 2}, {"n": 3}])
    for name in ("doc.json", "doc.json.journal"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_a_journal_that_follows_an_older_snapshot_is_ignored(tmp_path: Path) -> None:
    """A crash after the snapshot was replaced and before the journal was: the old journal's
    entries are already in the new snapshot, and may be older than its rows."""
    path = tmp_path / "doc.json"
    doc = JournaledFile(path, prefix=".doc-")
    doc.rewrite('{"n": 0}')
    doc.append([json.dumps({"n": 1})])
    path.write_text('{"n": 5}')  # the next snapshot landed; its fresh journal did not
    again = JournaledFile(path, prefix=".doc-")
    assert again.read() == ('{"n": 5}', [])
    assert again.due()  # and the next save writes the whole document with a journal of its own


def test_a_torn_last_line_is_dropped_and_cut_off(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    doc = JournaledFile(path, prefix=".doc-")
    doc.rewrite("{}")
    doc.append([json.dumps({"n": 1})])
    with (tmp_path / "doc.json.journal").open("a") as journal:
        journal.write('{"n": 2, "cut sh')  # a crash in the middle of a write never answered
    again = JournaledFile(path, prefix=".doc-")
    assert again.read() == ("{}", [{"n": 1}])
    again.append([json.dumps({"n": 3})])  # later entries start on a line of their own
    assert JournaledFile(path, prefix=".doc-").read() == ("{}", [{"n": 1}, {"n": 3}])


def test_the_whole_document_is_due_once_the_journal_outgrows_it(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    doc = JournaledFile(path, prefix=".doc-", floor=100)
    doc.rewrite(json.dumps({"rows": ["x" * 10] * 20}))  # about 300 bytes, above the floor
    journal = tmp_path / "doc.json.journal"
    seen = []
    while not doc.due():
        seen.append(journal.stat().st_size)
        doc.append([json.dumps({"row": "y" * 20})])
    assert all(size <= path.stat().st_size for size in seen)
    assert journal.stat().st_size > path.stat().st_size
    assert len(seen) > 3
    doc.rewrite("{}")
    assert not doc.due()
