"""Handlers: the logic of both functions, against ports only."""
