"""Operators' CLI against a deployed stack (or any table): tenants and their keys.

    python -m wa_notify.admin --stack wa-notify-prod tenants create --name "Acme Clinics" \\
        --phone-number-id 1234567890 --waba-id 9876543210 --access-token-stdin < token.txt
    python -m wa_notify.admin --stack wa-notify-prod tenants list
    python -m wa_notify.admin --stack wa-notify-prod tenants rotate-key ten_...
    python -m wa_notify.admin --stack wa-notify-prod tenants set-token ten_... --access-token-stdin < token.txt
    python -m wa_notify.admin --stack wa-notify-prod numbers add ten_... --phone-number-id 1234567891 \\
        --display-phone-number "+1 555 010 2030" [--waba-id 9876543210] [--access-token-stdin < token.txt]
    python -m wa_notify.admin --stack wa-notify-prod numbers list ten_...
    python -m wa_notify.admin --stack wa-notify-prod numbers remove ten_... 1234567891

The API key is printed once and stored only as a hash. Access tokens are read from stdin,
never from the command line (shell history, `ps`), and go to Secrets Manager only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

SHOWN_ONCE = "Store the api_key now: it is kept only as a hash and cannot be shown again."


def stack_outputs(stack: str) -> dict[str, str]:
    import boto3

    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def resolve_targets(args: argparse.Namespace) -> tuple[str, str | None]:
    """The table and the tenant secret prefix: flags, else the stack's outputs, else the environment."""
    outputs = stack_outputs(args.stack) if args.stack else {}
    table = args.table or outputs.get("TableName") or os.environ.get("TABLE_NAME")
    prefix = args.secret_prefix or outputs.get("TenantSecretPrefix") or os.environ.get("TENANT_SECRET_PREFIX")
    if not table:
        raise SystemExit("name the stack (--stack), the table (--table) or set TABLE_NAME")
    return table, prefix


def read_token(args: argparse.Namespace) -> str | None:
    if not getattr(args, "access_token_stdin", False):
        return None
    token = sys.stdin.readline().strip()
    if not token:
        raise SystemExit("--access-token-stdin: nothing on stdin")
    return token


def import_templates(deps: Any, tenant_id: str) -> dict[str, Any]:
    """Onboarding imports the templates the platform already has at Meta (POST /v1/templates/sync):
    the counts, or why Meta did not answer (the tenant is created either way; sync again later)."""
    from wa_notify.domain.problems import DomainError
    from wa_notify.services import template_sync

    counts = {"imported": 0, "updated": 0, "unchanged": 0}
    cursor = None
    while True:
        try:
            done = template_sync.sync(deps, tenant_id, cursor)
        except DomainError as exc:
            print(f"warning: templates not (all) imported: {exc.detail}", file=sys.stderr)
            return {**counts, "error": exc.detail, **getattr(exc, "extensions", {})}
        counts = {k: counts[k] + getattr(done, k) for k in counts}
        if done.next is None:
            return counts
        cursor = done.next


