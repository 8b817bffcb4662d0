"""The shared layer runs on the Lambda runtime's boto3 stack, never beside a copy of part of it
(issue 19): a layer's botocore under the runtime's boto3 is a pairing nobody released or tested,
and a runtime update moves one side only. layers/shared/Makefile installs requirements.txt with
--no-deps, so that list must be complete on its own. phonenumberslite replaces phonenumbers (one
import name for both: installed together, either one's files overwrite the other's).

These run on every `make test` without a build, from the pinned list and the dev venv's metadata
of the same versions; tests/infra/test_sam.py applies `boto_pairing_problems` to a real build."""

import email.parser
import importlib.metadata
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.infra.test_dependency_pins import LAYER_IN, LAYER_TXT, LOCK, PYPROJECT, pins, requirement_lines

ROOT = Path(__file__).parents[2]
# What the Lambda python3.13 runtime ships and imports before any layer could: boto3 and what it runs on.
RUNTIME_SHIPS = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
# Lambda's environment for marker evaluation: CPython 3.13 on Linux, arm64 (template: arm64 only).
LAMBDA_ENV = {**default_environment(), "python_version": "3.13", "python_full_version": "3.13.0", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "aarch64", "os_name": "posix", "implementation_name": "cpython",
              "platform_python_implementation": "CPython"}
pytestmark = pytest.mark.infra

Dist = tuple[str, list[Requirement]]  # version, Requires-Dist


def boto_pairing_problems(layer: dict[str, Dist]) -> list[str]:
    """Why the layer's boto3 and botocore would not run as released together, or []: a botocore
    without its boto3 beside it (the runtime's boto3 would run on it), a boto3 without botocore
    (it would run on the runtime's), or a botocore outside the range its boto3 declares."""
    boto3, botocore = layer.get("boto3"), layer.get("botocore")
    if botocore and not boto3:
        return [f"botocore {botocore[0]} without boto3: the Lambda runtime's boto3 would run on it"]
    if boto3 and not botocore:
        return [f"boto3 {boto3[0]} without botocore: it would run on the Lambda runtime's botocore"]
    if boto3 and botocore:
        wanted = [r.specifier for r in boto3[1] if canonicalize_name(r.name) == "botocore" and not r.marker]
        if not wanted or not all(s.contains(botocore[0], prereleases=True) for s in wanted):
            return [f"botocore {botocore[0]} is outside boto3 {boto3[0]}'s botocore{''.join(map(str, wanted))}"]
    return []


def built_layer(python_dir: Path) -> dict[str, Dist]:
    """name -> (version, Requires-Dist) from the *.dist-info folders of a built layer's python/."""
    found: dict[str, Dist] = {}
    for metadata in python_dir.glob("*.dist-info/METADATA"):
        headers = email.parser.Parser().parsestr(metadata.read_text(encoding="utf-8", errors="replace"), headersonly=True)
        found[canonicalize_name(headers["Name"])] = (headers["Version"], [Requirement(r) for r in headers.get_all("Requires-Dist") or []])
    return found


def installed(name: str, version: str) -> list[Requirement]:
    """Requires-Dist of `name` from the dev venv, which `make install` fills from the same lock."""
    dist = importlib.metadata.distribution(name)
    assert dist.version == version, f"the dev venv has {name} {dist.version}, the layer pins {version}: run `make install`"
    return [Requirement(r) for r in dist.requires or []]


def pinned_layer() -> dict[str, Dist]:
    layer = pins(LAYER_TXT)
    assert all(len(versions) == 1 for versions in layer.values()), "one version of each package in a layer"
    return {name: (version, installed(name, version)) for name, (version,) in ((n, tuple(v)) for n, v in layer.items())}


