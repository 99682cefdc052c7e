import asyncio

from shared.ledger.marks import InMemoryMarks


def test_a_mark_only_moves_forward() -> None:
    async def scenario() -> list[object]:
        marks = InMemoryMarks()
        return [
            await marks.get("update", "r1"),
            await marks.advance("update", "r1", "2026-01-02T00:00:00Z"),
            await marks.advance("update", "r1", "2026-01-01T00:00:00Z"),
            await marks.advance("update", "r1", "2026-01-02T00:00:00Z"),
            await marks.get("update", "r1"),
            await marks.get("update", "r2"),
        ]

    assert asyncio.run(scenario()) == [
        None,
        True,
        False,
        False,
        "2026-01-02T00:00:00Z",
        None,
    ]
