"""Unit tests of contract.py, the check of rtjobs' answers against its OpenAPI document: on a
small document of its own, each kind of stray answer is reported with the method, path, status
and the JSON path of the field; answers that agree give no problem."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from contract import Contract  # noqa: E402

ERROR = {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
DOCUMENT = {
    "openapi": "3.0.3",
    "paths": {
        "/healthz": {"get": {"responses": {"200": {"description": "Alive"}}}},
        "/v1/jobs/{job_id}": {"get": {"operationId": "getJob", "responses": {
            "200": {"description": "A job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
            "404": ERROR}}},
        "/v1/jobs/process": {"post": {"operationId": "processJobs", "responses": {
            "200": {"description": "Results", "content": {"application/json": {"schema": {"type": "object",
                "required": ["results"], "properties": {"results": {"type": "array", "maxItems": 2,
                    "items": {"$ref": "#/components/schemas/Job"}}}}}}}}}},
        "/v1/things": {"get": {"operationId": "listThings", "responses": {
            "200": {"description": "Strict", "content": {"application/json": {"schema": {"type": "object",
                "additionalProperties": False, "properties": {"a": {"type": "integer"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "either": {"oneOf": [{"type": "integer"}, {"type": "string", "format": "date"}]}}}}}},
            "204": {"description": "No body"}}}},
    },
    "components": {"schemas": {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
            "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
        "Status": {"type": "string", "enum": ["PENDING", "FINISHED"]},
        "Settlement": {"type": "string", "enum": ["pending", "settled"]},
        "Job": {"type": "object", "required": ["id", "status", "retries"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "status": {"$ref": "#/components/schemas/Status"},
            "retries": {"type": "integer", "minimum": 0}, "due_at": {"type": "string", "format": "date-time"},
            "last_error": {"type": "string", "nullable": True},
            "settlement_status": {"type": "string", "allOf": [{"$ref": "#/components/schemas/Settlement"}], "nullable": True}}},
    }},
}
JOB = {"id": "0b5e3f4c-39b1-4c4e-9a42-3f7d1d9c8a10", "status": "PENDING", "retries": 0,
       "due_at": "2026-12-07T08:00:00Z", "last_error": None, "settlement_status": None}
JSON = "application/json"


def body(value):
    return json.dumps(value).encode()


class ContractTest(unittest.TestCase):
    def setUp(self):
        self.contract = Contract(DOCUMENT)

    def problems(self, value, method="GET", path="/v1/jobs/0b5e3f4c-39b1-4c4e-9a42-3f7d1d9c8a10",
                 status=200, content_type=JSON):
        return self.contract.problems(method, path, status, content_type,
                                      value if isinstance(value, bytes) else body(value))

    def assertOneProblem(self, problems, *parts):
        self.assertEqual(len(problems), 1, problems)
        for part in parts:
            self.assertIn(part, problems[0])

    def test_a_matching_answer_has_no_problem(self):
        self.assertEqual(self.problems(JOB), [])
        self.assertEqual(self.problems(dict(JOB, settlement_status="settled", last_error="x")), [])
        self.assertEqual(self.problems({"error": {"code": "not_found", "message": "no job"}}, status=404), [])
        self.assertEqual(self.problems(JOB, content_type="application/json; charset=utf-8"), [])
        self.assertEqual(self.problems({"a": 1, "labels": {"k": "v"}, "either": "2026-01-31"},
                                       path="/v1/things?x=1"), [])
        self.assertEqual(self.problems(b"", path="/v1/things", status=204, content_type=None), [])

    def test_a_wrong_type_is_reported_with_the_field_path(self):
        self.assertOneProblem(self.problems(dict(JOB, retries="0")),
                              "GET /v1/jobs/0b5e3f4c-39b1-4c4e-9a42-3f7d1d9c8a10 (getJob) -> 200",
                              "$.retries", "string", "integer")
        self.assertOneProblem(self.problems(dict(JOB, retries=True)), "$.retries", "boolean")
        self.assertOneProblem(self.problems([JOB]), "$:", "array", "object")

    def test_a_missing_required_field_is_reported(self):
        job = dict(JOB)
        del job["status"]
        self.assertOneProblem(self.problems(job), "$.status", "required")
        self.assertOneProblem(self.problems({"error": {"code": "x"}}, status=404), "$.error.message", "required")

    def test_an_undeclared_status_is_reported_with_the_declared_ones(self):
        self.assertOneProblem(self.problems(JOB, status=409), "status 409 is not declared",
                              "GET /v1/jobs/{job_id}", "declared: 200, 404")

    def test_an_undeclared_operation_or_path_is_reported(self):
        self.assertOneProblem(self.problems(JOB, method="DELETE"), "no DELETE operation on /v1/jobs/{job_id}")
        self.assertOneProblem(self.problems(JOB, path="/v1/nothing/here"), "no path of the document matches")
        self.assertOneProblem(self.problems(JOB, path="/v1/jobs/"), "no path of the document matches")

    def test_null_enum_and_format(self):
        self.assertOneProblem(self.problems(dict(JOB, status=None)), "$.status", "null")
        self.assertOneProblem(self.problems(dict(JOB, retries=None)), "$.retries", "null")
        self.assertOneProblem(self.problems(dict(JOB, status="DONE")), "$.status", "is not one of")
        self.assertOneProblem(self.problems(dict(JOB, settlement_status="lost")), "$.settlement_status", "is not one of")
        self.assertOneProblem(self.problems(dict(JOB, id="42")), "$.id", "uuid")
        self.assertOneProblem(self.problems(dict(JOB, due_at="2026-12-07 08:00")), "$.due_at", "date-time")
        self.assertOneProblem(self.problems(dict(JOB, retries=-1)), "$.retries", "minimum")

    def test_literal_paths_match_before_templates_and_items_are_checked(self):
        ok = {"results": [JOB]}
        self.assertEqual(self.problems(ok, method="POST", path="/v1/jobs/process"), [])
        self.assertOneProblem(self.problems({"results": [JOB, dict(JOB, id=7)]}, method="POST",
                                            path="/v1/jobs/process"),
                              "POST /v1/jobs/process (processJobs) -> 200", "$.results[1].id")
        self.assertOneProblem(self.problems({"results": [JOB] * 3}, method="POST", path="/v1/jobs/process"),
                              "maxItems")

    def test_additional_properties_one_of_and_bodies(self):
        self.assertOneProblem(self.problems({"a": 1, "b": 2}, path="/v1/things"), "$.b", "not a property")
        self.assertOneProblem(self.problems({"labels": {"k": 1}}, path="/v1/things"), "$.labels.k", "integer")
        self.assertOneProblem(self.problems({"either": True}, path="/v1/things"), "$.either", "0 of the oneOf")
        self.assertOneProblem(self.problems(b"{}", path="/v1/things", status=204), "declares no body")
        self.assertOneProblem(self.problems(JOB, content_type="text/plain"), "content type 'text/plain'")
        self.assertOneProblem(self.problems(b"not json"), "not JSON")

    def test_routes_outside_v1_are_not_checked(self):
        self.assertEqual(self.problems(b"anything", path="/healthz", status=599), [])
        self.assertEqual(self.problems(b"anything", path="/_control/transfers", status=500), [])
        self.assertEqual(self.problems(b"anything", path="/metrics", status=200, content_type="text/plain"), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
