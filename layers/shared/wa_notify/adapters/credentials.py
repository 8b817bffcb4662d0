"""Meta credentials: one Secrets Manager secret in AWS (cached by Powertools Parameters), env locally."""

from __future__ import annotations

from dataclasses import dataclass

from wa_notify.config import Settings


@dataclass(frozen=True)
class MetaCredentials:
    access_token: str
    app_secret: str
    verify_token: str


def meta_credentials(settings: Settings, *, force_fetch: bool = False) -> MetaCredentials:
    if settings.meta_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        # 5 minutes instead of Powertools' 5 s default: one Secrets Manager call per
        # container per 5 minutes, and force_fetch picks up a rotated token after a 401.
        secret = parameters.get_secret(settings.meta_secret_arn, transform="json", max_age=300, force_fetch=force_fetch)
        return MetaCredentials(secret["access_token"], secret["app_secret"], secret["verify_token"])

    def value(v) -> str:  # noqa: ANN001
        return v.get_secret_value() if v is not None else ""

    return MetaCredentials(value(settings.meta_access_token), value(settings.meta_app_secret), value(settings.meta_verify_token))
