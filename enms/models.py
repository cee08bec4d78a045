"""API tokens: what a client sends as `Authorization: Token <key>`."""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """One API key of one user. Only the key's SHA-256 is stored (the key is shown once, when it
    is made), so a copy of the database holds no usable key. A token stops working at
    `expires_at`; `last_used_at` says when it last authenticated a request (to the minute)."""

    digest = models.CharField(max_length=64, primary_key=True)
    prefix = models.CharField(max_length=8, help_text="the key's first characters, to tell keys apart")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "api_tokens"
        ordering = ["user", "-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class ThrottleCounter(models.Model):
    """Writes of one client in one throttle window, shared by every worker when there is no Redis
    (`enms.throttling`). One atomic upsert counts a request; expired rows are swept now and then."""

    counter_key = models.CharField(max_length=200, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "throttle_counters"

    def __str__(self) -> str:
        return f"{self.counter_key}: {self.count}"
