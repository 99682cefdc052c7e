"""Dev-only: a local Azure Functions host over an in-process Service Bus (design §6)."""
