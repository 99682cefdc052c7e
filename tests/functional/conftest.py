"""Fixtures for every functional test. One Azurite serves the whole session."""

from tests.support.azurite import azurite_table

__all__ = ["azurite_table"]
