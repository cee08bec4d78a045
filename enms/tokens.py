"""Making, rotating and revoking API tokens (`manage.py api_token`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import ApiToken


def token_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_create(*, user, name: str = "", ttl_days: int | None = None) -> tuple[ApiToken, str]:
    """A new token for `user`, valid for `ttl_days` (default `API_TOKEN_TTL_DAYS`). Returns the
    row and the key; the key is not stored and cannot be shown again."""
    key = secrets.token_hex(20)
    days = settings.API_TOKEN_TTL_DAYS if ttl_days is None else ttl_days
    token = ApiToken.objects.create(
        digest=token_digest(key), prefix=key[:8], user=user, name=name,
        expires_at=timezone.now() + timedelta(days=days),
    )
    return token, key


def api_token_rotate(*, user, name: str = "", ttl_days: int | None = None) -> tuple[ApiToken, str, int]:
    """Revoke every token of `user` and make a new one. Returns the row, the key and how many
    tokens were revoked."""
    with transaction.atomic():
        revoked, _ = ApiToken.objects.filter(user=user).delete()
        token, key = api_token_create(user=user, name=name, ttl_days=ttl_days)
    return token, key, revoked
