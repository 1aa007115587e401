// The OpenAPI 3 description of the API served at GET /openapi.json. Kept beside the routes;
// http_unit_tests checks that it parses and lists every registered route. The create request's
// examples show one transfer per real bank (its rail and provider_options; docs/BANKS.md).
#include "http/routes.hpp"

namespace rtjobs::http {

std::string_view openapi_document() {
  static constexpr std::string_view kDocument = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "rtjobs",
    "version": "1.0.0",
    "description": "Jobs server for recurring bank transfers. Errors are {\"error\": {\"code\", \"message\", \"field\"}}."
  },
  "security": [{"bearer": []}],
  "paths": {
    "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "Alive"}}}},
    "/readyz": {"get": {"summary": "Readiness (the database answers)", "security": [],
      "description": "200 while the database answers, even with providers paused (their jobs wait; the others run): paused_providers names them.",
      "responses": {"200": {"description": "Ready", "content": {"application/json": {"schema": {"type": "object",
          "required": ["status", "paused_providers"], "properties": {"status": {"type": "string", "enum": ["ready"]},
          "paused_providers": {"type": "array", "items": {"type": "object", "required": ["provider", "state", "reason"], "properties": {
            "provider": {"type": "string"}, "state": {"type": "string", "enum": ["paused", "probing"]},
            "reason": {"type": "string", "description": "The answer that paused it, e.g. HTTP 503"}}}}}},
          "example": {"status": "ready", "paused_providers": [{"provider": "increase", "state": "paused", "reason": "HTTP 503 unavailable"}]}}}},
        "503": {"description": "Database unavailable"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Prometheus text format",
      "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}}}},
    "/v1/jobs/{job_id}/process": {"post": {"summary": "Process one job now (the Processor Lambda's call)",
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"$ref": "#/components/responses/Job"}, "400": {"$ref": "#/components/responses/Error"},
        "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"description": "job_in_progress or job_not_due", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/v1/jobs/process": {"post": {"summary": "Process up to 100 jobs",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "additionalProperties": false,
        "required": ["job_ids"], "properties": {"job_ids": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "format": "uuid"}}}}}}},
      "responses": {"200": {"description": "One result per id, in request order", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"results": {"type": "array", "items": {"type": "object", "properties": {
          "job_id": {"type": "string"}, "http_status": {"type": "integer"}, "job": {"$ref": "#/components/schemas/Job"},
          "error": {"$ref": "#/components/schemas/ErrorBody"}}}}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}}}},
    "/v1/jobs": {"get": {"summary": "List jobs",
      "parameters": [{"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/JobStatus"}},
        {"name": "result", "in": "query", "schema": {"type": "string", "enum": ["SUCCEEDED", "DECLINED", "RETURNED"]}},
        {"name": "settlement_status", "in": "query", "schema": {"$ref": "#/components/schemas/SettlementStatus"}},
        {"name": "recurring_transfer_id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
        {"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}],
      "responses": {"200": {"$ref": "#/components/responses/JobPage"}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/jobs/{job_id}": {"get": {"summary": "Get a job", "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"$ref": "#/components/responses/Job"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/jobs/{job_id}/provider-statuses": {"get": {"summary": "The BaaS answers of a job that were not a success",
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"description": "Oldest first", "content": {"application/json": {"schema": {"type": "object",
        "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ProviderStatus"}}}}}}},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/jobs/{job_id}/retry": {"post": {"summary": "FAILED -> RETRY, due now, with a fresh round of retries",
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "responses": {"200": {"$ref": "#/components/responses/Job"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"description": "job_not_failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/v1/recurring-transfers": {
      "post": {"summary": "Create a recurring transfer",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewTransfer"},
          "examples": {
            "book": {"summary": "A monthly book transfer (every provider carries these)", "value": {
              "external_id": "rent-42", "provider": "sandbox", "source_account": "acc_a", "destination_account": "acc_b",
              "amount": 5000, "currency": "USD", "description": "rent", "rail": "book",
              "schedule": {"frequency": "MONTHLY", "day_of_month": -1, "start_date": "2026-01-31"}}},
            "treasury_prime_ach": {"summary": "Treasury Prime: ACH credit to a counterparty (provider type treasury_prime; the amount goes out as \"50.00\")", "value": {
              "provider": "treasury_prime", "source_account": "acct_11gv9z0sfz6kt5", "destination_account": "cp_11gr7cmu3t2b5k",
              "amount": 5000, "currency": "USD", "description": "rent", "rail": "ach",
              "provider_options": {"sec_code": "ppd", "service": "standard"},
              "schedule": {"frequency": "MONTHLY", "day_of_month": 1, "start_date": "2026-02-01"}}},
            "increase_ach": {"summary": "Increase: ACH transfer to an external account (provider type increase)", "value": {
              "provider": "increase", "source_account": "account_in71c4amph0vgo2qllky", "destination_account": "external_account_ukk55lr923a3ac0pp7iv",
              "amount": 5000, "currency": "USD", "description": "rent", "rail": "ach",
              "provider_options": {"statement_descriptor": "RENT", "individual_name": "Ian Crease"},
              "schedule": {"frequency": "MONTHLY", "day_of_month": 1, "start_date": "2026-02-01"}}},
            "column_ach": {"summary": "Column: ACH credit to a counterparty (provider type column)", "value": {
              "provider": "column", "source_account": "bacc_2aAi0vvEr1A1F1dXbTQJDnjXmwa", "destination_account": "cpty_2aAi2cPjNJt6BkUa8XkgYbAiyWG",
              "amount": 5000, "currency": "USD", "description": "rent", "rail": "ach",
              "provider_options": {"entry_class_code": "PPD", "company_entry_description": "RENT"},
              "schedule": {"frequency": "MONTHLY", "day_of_month": 1, "start_date": "2026-02-01"}}},
            "unit_ach": {"summary": "Unit: ACH payment to a linked counterparty (provider type unit; the ACH description holds 10 characters)", "value": {
              "provider": "unit", "source_account": "10001", "destination_account": "4567",
              "amount": 5000, "currency": "USD", "description": "rent for the flat on Main St", "rail": "ach",
              "provider_options": {"company_entry_description": "RENT", "sec_code": "PPD"},
              "schedule": {"frequency": "MONTHLY", "day_of_month": 1, "start_date": "2026-02-01"}}}}}}},
        "responses": {"201": {"$ref": "#/components/responses/Transfer"}, "200": {"$ref": "#/components/responses/Transfer"},
          "400": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "List recurring transfers",
        "parameters": [{"name": "status", "in": "query", "schema": {"type": "string", "enum": ["ACTIVE", "PAUSED", "CANCELLED", "COMPLETED"]}},
          {"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {
          "data": {"type": "array", "items": {"$ref": "#/components/schemas/Transfer"}}, "next_cursor": {"type": "string", "nullable": true}}}}}}}}},
    "/v1/recurring-transfers/{id}": {"get": {"summary": "Get a recurring transfer",
      "parameters": [{"$ref": "#/components/parameters/TransferId"}],
      "responses": {"200": {"$ref": "#/components/responses/Transfer"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/recurring-transfers/{id}/pause": {"post": {"summary": "ACTIVE -> PAUSED",
      "parameters": [{"$ref": "#/components/parameters/TransferId"}],
      "responses": {"200": {"$ref": "#/components/responses/Transfer"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/recurring-transfers/{id}/resume": {"post": {"summary": "PAUSED -> ACTIVE",
      "parameters": [{"$ref": "#/components/parameters/TransferId"}],
      "responses": {"200": {"$ref": "#/components/responses/Transfer"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/recurring-transfers/{id}/cancel": {"post": {"summary": "ACTIVE or PAUSED -> CANCELLED; its pending jobs become CANCELLED",
      "parameters": [{"$ref": "#/components/parameters/TransferId"}],
      "responses": {"200": {"$ref": "#/components/responses/Transfer"}, "404": {"$ref": "#/components/responses/Error"},
        "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/recurring-transfers/{id}/jobs": {"get": {"summary": "Past and upcoming occurrences of a transfer",
      "parameters": [{"$ref": "#/components/parameters/TransferId"}, {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/JobStatus"}},
        {"name": "result", "in": "query", "schema": {"type": "string", "enum": ["SUCCEEDED", "DECLINED", "RETURNED"]}},
        {"name": "settlement_status", "in": "query", "schema": {"$ref": "#/components/schemas/SettlementStatus"}},
        {"$ref": "#/components/parameters/Limit"}, {"$ref": "#/components/parameters/Cursor"}],
      "responses": {"200": {"$ref": "#/components/responses/JobPage"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/bank-webhooks/{provider}": {"post": {"summary": "A bank's webhook delivery (settlement and returns)",
      "description": "The one route without the bearer token: the bank's own signature authenticates it, verified with the secret named by the provider's webhook_secret_env (Increase: Standard Webhooks, or the legacy Increase-Webhook-Signature; Column: Column-Signature; Unit: X-Unit-Signature; Treasury Prime: HTTP Basic; the generic http protocol: Standard Webhooks). Answered once the events are stored; they are applied afterwards. A repeated event id is stored once.",
      "security": [],
      "parameters": [{"name": "provider", "in": "path", "required": true, "schema": {"type": "string"}, "description": "The provider's name in the configuration"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "description": "The bank's own event body"}}}},
      "responses": {"200": {"description": "Stored", "content": {"application/json": {"schema": {"type": "object",
          "required": ["received", "duplicates"], "properties": {"received": {"type": "integer"}, "duplicates": {"type": "integer", "description": "Events already stored earlier (a redelivery)"}}}}}},
        "400": {"$ref": "#/components/responses/Error"},
        "401": {"description": "Missing, wrong or stale signature: nothing stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
        "503": {"$ref": "#/components/responses/Error"}}}}
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "parameters": {
      "JobId": {"name": "job_id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
      "TransferId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}},
      "Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
      "Cursor": {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "Opaque, from next_cursor"}
    },
    "responses": {
      "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
      "Job": {"description": "A job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
      "Transfer": {"description": "A recurring transfer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Transfer"}}}},
      "JobPage": {"description": "A page of jobs", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "next_cursor": {"type": "string", "nullable": true}}}}}}
    },
    "schemas": {
      "ErrorBody": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}}},
      "Rail": {"type": "string", "enum": ["book", "ach"], "default": "book",
        "description": "book: between two accounts at the same bank; ach: destination_account is the bank's id of the counterparty or external account. A provider that cannot carry the rail answers 400 with field rail"},
      "ProviderOptions": {"type": "object", "nullable": true, "additionalProperties": true,
        "description": "Adapter-specific fields, checked by the transfer's provider when it is created (400 with field provider_options.<name>); at most 16 KiB as compact JSON. Absent or null: none. See the examples of POST /v1/recurring-transfers"},
      "JobStatus": {"type": "string", "enum": ["PENDING", "IN_FLY", "PROCESSING", "RETRY", "FINISHED", "FAILED", "SKIPPED", "CANCELLED"]},
      "Job": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "recurring_transfer_id": {"type": "string", "format": "uuid"},
        "sequence": {"type": "integer"}, "scheduled_for": {"type": "string", "format": "date"},
        "due_at": {"type": "string", "format": "date-time"}, "status": {"$ref": "#/components/schemas/JobStatus"},
        "result": {"type": "string", "enum": ["SUCCEEDED", "DECLINED", "RETURNED"], "nullable": true,
          "description": "RETURNED: accepted, then returned by the bank (an ACH return); DECLINED also when the bank canceled an accepted transfer"},
        "retries": {"type": "integer"},
        "next_attempt_at": {"type": "string", "format": "date-time", "nullable": true}, "provider": {"type": "string"},
        "provider_reference": {"type": "string", "nullable": true},
        "bank_status": {"type": "string", "nullable": true, "description": "The bank's own status of the transfer at its last answer that gave one, as the bank spells it"},
        "idempotency_key": {"type": "string"},
        "last_error": {"type": "string", "nullable": true}, "lease_owner": {"type": "string", "nullable": true},
        "lease_expires_at": {"type": "string", "format": "date-time", "nullable": true},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time", "nullable": true},
        "settlement_status": {"allOf": [{"$ref": "#/components/schemas/SettlementStatus"}], "nullable": true,
          "description": "Null where the rail settled at once (or nothing was accepted)"},
        "settled_at": {"type": "string", "format": "date-time", "nullable": true},
        "return_code": {"type": "string", "nullable": true, "description": "The Nacha code of the last return, e.g. R01"},
        "presentment": {"type": "integer", "minimum": 0, "maximum": 2, "description": "Times a returned occurrence (R01/R09) was presented again, each under the key {idempotency_key}:r{n}"}}},
      "SettlementStatus": {"type": "string", "enum": ["pending", "settled", "returned", "canceled", "unknown"],
        "description": "unknown: the follow window (RT_SETTLEMENT_FOLLOW_DAYS) ran out before the bank said"},
      "ProviderStatus": {"type": "object", "properties": {
        "id": {"type": "string"}, "job_id": {"type": "string"}, "recurring_transfer_id": {"type": "string"},
        "provider": {"type": "string"}, "attempt": {"type": "integer"}, "http_status": {"type": "integer", "nullable": true},
        "code": {"type": "string", "nullable": true}, "message": {"type": "string", "nullable": true},
        "response_body": {"type": "string", "nullable": true}, "created_at": {"type": "string", "format": "date-time"}}},
      "Schedule": {"type": "object", "additionalProperties": false, "required": ["frequency", "start_date"], "properties": {
        "frequency": {"type": "string", "enum": ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]},
        "interval": {"type": "integer", "minimum": 1, "default": 1},
        "day_of_week": {"type": "integer", "minimum": 1, "maximum": 7, "description": "WEEKLY; default: start_date's"},
        "day_of_month": {"type": "integer", "minimum": -5, "maximum": 31, "description": "MONTHLY/YEARLY: 1..31 or -1..-5; default: start_date's"},
        "month": {"type": "integer", "minimum": 1, "maximum": 12, "description": "YEARLY; default: start_date's"},
        "start_date": {"type": "string", "format": "date"}, "end_date": {"type": "string", "format": "date", "nullable": true},
        "count": {"type": "integer", "minimum": 1, "nullable": true}, "timezone": {"type": "string", "default": "UTC"},
        "execution_time": {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$", "default": "00:00"},
        "business_day": {"type": "string", "enum": ["NONE", "FOLLOWING", "PRECEDING", "MODIFIED_FOLLOWING"], "default": "NONE"},
        "calendar": {"type": "string", "default": "WEEKENDS"}}},
      "NewTransfer": {"type": "object", "additionalProperties": false,
        "required": ["provider", "source_account", "destination_account", "amount", "currency", "schedule"], "properties": {
        "external_id": {"type": "string", "nullable": true}, "provider": {"type": "string"},
        "source_account": {"type": "string"}, "destination_account": {"type": "string"},
        "amount": {"type": "integer", "minimum": 1, "description": "Minor units"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}, "description": {"type": "string"},
        "rail": {"$ref": "#/components/schemas/Rail"}, "provider_options": {"$ref": "#/components/schemas/ProviderOptions"},
        "schedule": {"$ref": "#/components/schemas/Schedule"}}},
      "Transfer": {"type": "object", "properties": {
        "id": {"type": "string", "format": "uuid"}, "external_id": {"type": "string", "nullable": true},
        "provider": {"type": "string"}, "source_account": {"type": "string"}, "destination_account": {"type": "string"},
        "amount": {"type": "integer"}, "currency": {"type": "string"}, "description": {"type": "string"},
        "rail": {"$ref": "#/components/schemas/Rail"}, "provider_options": {"$ref": "#/components/schemas/ProviderOptions"},
        "schedule": {"$ref": "#/components/schemas/Schedule"},
        "status": {"type": "string", "enum": ["ACTIVE", "PAUSED", "CANCELLED", "COMPLETED"]},
        "status_reason": {"type": "string", "nullable": true, "description": "Why rtjobs changed the status itself, e.g. account_return:R02 (an account-level return paused it); null after a client's change"},
        "idempotency_key": {"type": "string", "nullable": true},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}}
    }
  }
})json";
  return kDocument;
}

}  // namespace rtjobs::http
