"""A peer that accepts every send and says nothing: for session tests that only need an attached link."""

from __future__ import annotations


class NullPeer:
    def send(self, channel: str, text: str) -> bool:
        return True

    def take_unsent(self) -> list[str]:
        return []

    def unacked_age(self) -> float | None:
        return None

    def heard_age(self) -> float | None:
        return None

    async def aclose(self) -> None:
        pass
