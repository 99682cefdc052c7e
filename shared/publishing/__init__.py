"""Event publisher: a port and its adapters (in-memory, Azure Service Bus)."""
