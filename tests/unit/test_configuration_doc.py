"""docs/configuration.md documents every variable the settings object reads, and no others."""

from __future__ import annotations

import re
from pathlib import Path

from shared.names import HOST_SETTINGS
from shared.settings import APP_SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_app_setting_has_a_row_and_every_row_is_an_app_setting() -> None:
    rows = set(re.findall(r"^\| `([^`]+)` \|", DOC.read_text(), flags=re.MULTILINE))

    assert rows == set(APP_SETTINGS)


def test_every_host_setting_is_mentioned() -> None:
    text = DOC.read_text()

    assert [name for name in HOST_SETTINGS if f"`{name}`" not in text] == []
