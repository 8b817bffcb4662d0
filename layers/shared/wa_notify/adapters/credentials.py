"""Meta credentials, read through Powertools Parameters (cached) in AWS, from the environment locally.

- The app's own secret (`META_SECRET_ARN`): app secret (webhook signatures), verify token,
  and a default access token (a BSP's system-user token that covers its clients' WABAs).
- Each tenant's secret (`TENANT_SECRET_PREFIX` + tenant id), written by `wa_notify.admin`:
  `{phone_number_id, waba_id, access_token?, numbers?: {<pnid>: {waba_id, access_token?}}}`.
  A number's own token wins over the tenant's, which wins over the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from wa_notify.config import Settings

# 5 minutes: one Secrets Manager call per tenant per container per 5 minutes (Powertools'
# own default is 5 s); a 401 from Meta forces a refetch, so a rotation is seen at once.
TOKEN_CACHE_SECONDS = 300


@dataclass(frozen=True)
class MetaCredentials:
    access_token: str
    app_secret: str
    verify_token: str


def meta_credentials(settings: Settings, *, force_fetch: bool = False) -> MetaCredentials:
    if settings.meta_secret_arn:
        from aws_lambda_powertools.utilities import parameters

        secret = parameters.get_secret(settings.meta_secret_arn, transform="json", max_age=TOKEN_CACHE_SECONDS, force_fetch=force_fetch)
        return MetaCredentials(secret["access_token"], secret["app_secret"], secret["verify_token"])

    def value(v) -> str:  # noqa: ANN001
        return v.get_secret_value() if v is not None else ""

    return MetaCredentials(value(settings.meta_access_token), value(settings.meta_app_secret), value(settings.meta_verify_token))


def tenant_secret_name(prefix: str, tenant_id: str) -> str:
    return f"{prefix}{tenant_id}"


def tenant_access_token(settings: Settings, tenant_id: str, *, phone_number_id: str | None = None, force_fetch: bool = False) -> str:
    """The token for one of the tenant's numbers: the number's own (`numbers.<pnid>.access_token`
    in the tenant's secret, for a number of another business), else the tenant's, else the app's."""
    if not settings.tenant_secret_prefix:
        return meta_credentials(settings, force_fetch=force_fetch).access_token
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(tenant_secret_name(settings.tenant_secret_prefix, tenant_id), transform="json",
                                   max_age=TOKEN_CACHE_SECONDS, force_fetch=force_fetch)
    numbers = secret.get("numbers") if isinstance(secret, dict) else None
    own = numbers.get(phone_number_id) if isinstance(numbers, dict) and phone_number_id else None
    if isinstance(own, dict) and own.get("access_token"):
        return str(own["access_token"])
    token = secret.get("access_token") if isinstance(secret, dict) else None
    return str(token) if token else meta_credentials(settings, force_fetch=force_fetch).access_token
