"""One validated settings object, read from the environment lazily (never at import time)."""

from __future__ import annotations

from functools import cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, frozen=True, extra="ignore")

    table_name: str = Field(min_length=1)
    send_queue_high_url: str = ""
    send_queue_normal_url: str = ""
    send_queue_bulk_url: str = ""
    callback_retry_queue_url: str = ""
    callback_dlq_url: str = ""
    callback_timeout: float = Field(default=5.0, gt=0)
    # A failed callback is retried (4^n s, capped at 900 s) until it is this old, counted from its
    # first failed post, then parked in the DLQ: a platform down for hours loses nothing.
    callback_max_age_seconds: int = Field(default=86_400, ge=60)
    callback_max_attempts: int = Field(default=120, ge=1, le=200)  # a backstop: 120 at the cap is ~30 h
    # The local stack alone: callback URLs may be http and loopback (the developer's platform
    # runs on the same laptop). Never private, link-local or metadata addresses. Off in AWS.
    callback_allow_local: bool = False

    # The API's public base URL (https://<api id>.execute-api.<region>.amazonaws.com, or a custom
    # domain): tracked links go out as <this>/r/<token> (click tracking; empty: nothing is tracked).
    public_api_url: str = ""

    graph_api_base_url: str = "https://graph.facebook.com/v23.0"
    # In AWS the Meta credentials come from one Secrets Manager secret (JSON with
    # access_token, app_secret, verify_token); locally straight from the environment.
    meta_secret_arn: str | None = None
    # Each tenant's WhatsApp credentials: a Secrets Manager secret named prefix + tenant id.
    tenant_secret_prefix: str | None = None
    meta_access_token: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None

    due_shards: int = Field(default=4, ge=1, le=64)
    send_lease_seconds: int = Field(default=60, ge=5)
    stale_queue_seconds: int = Field(default=120, ge=10)
    unknown_reconcile_seconds: int = Field(default=900, ge=30)
    max_send_attempts: int = Field(default=6, ge=1, le=20)
    number_rate_per_second: float = Field(default=80.0, gt=0)
    number_burst: int = Field(default=80, ge=1)
    max_inline_wait_ms: int = Field(default=500, ge=0, le=5_000)
    default_daily_quota: int = Field(default=100_000, ge=1)
    # The first wait after WhatsApp's pair limit (131056) for one message, doubling after each
    # further refusal: the pair window refills one message per 6 s. Tests shorten it.
    pair_retry_seconds: int = Field(default=6, ge=1, le=900)
    http_connect_timeout: float = Field(default=3.0, gt=0)
    http_read_timeout: float = Field(default=10.0, gt=0)
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    api_key_cache_seconds: int = Field(default=60, ge=0)
    dispatch_max_items: int = Field(default=5_000, ge=1)

    def queue_url(self, lane: str) -> str:
        url = {"high": self.send_queue_high_url, "normal": self.send_queue_normal_url, "bulk": self.send_queue_bulk_url}[lane]
        if not url:
            raise RuntimeError(f"SEND_QUEUE_{lane.upper()}_URL is not configured")
        return url


@cache
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
