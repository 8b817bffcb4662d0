"""`make bench`'s measurement of the whole path, at a size that runs in seconds (the full bench is
`make bench`, not part of `make test`): what it counts and prices comes from the template and from
real requests, never from constants standing in for them."""

import copy

from infra.bench import run
from infra.local.provision import load_template


def test_lambda_memory_tracing_and_log_level_come_from_the_template():
    # GIVEN the template with other Globals memory, one function's own memory and tracing, and another log level
    template = copy.deepcopy(load_template())
    template["Globals"]["Function"]["MemorySize"] = 1024
    template["Resources"]["SenderFunction"]["Properties"]["MemorySize"] = 256
    template["Resources"]["ApiFunction"]["Properties"]["Tracing"] = "PassThrough"
    template["Parameters"]["LogLevel"]["Default"] = "WARN"

    # WHEN the bench reads it
    facts = run.template_facts(template)

    # THEN each function has the Globals value unless it sets its own
    assert facts["functions"]["ApiFunction"]["memory_mb"] == 1024
    assert facts["functions"]["SenderFunction"]["memory_mb"] == 256
    assert facts["functions"]["ApiFunction"]["tracing"] == "PassThrough"
    assert facts["functions"]["DispatcherFunction"]["tracing"] == template["Globals"]["Function"]["Tracing"]
    assert facts["log_level"] == "WARN"


def test_log_level_and_lambdas_own_lines_follow_the_templates_logging_config():
    # GIVEN the template's LoggingConfig: JSON, our level from LogLevel, Lambda's own lines from SystemLogLevel
    template = copy.deepcopy(load_template())
    logging = template["Globals"]["Function"]["LoggingConfig"]
    assert logging == {"LogFormat": "JSON", "ApplicationLogLevel": {"Ref": "LogLevel"}, "SystemLogLevel": {"Ref": "SystemLogLevel"}}

    # WHEN the bench reads it as deployed (SystemLogLevel WARN), at INFO, and with no LoggingConfig at all
    deployed = run.template_facts(template)
    template["Parameters"]["SystemLogLevel"]["Default"] = "INFO"
    template["Resources"]["ApiFunction"]["Properties"]["LoggingConfig"] = {"ApplicationLogLevel": "ERROR"}
    info = run.template_facts(template)
    del template["Globals"]["Function"]["LoggingConfig"]
    template["Resources"]["ApiFunction"]["Properties"].pop("LoggingConfig")
    text = run.template_facts(template)

    # THEN at WARN Lambda prints no line of its own for a successful invocation
    assert deployed["log_level"] == template["Parameters"]["LogLevel"]["Default"]
    assert run.platform_lines(deployed, "SenderFunction") == []
    # AND at INFO its platform.start and platform.report JSON lines (with the trace for Active functions)
    assert [line[:40] for line in run.platform_lines(info, "SenderFunction")] == [
        line[:40] for line in run.PLATFORM_LINES_JSON]
    assert "X-Amzn-Trace-Id" in run.platform_lines(info, "SenderFunction")[-1]
    assert "X-Amzn-Trace-Id" not in run.platform_lines(info, "ApiFunction")[-1]  # PassThrough
    # AND a function's own ApplicationLogLevel is its own (Lambda filters by it)
    assert info["functions"]["ApiFunction"]["logging"]["application_log_level"] == "ERROR"
    # AND without a LoggingConfig, the text START/END/REPORT lines (the trace's on an Active function's REPORT)
    assert run.platform_lines(text, "ApiFunction") == run.PLATFORM_LINES
    assert run.platform_lines(text, "SenderFunction")[-1].startswith(run.PLATFORM_LINES[-1].rstrip("\n"))


def test_the_whole_path_is_metered_per_invocation_and_everything_is_priced():
    # GIVEN / WHEN three messages through intake, the sender, three status webhooks and the stream
    result = run.bench_path(3)

    # THEN every message was delivered and its three callbacks posted
    assert result["delivered"] == 3
    assert result["callbacks_per_message"] == 3.0
    # AND each function on the path was invoked and timed, the stream's at its batching
    functions = result["functions"]
    assert set(functions) == {"ApiFunction", "SenderFunction", "WebhookFunction", "CallbackFunction"}
    assert functions["WebhookFunction"]["invocations_per_message"] == 3.0
    assert all(f["billed_ms_median"] > 0 for f in functions.values())
    # AND the requests are real ones: intake writes the message, the sender's lease and every status are writes
    by_op = result["by_operation"]
    assert by_op.get("dynamodb.PutItem", 0) + by_op.get("dynamodb.TransactWriteItems", 0) >= 1
    assert by_op["dynamodb.UpdateItem"] >= 4
    assert result["requests_per_message"]["sqs_lambda_pollers"] > 0
    # AND logs (ours at the template's level, Lambda's lines, the access log) and X-Ray are priced
    assert result["log_bytes_per_message"]["ours"] > 0
    costs = result["cost_breakdown_per_million_usd"]
    assert all(costs[k] > 0 for k in ("api_gateway", "lambda", "dynamodb", "sqs", "cloudwatch_logs", "xray"))
    assert abs(result["cost_per_million_usd"] - sum(costs.values())) < 0.02


def test_one_message_per_batch_costs_more_lambda_and_sqs_than_full_batches():
    # GIVEN / WHEN the same path, each message drained alone with batch size 1
    full, single = run.bench_path(4), run.bench_path(2, batch1=True)

    # THEN the sender and the stream run once per message, and the pollers receive per message
    assert single["functions"]["SenderFunction"]["records_per_invocation"] == 1
    assert single["functions"]["CallbackFunction"]["records_per_invocation"] == 1
    assert single["requests_per_message"]["sqs"] > full["requests_per_message"]["sqs"]
    assert single["cost_per_million_usd"] > full["cost_per_million_usd"]
