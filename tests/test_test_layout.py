"""Test folders have no ``__init__.py``, so pytest imports each test module by its file name:
two modules with one name in different folders would stop the whole run at collection."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).parent


def test_test_module_names_are_unique_across_folders() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name != "conftest.py")
    assert [name for name, count in names.items() if count > 1] == []