def missing_dependencies(layer: dict[str, Dist], wanted: Iterable[Requirement], provided: set[str]) -> list[str]:
    """What a --no-deps install of `layer` lacks: each requirement reached from `wanted` (extras
    followed, markers evaluated for Lambda's environment) that is neither in the layer at a version
    it allows nor provided by the runtime."""
    todo, seen, missing = list(wanted), set(), []
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if (name, frozenset(req.extras)) in seen or name in provided:
            continue
        seen.add((name, frozenset(req.extras)))
        if name not in layer:
            missing.append(str(req))
            continue
        version, requires = layer[name]
        if not req.specifier.contains(version, prereleases=True):
            missing.append(f"{req} (the layer pins {version})")
        for sub in requires:
            if sub.marker is None or any(sub.marker.evaluate({**LAMBDA_ENV, "extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return missing


def fake(version: str, *requires: str) -> Dist:
    return version, [Requirement(r) for r in requires]


# ---- the rule itself, on made-up layers ------------------------------------------------------------
def test_a_botocore_without_its_boto3_is_a_pairing_problem():
    # GIVEN a layer that brought botocore in (as aws-xray-sdk did) but not boto3
    layer = {"aws-xray-sdk": fake("2.15.0", "botocore>=1.11.3"), "botocore": fake("1.43.127")}
    # WHEN it is checked THEN the runtime's boto3 running on it is named
    assert boto_pairing_problems(layer) == ["botocore 1.43.127 without boto3: the Lambda runtime's boto3 would run on it"]


def test_a_boto3_without_botocore_or_beside_a_botocore_it_does_not_allow_is_a_pairing_problem():
    assert boto_pairing_problems({"boto3": fake("1.43.108", "botocore<1.44.0,>=1.43.108")}) != []
    skewed = {"boto3": fake("1.40.0", "botocore<1.41.0,>=1.40.0"), "botocore": fake("1.43.127")}
    assert boto_pairing_problems(skewed) == ["botocore 1.43.127 is outside boto3 1.40.0's botocore<1.41.0,>=1.40.0"]


def test_neither_or_both_released_together_is_no_problem():
    assert boto_pairing_problems({"httpx": fake("0.28.1")}) == []
    assert boto_pairing_problems({"boto3": fake("1.43.108", "botocore<1.44.0,>=1.43.108", "botocore[crt]<2; extra == 'crt'"),
                                  "botocore": fake("1.43.127")}) == []


def test_a_built_layers_dist_info_is_read_for_the_check(tmp_path):
    # GIVEN a built layer folder holding botocore's dist-info and no boto3
    info = tmp_path / "botocore-1.43.127.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: botocore\nVersion: 1.43.127\nRequires-Dist: jmespath<2,>=0.7.1\n\nbody\n")
    # WHEN it is read and checked THEN the skew is found
    assert built_layer(tmp_path)["botocore"][0] == "1.43.127"
    assert boto_pairing_problems(built_layer(tmp_path)) != []


def test_a_no_deps_install_missing_a_dependency_is_found():
    layer = {"aws-lambda-powertools": fake("3.37.0", "jmespath>=1.0.1", "aws-xray-sdk>=2.8; extra == 'tracer'"),
             "aws-xray-sdk": fake("2.15.0", "wrapt", "botocore>=1.11.3")}
    wanted = [Requirement("aws-lambda-powertools[tracer]>=3.20")]
    assert missing_dependencies(layer, wanted, RUNTIME_SHIPS) == ["wrapt"]
    assert missing_dependencies(layer, [Requirement("aws-lambda-powertools>=3.20")], RUNTIME_SHIPS) == []  # no extra: no xray


# ---- the project's layer ----------------------------------------------------------------------------
def test_the_layers_pinned_list_pairs_boto3_and_botocore_or_holds_neither():
    assert boto_pairing_problems(pinned_layer()) == []


def test_the_layer_leaves_what_the_lambda_runtime_ships_to_the_runtime():
    # `make lock` drops these from the layer's list (--no-emit-package, the Makefile's LAMBDA_RUNTIME_PACKAGES)
    make_list = re.search(r"^LAMBDA_RUNTIME_PACKAGES := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    assert make_list and set(make_list[1].split()) == RUNTIME_SHIPS
    assert RUNTIME_SHIPS & set(pins(LAYER_TXT)) == set()


def test_the_layers_list_is_complete_for_an_install_without_dependencies():
    # layers/shared/Makefile installs with --no-deps: a dependency the list lacks would be missing in Lambda
    wanted = [Requirement(line) for line in requirement_lines(LAYER_IN)]
    assert missing_dependencies(pinned_layer(), wanted, RUNTIME_SHIPS) == []
    assert "--no-deps" in (ROOT / "layers/shared/Makefile").read_text()


def test_phonenumbers_and_phonenumberslite_are_never_required_together():
    both = {"phonenumbers", "phonenumberslite"}
    for path in (LAYER_TXT, LOCK):
        assert both - set(pins(path)), f"{path.name} pins both phonenumbers and phonenumberslite (one import name)"
    declared = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert both - declared and both - {canonicalize_name(Requirement(line).name) for line in requirement_lines(LAYER_IN)}
    # the layer uses the lite one: parsing and formatting, without the 20 MB of geocoder and carrier data
    assert "phonenumberslite" in pins(LAYER_TXT)
    # and the dev venv holds one of the two (make install drops a leftover phonenumbers)
    present = set()
    for name in both:
        try:
            present.add(importlib.metadata.distribution(name).name)
        except importlib.metadata.PackageNotFoundError:
            pass
    assert len(present) == 1, f"the dev venv has {present}: run `make install`"


def test_our_code_uses_no_phonenumbers_module_the_lite_package_lacks():
    # phonenumberslite has no geocoder, carrier or timezone modules (nor their data)
    sources = [p for d in ("layers/shared/wa_notify", "functions", "infra") for p in (ROOT / d).rglob("*.py")]
    lacking = re.compile(r"phonenumbers\.(geocoder|carrier|timezone|geodata|carrierdata|tzdata)|from phonenumbers import .*\b(geocoder|carrier|timezone)\b")
    assert [str(p.relative_to(ROOT)) for p in sources if lacking.search(p.read_text())] == []
    assert Version(importlib.metadata.version("phonenumberslite")) >= Version("8.13")
