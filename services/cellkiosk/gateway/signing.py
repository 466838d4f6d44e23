"""Signed upload URLs for the local storage backend (the S3 backend presigns natively)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path


def load_or_create_secret(data_dir: Path) -> bytes:
    """A random secret kept in the data dir, so URLs survive a restart of the embedded platform."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    path.write_bytes(secret)
    path.chmod(0o600)
    return secret


def sign(secret: bytes, key: str, max_bytes: int, expires_at: int) -> str:
    """HMAC-SHA256 over the upload key, its size limit and expiry."""
    message = f"{key}|{max_bytes}|{expires_at}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify(secret: bytes, key: str, max_bytes: int, expires_at: int, signature: str) -> str | None:
    """None when valid, else the reason."""
    if expires_at < time.time():
        return "this upload URL has expired; ask for a new one"
    # compare bytes: compare_digest refuses str with non-ASCII characters (a crafted ?sig= was a 500)
    if not hmac.compare_digest(sign(secret, key, max_bytes, expires_at).encode(), signature.encode()):
        return "invalid upload URL signature"
    return None
