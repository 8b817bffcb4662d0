"""The storage layout holds: every key is built in adapters/storage/keys.py, every item type it
builds is documented (its docstring and docs/key-schema.md agree), and no module of the shared
package grows past 400 lines."""

import inspect
import re
from pathlib import Path

import pytest
from wa_notify.adapters.storage import keys

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "wa_notify"
KEYS_FILE = PACKAGE / "adapters" / "storage" / "keys.py"
# A table key written inline: one of the key prefixes, or a tenant partition's kind.
INLINE_KEY = re.compile(r"\b(TENANT|APIKEY|PNID|WABA|RATE|DISPATCH|DUE|PAIR)#|#(TPL|CONTACT|INBOX|FLOW|EVENT|PLAN|QUOTA|IDEM|MSG|STATS|CAMPAIGN)\b")
MAX_LINES = 400


def python_files(*dirs):
    for directory in dirs:
        yield from (p for p in (ROOT / directory).rglob("*.py") if p != KEYS_FILE and ".venv" not in p.parts)


def table_rows(text):
    """(pk, sk) of each markdown table row whose pk is a key (not a "(an attribute of ...)" note)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or cells[0] in ("item type", "") or set(cells[0]) <= {"-"}:
            continue
        pk, sk = (re.sub(r"^`?([^`]*)`?.*$", r"\1", c) for c in cells[1:3])
        if pk.startswith("("):
            continue
        rows.append((normal(pk), normal(sk)))
    return rows


def normal(pattern):
    return re.sub(r"<[^>]*>", "<>", pattern)


def documented_patterns():
    return table_rows(keys.__doc__)


def test_no_key_is_written_outside_the_keys_module():
    # GIVEN every Python file of the layer, the functions, infra and tests but the keys module
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in python_files("layers", "functions", "infra", "tests")
             for n, line in enumerate(p.read_text().splitlines(), 1) if INLINE_KEY.search(line)]
    # THEN none spells a table key itself
    assert found == []


def test_the_key_schema_document_and_the_keys_module_list_the_same_items():
    # GIVEN the table in the keys module's docstring and the one in docs/key-schema.md
    in_code = documented_patterns()
    in_docs = table_rows((ROOT / "docs" / "key-schema.md").read_text())
    # THEN they name the same keys (around 20 item types)
    assert len(in_code) >= 18
    assert sorted(in_code) == sorted(in_docs)


def sample_args(function):
    return [3 if p.annotation in (int, "int") else f"x{i}" for i, p in enumerate(inspect.signature(function).parameters.values())
            if p.default is inspect.Parameter.empty]


@pytest.mark.parametrize("name", [n for n, f in vars(keys).items() if inspect.isfunction(f) and inspect.signature(f).return_annotation in ("Key", keys.Key)])
def test_every_key_the_module_builds_is_a_documented_item_type(name):
    # GIVEN a key function of the keys module, called with sample arguments
    key = getattr(keys, name)(*sample_args(getattr(keys, name)))
    # THEN its pk and sk match a row of the documented schema
    as_regex = [(re.escape(pk).replace("<>", ".+"), re.escape(sk).replace("<>", ".+")) for pk, sk in documented_patterns()]
    assert any(re.fullmatch(pk, key.pk) and re.fullmatch(sk, key.sk) for pk, sk in as_regex), key


def test_no_module_of_the_shared_package_is_over_400_lines():
    # GIVEN every module of the shared package
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    # THEN none is over the limit
    assert long == {}, long
