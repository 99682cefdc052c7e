"""Operator tooling behind ports: sending to Service Bus and working a dead-letter queue.

`ports` declares what the `send` and `dlq` commands need; `servicebus` implements it with
azure-servicebus (aio) and DefaultAzureCredential; `memory` is a real in-memory implementation
for tests and dry runs.
"""
