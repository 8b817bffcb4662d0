"""Issue 13: the repositories take and return typed rows (domain/records.py), not `dict[str, Any]`.

Read from the source with `ast` (no import, no boto3): every parameter and return annotation of a
repository method in adapters/storage/ that still says `dict[str, Any]` must be one of the
free-form values listed here, each with why it is not a row."""

import ast
from pathlib import Path

STORAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "wa_notify" / "adapters" / "storage"

# (module, Class.method, parameter or "return") -> why the value is free-form, not a stored row.
FREE_FORM = {
    ("analytics", "AnalyticsRepository.template_rows", "return"): "counter rows: attribute names are data (ttr_<n>, h<hh>)",
    ("analytics", "AnalyticsRepository.activity_rows", "return"): "counter rows: attribute names are data (h<hh>)",
    ("analytics", "AnalyticsRepository._rows", "return"): "counter rows: attribute names are data",
    ("contacts", "ContactRepository.put", "fields"): "the profile fields a request names, set one by one",
    ("contacts", "ContactRepository.mark_inbound_handled", "callbacks"): "callback events ({type, data}) the stream posts",
    ("keys", "Key.item", "return"): "the wire row before a put: any item type, numbers as Decimals",
    ("leases", "LeaseRepository._end_lease", "fields"): "the attributes one transition sets, by name",
    ("messages", "MessageRepository.row", "return"): "the wire row before a put: numbers as Decimals (dynamo_safe)",
    ("messages", "MessageRepository.cancel_update", "return"): "a transaction part (expression, condition, values)",
    ("messages", "MessageRepository.apply_status", "pricing"): "WhatsApp's pricing object, kept as sent",
    ("quota", "QuotaRepository.update", "return"): "a transaction part (expression, condition, values)",
    ("campaigns", "CampaignRepository.write_page", "conversations"): "a transaction part (numbers.count_conversations)",
    ("campaigns", "CampaignRepository.messages_page", "start"): "the Query's ExclusiveStartKey (wire format)",
    ("campaigns", "CampaignRepository.messages_page", "return"): "the Query's LastEvaluatedKey (wire format) beside (id, status) pairs",
    ("numbers", "NumberRepository.count_conversations", "return"): "a transaction part (expression, condition, values)",
    ("tenants", "TenantRepository.list", "start_key"): "the Scan's ExclusiveStartKey (wire format)",
    ("tenants", "TenantRepository.list", "return"): "the Scan's LastEvaluatedKey (wire format) beside typed rows",
}


def untyped_rows(module: str, source: str) -> set[tuple[str, str, str]]:
    """(module, Class.method, parameter or "return") of each annotation that says dict[str, Any]."""
    found = set()
    for cls in (n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)):
        for fn in (n for n in cls.body if isinstance(n, ast.FunctionDef)):
            a = fn.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p)]
            annotated = [(p.arg, p.annotation) for p in params] + [("return", fn.returns)]
            found |= {(module, f"{cls.name}.{fn.name}", name) for name, annotation in annotated
                      if annotation is not None and "dict[str, Any]" in ast.unparse(annotation)}
    return found


def test_repositories_take_and_return_typed_rows():
    # GIVEN every repository module of the table
    modules = sorted(STORAGE.glob("*.py"))
    assert len(modules) >= 12
    # WHEN their methods' annotations are read
    found = set().union(*(untyped_rows(p.stem, p.read_text()) for p in modules))
    # THEN dict[str, Any] is left only where the value is free-form by nature (listed above)
    assert sorted(found - FREE_FORM.keys()) == []


def test_the_check_sees_an_untyped_row():
    # GIVEN a repository whose get returns dict[str, Any] and whose put takes one
    source = ("class WidgetRepository:\n"
              "    def get(self, tenant_id: str) -> dict[str, Any] | None: ...\n"
              "    def put(self, item: dict[str, Any], *, at: str) -> None: ...\n"
              "    def typed(self, item: WidgetRow) -> WidgetRow: ...\n")
    # WHEN it is checked
    found = untyped_rows("widgets", source)
    # THEN both are reported, and the typed method is not
    assert found == {("widgets", "WidgetRepository.get", "return"), ("widgets", "WidgetRepository.put", "item")}
