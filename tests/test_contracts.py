"""Readers and line families satisfy their protocols (forensics.readers.Reader,
forensics.parsers.LineFamily), so the registries hold what their code calls."""

from __future__ import annotations

import pytest

from forensics import parsers, readers
from forensics.schema import TABLE_NAMES


@pytest.mark.parametrize("name", sorted(readers.READERS))
def test_registered_readers_satisfy_the_protocol(name):
    mod = readers.READERS[name]
    assert isinstance(mod, readers.Reader)
    assert name == mod.NAME
    assert isinstance(mod.CALENDAR, bool)


@pytest.mark.parametrize("mod", parsers.FAMILIES, ids=lambda m: m.__name__)
def test_line_families_satisfy_the_protocol(mod):
    assert isinstance(mod, parsers.LineFamily)
    assert mod.TABLE in TABLE_NAMES


def test_a_module_missing_a_member_is_not_a_reader():
    class NoCalendar:
        NAME = "x"

        def sniff(self, head):
            return False

        def read(self, chunks, **kw):
            return iter(())

    assert not isinstance(NoCalendar(), readers.Reader)
