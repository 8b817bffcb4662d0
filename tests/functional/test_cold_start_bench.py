"""`make bench`'s cold_start_ms (infra/bench/cold_start.py) at one timed run: every function's
handler served its sample event in a fresh process on the layer's packages and the runtime's
boto3 stack (no moto, no dev venv), and the report carries what the target is judged on."""

from infra.bench.cold_start import answer_problem, bench_cold_start
from infra.local.provision import load_template, resources_of


def test_each_function_is_cold_started_on_its_sample_event_against_a_bare_boto3_import():
    # GIVEN / WHEN one timed run (after the untimed one that writes the bytecode)
    result = bench_cold_start(runs=1)
    # THEN every function the template deploys has a figure, and the ratio is the worst one's
    folders = {res["Properties"]["CodeUri"].strip("/").split("/")[-1] for res in resources_of(load_template(), "AWS::Serverless::Function").values()}
    assert set(result["per_function"]) == folders
    assert all(ms > 0 for ms in result["per_function"].values()) and result["baseline_import_boto3_ms"] > 0
    assert result["worst_over_baseline"] == round(result["per_function"][result["worst"]] / result["baseline_import_boto3_ms"], 2)
    assert "AWS_ENDPOINT_URL" in result["method"] and result["runs"] == 1


def test_a_first_answer_that_is_an_error_is_not_a_figure():
    # a 4xx/5xx or a failed batch is not a served first event (the bench refuses to report it)
    assert answer_problem("ApiFunction", {"statusCode": 401, "body": "{}"})
    assert answer_problem("CallbackFunction", {"batchItemFailures": [{"itemIdentifier": "x"}]})
    assert answer_problem("DispatcherFunction", None)
    assert answer_problem("ApiFunction", {"statusCode": 202, "body": "{}"}) is None
