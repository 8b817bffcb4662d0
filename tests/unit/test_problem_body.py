"""problem+json has one builder (wa_notify.http.problem_body) and one documented shape
(models.Problem, what docs/openapi.json shows): these tests keep the two from drifting apart."""

import json

from wa_notify.http import PROBLEM_JSON, problem, problem_body
from wa_notify.models import Problem


def test_the_body_has_exactly_the_documented_fields_in_order():
    # GIVEN a problem with one field error
    body = problem_body(422, "Unprocessable request", "1 problem(s) with the request", [{"field": "to", "message": "not a phone number"}])
    # WHEN it is read back through the OpenAPI model
    documented = Problem.model_validate(body).model_dump()
    # THEN the keys are the model's, in its order, and nothing is lost or added
    assert list(body) == list(Problem.model_fields) == ["type", "title", "status", "detail", "errors"]
    assert documented == body


def test_no_errors_is_an_empty_list_not_null():
    # GIVEN / WHEN a problem without field errors
    body = problem_body(404, "Not found", "no route GET /x")
    # THEN errors is [] (clients iterate it) and type is about:blank
    assert body == {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no route GET /x", "errors": []}


def test_the_response_carries_the_body_and_the_problem_content_type():
    # GIVEN / WHEN the API's response for a problem
    response = problem(429, "Too many requests", "over the daily quota", headers={"Retry-After": "60"})
    # THEN it is application/problem+json with the same body and the extra header
    assert response.status_code == 429
    assert response.content_type == PROBLEM_JSON
    assert json.loads(response.body) == problem_body(429, "Too many requests", "over the daily quota")
    assert response.headers["Retry-After"] == "60"
