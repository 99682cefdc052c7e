"""Idempotency ledger: a port and its adapters (in-memory, Azure Table Storage)."""
