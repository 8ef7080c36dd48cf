"""API keys: SHA-256 hashes in the policy, looked up by hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway.errors import AuthenticationFailed
from gateway.policy.schema import ApiKey, Policy

KEY_PREFIX = "tg-"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a team's key, or an admin key (team is None)."""

    team: str | None
    key_id: str
    key: ApiKey

    @property
    def is_admin(self) -> bool:
        return self.team is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class KeyRing:
    """Maps a presented bearer token to its principal; the token itself is never stored."""

    def __init__(self, policy: Policy) -> None:
        self._by_hash: dict[str, Principal] = {}
        for team_name, team in policy.teams.items():
            for key in team.keys:
                self._by_hash[key.sha256] = Principal(team_name, key.id, key)
        for key in policy.admin.keys:
            self._by_hash[key.sha256] = Principal(None, key.id, key)

    def principal_for(self, team: str, key_id: str) -> Principal | None:
        """The team key ``key_id`` (for work a key submitted earlier, e.g. a batch), or None
        if the policy no longer has it or it is disabled."""
        for principal in self._by_hash.values():
            if principal.team == team and principal.key_id == key_id:
                return None if principal.key.disabled else principal
        return None

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationFailed(
                "Missing API key. Send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
            )
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            raise AuthenticationFailed(
                "Malformed Authorization header; expected 'Bearer <key>'.", code="invalid_api_key"
            )
        digest = hash_key(token)
        principal = self._by_hash.get(digest)
        # Lookup is by hash (no key-dependent timing); confirm in constant time all the same.
        if principal is None or not hmac.compare_digest(principal.key.sha256, digest):
            raise AuthenticationFailed("Incorrect API key provided.", code="invalid_api_key")
        if principal.key.disabled:
            raise AuthenticationFailed("This API key is disabled.", code="invalid_api_key")
        return principal