def main(argv: list[str] | None = None, *, out: Any = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="python -m wa_notify.admin", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", help="CloudFormation stack whose outputs name the table and the secret prefix")
    parser.add_argument("--table", help="DynamoDB table (instead of --stack)")
    parser.add_argument("--secret-prefix", help="Secrets Manager name prefix of tenant credentials (instead of --stack)")
    groups = parser.add_subparsers(dest="group", required=True)
    tenants_cmd = groups.add_parser("tenants", help="platforms that call the API").add_subparsers(dest="command", required=True)
    create = tenants_cmd.add_parser("create", help="onboard a platform and print its API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--phone-number-id", required=True, help="the platform's WhatsApp phone number id")
    create.add_argument("--waba-id", required=True, help="its WhatsApp Business Account id")
    create.add_argument("--access-token-stdin", action="store_true", help="read its own access token from stdin "
                        "(without one it sends with the app's default token)")
    create.add_argument("--no-template-import", action="store_true",
                        help="skip importing the templates the WABA already has (POST /v1/templates/sync does it later)")
    tenants_cmd.add_parser("list", help="every tenant, without secrets")
    rotate = tenants_cmd.add_parser("rotate-key", help="replace a tenant's API key and print the new one once")
    rotate.add_argument("tenant_id")
    token_cmd = tenants_cmd.add_parser("set-token", help="store a new WhatsApp access token for a tenant")
    token_cmd.add_argument("tenant_id")
    token_cmd.add_argument("--access-token-stdin", action="store_true", required=True)
    numbers_cmd = groups.add_parser("numbers", help="a tenant's WhatsApp numbers beside its default one").add_subparsers(
        dest="command", required=True)
    add = numbers_cmd.add_parser("add", help="another number for a tenant (its webhooks route to the tenant at once)")
    add.add_argument("tenant_id")
    add.add_argument("--phone-number-id", required=True)
    add.add_argument("--display-phone-number", help="as the platform knows it; `from` may name the number by it")
    add.add_argument("--waba-id", help="its WhatsApp Business Account (default: the tenant's)")
    add.add_argument("--access-token-stdin", action="store_true", help="its own access token (a number of another business)")
    numbers_cmd.add_parser("list", help="a tenant's numbers (without asking Meta)").add_argument("tenant_id")
    remove = numbers_cmd.add_parser("remove", help="remove a number that is not the default: messages already planned from it "
                                    "still go from it; new sends can no longer name it")
    remove.add_argument("tenant_id")
    remove.add_argument("phone_number_id")
    args = parser.parse_args(argv)

    from wa_notify.config import Settings
    from wa_notify.domain.ids import new_id
    from wa_notify.services import tenants
    from wa_notify.services.deps import Deps

    table, prefix = resolve_targets(args)
    deps = Deps(Settings(table_name=table, tenant_secret_prefix=prefix))

    def secrets():  # noqa: ANN202
        if not prefix:
            raise SystemExit("no tenant secret prefix: name the stack (--stack) or pass --secret-prefix")
        from wa_notify.adapters.secrets import TenantSecrets

        return TenantSecrets(prefix)

    def emit(value: Any) -> None:
        out.write(json.dumps(value, indent=2) + "\n")

    if args.command == "create":
        token = read_token(args)
        tenant_id = new_id("ten")
        store = secrets() if prefix or token else None
        credentials = {"phone_number_id": args.phone_number_id, "waba_id": args.waba_id, **({"access_token": token} if token else {})}
        secret_arn = store.put(tenant_id, credentials) if store else None
        try:
            tenant = tenants.create_tenant(deps, args.name, phone_number_id=args.phone_number_id, waba_id=args.waba_id, tenant_id=tenant_id)
        except ValueError as exc:
            if store:
                store.delete(tenant_id)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        imported = None if args.no_template_import else import_templates(deps, tenant_id)
        emit({**tenant, "credentials_secret": secret_arn, "templates": imported})
        print(SHOWN_ONCE, file=sys.stderr)
    elif args.group == "numbers":
        return numbers_command(args, deps, secrets if prefix else None, emit)
    elif args.command == "list":
        emit(tenants.list_tenants(deps))
    elif args.command == "rotate-key":
        try:
            emit({"tenant_id": args.tenant_id, "api_key": tenants.rotate_api_key(deps, args.tenant_id)})
        except LookupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(SHOWN_ONCE + f" The old key stops working within {deps.settings.api_key_cache_seconds} s.", file=sys.stderr)
    elif args.command == "set-token":
        profile = deps.store.tenants.get(args.tenant_id)
        if profile is None:
            print(f"error: no tenant {args.tenant_id}", file=sys.stderr)
            return 1
        token = read_token(args)
        store = secrets()
        arn = store.put(args.tenant_id, {**store.get(args.tenant_id), "phone_number_id": profile["phone_number_id"],
                                         "waba_id": profile["waba_id"], "access_token": token})
        emit({"tenant_id": args.tenant_id, "credentials_secret": arn})
    return 0


def numbers_command(args: argparse.Namespace, deps: Any, secrets: Any, emit: Any) -> int:
    """`numbers add|list|remove`: the number's row and webhook lookup; its own token, if any, in the tenant's secret."""
    from wa_notify.domain.problems import DomainError
    from wa_notify.services import numbers

    try:
        if args.command == "list":
            emit(deps.store.numbers.list(args.tenant_id))
        elif args.command == "add":
            token = read_token(args)
            if token and secrets is None:
                raise SystemExit("no tenant secret prefix: name the stack (--stack) or pass --secret-prefix")
            row = numbers.add_number(deps, args.tenant_id, args.phone_number_id, args.waba_id, args.display_phone_number)
            if token:
                store = secrets()
                stored = store.get(args.tenant_id)
                own = {**(stored.get("numbers") or {}), args.phone_number_id: {"waba_id": row["waba_id"], "access_token": token}}
                store.put(args.tenant_id, {**stored, "numbers": own})
            emit(dict(row))
        else:
            numbers.remove_number(deps, args.tenant_id, args.phone_number_id)
            emit({"tenant_id": args.tenant_id, "removed": args.phone_number_id})
    except DomainError as exc:
        print(f"error: {exc.detail}" + "".join(f"; {p.field}: {p.message}" for p in exc.problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
