"""Who is calling: API keys to owners, the admin key, and per-owner rate limits.

A key is checked by its SHA-256 (constant-time compare), so the configuration
may hold hashes instead of keys; the caller is then known by the key's
fingerprint only. Nothing here logs a key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass

from fastapi import HTTPException

from cellkiosk.core.ownership import OPEN_OWNER, key_fingerprint
from cellkiosk.core.queue import JobQueue
from cellkiosk.core.settings import GatewaySettings

log = logging.getLogger(__name__)
HASH_PREFIX = "sha256:"


@dataclass(frozen=True)
class Caller:
    """The owner a request acts as; an admin acts on everybody's jobs."""

    owner: str
    admin: bool = False

    def may_access(self, owner: str | None) -> bool:
        """Whether this caller may see or act on something owned by ``owner``."""
        return self.admin or owner == self.owner or (owner is None and self.owner == OPEN_OWNER)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """The server's API keys, as SHA-256 digests."""

    def __init__(self, user_digests: list[str], admin_digest: str | None) -> None:
        self.user_digests = user_digests
        self.admin_digest = admin_digest

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> KeyRing:
        """Keys and hashed keys from the settings; a malformed hash stops the gateway, naming the variable."""
        if any(not k.strip() for k in settings.api_keys):
            raise SystemExit("CELLKIOSK_API_KEYS: an empty key would let anyone in; remove it")
        digests = [_digest(k) for k in settings.api_keys]
        for entry in settings.api_key_hashes:
            value = entry.removeprefix(HASH_PREFIX).lower()
            if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
                raise SystemExit("CELLKIOSK_API_KEY_HASHES: each entry must be 'sha256:' + 64 hex digits")
            digests.append(value)
        admin = settings.admin_api_key.get_secret_value().strip() if settings.admin_api_key else ""
        return cls(digests, _digest(admin) if admin else None)  # empty (e.g. compose's default): no admin

    @property
    def open(self) -> bool:
        """No user keys: anyone may call the API (the embedded default for one user)."""
        return not self.user_digests

    def caller(self, key: str | None) -> Caller:
        """The caller for a presented key; 401 when the server has keys and this is none of them."""
        if key is not None:
            digest = _digest(key)
            if self.admin_digest and hmac.compare_digest(digest, self.admin_digest):
                return Caller(key_fingerprint(key), admin=True)
            if any(hmac.compare_digest(digest, d) for d in self.user_digests):
                return Caller(digest[:16])
        if self.open:
            return Caller(OPEN_OWNER)
        raise HTTPException(401, "this server requires an API key: send it in the X-API-Key header")

    def describe(self) -> str:
        """One line for the start-up log (counts, never keys)."""
        if self.open:
            mode = "OPEN MODE: no API keys configured, anyone who reaches this port may use the API"
        else:
            mode = f"{len(self.user_digests)} API key(s)"
        return mode + ("; an admin key is set" if self.admin_digest else "")


def check_rate(queue: JobQueue, caller: Caller, kind: str, per_minute: int) -> None:
    """429 with Retry-After when ``caller`` made more than ``per_minute`` ``kind`` requests this minute."""
    if per_minute <= 0:
        return
    wait_s = queue.rate_hit(kind, caller.owner, per_minute)
    if wait_s is not None:
        raise HTTPException(
            429,
            f"too many {kind} for this API key: the limit is {per_minute} a minute; retry in {wait_s:.0f} s",
            headers={"Retry-After": f"{wait_s:.0f}"},
        )


def check_active(queue: JobQueue, caller: Caller, max_active: int) -> None:
    """429 with Retry-After when ``caller`` already has ``max_active`` jobs queued or running."""
    if max_active > 0 and queue.active_jobs(caller.owner) >= max_active:
        raise HTTPException(
            429,
            f"this API key already has {max_active} jobs queued or running (the limit); wait for some to finish",
            headers={"Retry-After": "30"},
        )
