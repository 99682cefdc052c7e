"""Auth ports: what the Partner API client and the `login` command depend on."""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    """Hands out Partner API access tokens (App+User, delegated)."""

    async def get_token(self) -> str:
        """A bearer token valid for at least a few more minutes.

        Raises `shared.auth.errors.AuthError` subclasses when no token can be had.
        """
        ...

    def invalidate(self, token: str) -> None:
        """Forget `token` (the API answered 401 to it): the next `get_token` fetches a new one."""
        ...


class RefreshTokenStore(Protocol):
    """Where the Secure Application Model refresh token lives between runs."""

    async def load(self) -> str:
        """The stored refresh token; `RefreshTokenMissing` when there is none."""
        ...

    async def save(self, token: str) -> None:
        """Replace the stored refresh token (after login, or when Entra rotates it)."""
        ...

    def describe(self) -> str:
        """Where the token is kept, as a store URL (`keyvault://vault/secret`, `file:///path`).

        Safe to print: never contains the token.
        """
        ...
