#include "http/json_mapping.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/time_format.hpp"
#include "http/errors.hpp"

namespace rtjobs::http {
namespace {

using nlohmann::json;
using namespace std::string_literals;

json valid_body() {
  return json{{"external_id", "ext-1"},
              {"provider", "sandbox"},
              {"source_account", "acc_a"},
              {"destination_account", "acc_b"},
              {"amount", 5000},
              {"currency", "USD"},
              {"description", "rent"},
              {"schedule",
               {{"frequency", "MONTHLY"},
                {"day_of_month", -1},
                {"start_date", "2026-01-31"},
                {"execution_time", "09:30"},
                {"timezone", "Europe/Paris"},
                {"business_day", "FOLLOWING"},
                {"calendar", "US_FEDERAL_RESERVE"}}}};
}

TEST(JsonMapping, ParsesAValidTransfer) {
  auto t = parse_new_transfer(valid_body().dump());
  ASSERT_TRUE(t) << t.error().field << ": " << t.error().message;
  EXPECT_EQ(t->external_id, "ext-1");
  EXPECT_EQ(t->amount, 5000);
  EXPECT_EQ(t->schedule.frequency, Frequency::kMonthly);
  EXPECT_EQ(t->schedule.day_of_month, -1);
  EXPECT_EQ(t->schedule.execution_minutes, 9 * 60 + 30);
  EXPECT_EQ(t->schedule.business_day, BusinessDay::kFollowing);
  EXPECT_EQ(format_date(t->schedule.start_date), "2026-01-31");
}

TEST(JsonMapping, AppliesScheduleDefaults) {
  json body = valid_body();
  body["schedule"] = {{"frequency", "WEEKLY"}, {"start_date", "2026-03-04"}};
  body.erase("external_id");
  body.erase("description");
  auto t = parse_new_transfer(body.dump());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_FALSE(t->external_id);
  EXPECT_EQ(t->description, "");
  EXPECT_EQ(t->schedule.interval, 1);
  EXPECT_FALSE(t->schedule.day_of_week);  // left for the schedule engine (start_date's)
  EXPECT_FALSE(t->schedule.day_of_month);
  EXPECT_EQ(t->schedule.timezone, "UTC");
  EXPECT_EQ(t->schedule.execution_minutes, 0);
  EXPECT_EQ(t->schedule.business_day, BusinessDay::kNone);
}

struct Case {
  std::string name;
  std::function<void(json&)> edit;
  std::string field;
};

class RejectedBody : public testing::TestWithParam<Case> {};

// A case's name as a test name (letters and digits).
std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string n;
  for (char c : info.param.name) n.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return n;
}

TEST_P(RejectedBody, NamesTheField) {
  json body = valid_body();
  GetParam().edit(body);
  auto t = parse_new_transfer(body.dump());
  ASSERT_FALSE(t) << GetParam().name;
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.error().field, GetParam().field) << t.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Strict, RejectedBody,
    testing::Values(
        Case{"unknown", [](json& b) { b["colour"] = "red"; }, "colour"},
        Case{"unknown in schedule", [](json& b) { b["schedule"]["hour"] = 3; }, "schedule.hour"},
        Case{"float amount", [](json& b) { b["amount"] = 50.5; }, "amount"},
        Case{"integral float amount", [](json& b) { b["amount"] = 50.0; }, "amount"},
        Case{"string amount", [](json& b) { b["amount"] = "5000"; }, "amount"},
        Case{"zero amount", [](json& b) { b["amount"] = 0; }, "amount"},
        Case{"negative amount", [](json& b) { b["amount"] = -1; }, "amount"},
        Case{"huge amount", [](json& b) { b["amount"] = 18446744073709551615ull; }, "amount"},
        Case{"missing amount", [](json& b) { b.erase("amount"); }, "amount"},
        Case{"lower currency", [](json& b) { b["currency"] = "usd"; }, "currency"},
        Case{"long currency", [](json& b) { b["currency"] = "USDT"; }, "currency"},
        Case{"missing provider", [](json& b) { b.erase("provider"); }, "provider"},
        Case{"number provider", [](json& b) { b["provider"] = 3; }, "provider"},
        Case{"empty source", [](json& b) { b["source_account"] = ""; }, "source_account"},
        Case{"missing schedule", [](json& b) { b.erase("schedule"); }, "schedule"},
        Case{"schedule not object", [](json& b) { b["schedule"] = "monthly"; }, "schedule"},
        Case{"bad frequency", [](json& b) { b["schedule"]["frequency"] = "HOURLY"; },
             "schedule.frequency"},
        Case{"day_of_month 32", [](json& b) { b["schedule"]["day_of_month"] = 32; },
             "schedule.day_of_month"},
        Case{"day_of_month 0", [](json& b) { b["schedule"]["day_of_month"] = 0; },
             "schedule.day_of_month"},
        Case{"day_of_month -6", [](json& b) { b["schedule"]["day_of_month"] = -6; },
             "schedule.day_of_month"},
        Case{"day_of_month string", [](json& b) { b["schedule"]["day_of_month"] = "1"; },
             "schedule.day_of_month"},
        Case{"day_of_week on monthly", [](json& b) { b["schedule"]["day_of_week"] = 1; },
             "schedule.day_of_week"},
        Case{"month on monthly", [](json& b) { b["schedule"]["month"] = 1; }, "schedule.month"},
        Case{"interval 0", [](json& b) { b["schedule"]["interval"] = 0; }, "schedule.interval"},
        Case{"bad start", [](json& b) { b["schedule"]["start_date"] = "2026-02-30"; },
             "schedule.start_date"},
        Case{"missing start", [](json& b) { b["schedule"].erase("start_date"); },
             "schedule.start_date"},
        Case{"end before start", [](json& b) { b["schedule"]["end_date"] = "2025-01-01"; },
             "schedule.end_date"},
        Case{"count 0", [](json& b) { b["schedule"]["count"] = 0; }, "schedule.count"},
        Case{"execution 24:00", [](json& b) { b["schedule"]["execution_time"] = "24:00"; },
             "schedule.execution_time"},
        Case{"execution 9:30", [](json& b) { b["schedule"]["execution_time"] = "9:30"; },
             "schedule.execution_time"},
        Case{"bad business day", [](json& b) { b["schedule"]["business_day"] = "NEXT"; },
             "schedule.business_day"}),
    case_name);

TEST(JsonMapping, RailIsBookUnlessTheBodySaysAch) {
  auto t = parse_new_transfer(valid_body().dump());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->rail, Rail::kBook);
  EXPECT_FALSE(t->provider_options);
  json body = valid_body();
  body["rail"] = "ach";
  t = parse_new_transfer(body.dump());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->rail, Rail::kAch);
  body["rail"] = nullptr;
  body["provider_options"] = nullptr;  // null is the same as absent
  t = parse_new_transfer(body.dump());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->rail, Rail::kBook);
  EXPECT_FALSE(t->provider_options);
}

TEST(JsonMapping, ProviderOptionsAreKeptAsCompactText) {
  json body = valid_body();
  body["provider_options"] = json::parse(R"({ "statement_descriptor" : "RENT 42",
                                              "addenda": [ {"x": 1} ], "note": "café" })");
  auto t = parse_new_transfer(body.dump(2));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->provider_options,
            R"({"addenda":[{"x":1}],"note":"café","statement_descriptor":"RENT 42"})");
  // Exactly the limit, compact, passes (the client's spacing does not count).
  const std::string prefix = R"({"k":")";
  body["provider_options"] = {
      {"k", std::string(kMaxProviderOptionsBytes - prefix.size() - 2, 'a')}};
  t = parse_new_transfer(body.dump(4));
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->provider_options->size(), kMaxProviderOptionsBytes);
}

INSTANTIATE_TEST_SUITE_P(
    BankFields, RejectedBody,
    testing::Values(
        Case{"rail wire", [](json& b) { b["rail"] = "wire"; }, "rail"},
        Case{"rail upper case", [](json& b) { b["rail"] = "ACH"; }, "rail"},
        Case{"rail number", [](json& b) { b["rail"] = 1; }, "rail"},
        Case{"options string", [](json& b) { b["provider_options"] = "{}"; }, "provider_options"},
        Case{"options array", [](json& b) { b["provider_options"] = json::array({1}); },
             "provider_options"},
        Case{"options number", [](json& b) { b["provider_options"] = 3; }, "provider_options"},
        Case{"options too large",
             [](json& b) {
               b["provider_options"] = {
                   {"k", std::string(kMaxProviderOptionsBytes - 7, 'a')}};  // one byte over
             },
             "provider_options"}),
    case_name);

TEST(JsonMapping, RejectsNonObjects) {
  EXPECT_EQ(parse_new_transfer("not json").error().field, "body");
  EXPECT_EQ(parse_new_transfer("[1,2]").error().field, "body");
  EXPECT_EQ(parse_new_transfer("").error().field, "body");
}

Job sample_job() {
  Job j;
  j.id = "0190a0c0-0000-7000-8000-000000000001";
  j.recurring_transfer_id = "0190a0c0-0000-7000-8000-000000000002";
  j.sequence = 3;
  j.scheduled_for = *parse_date("2026-11-30");
  j.due_at = *parse_timestamp("2026-11-30T09:00:00.000Z");
  j.provider = "sandbox";
  return j;
}

TEST(JsonMapping, JobJsonUsesColumnNames) {
  Job j = sample_job();
  j.status = JobStatus::kFinished;
  j.result = JobResult::kSucceeded;
  j.idempotency_key = "key";
  json v = to_json(j);
  EXPECT_EQ(v["scheduled_for"], "2026-11-30");
  EXPECT_EQ(v["due_at"], "2026-11-30T09:00:00.000Z");
  EXPECT_EQ(v["status"], "FINISHED");
  EXPECT_EQ(v["result"], "SUCCEEDED");
  EXPECT_TRUE(v["next_attempt_at"].is_null());
  EXPECT_TRUE(v["finished_at"].is_null());
  for (const char* k :
       {"id", "recurring_transfer_id", "sequence", "retries", "provider", "provider_reference",
        "idempotency_key", "last_error", "created_at", "updated_at"}) {
    EXPECT_TRUE(v.contains(k)) << k;
  }
}

TEST(JsonMapping, JobJsonIsTheDumpOfToJson) {
  Job j = sample_job();
  j.idempotency_key = "0190a0c0-0000-7000-8000-000000000002:3";
  EXPECT_EQ(job_json(j), dump(to_json(j)));  // nulls
  j.status = JobStatus::kFinished;
  j.result = JobResult::kDeclined;
  j.retries = 2;
  j.next_attempt_at = *parse_timestamp("2026-11-30T10:00:00.000Z");
  j.provider_reference = "ref";
  j.last_error = std::string("HTTP 402 \"quoted\" back\\slash\b\f\n\r\t\x01\x1f\x7f");
  j.lease_owner = "owner";
  j.lease_expires_at = *parse_timestamp("2026-11-30T09:00:20.000Z");
  j.finished_at = *parse_timestamp("2026-11-30T09:00:01.250Z");
  EXPECT_EQ(job_json(j), dump(to_json(j)));  // every field, escapes
  j.last_error = "caf\xc3\xa9 and an invalid \xff byte";
  EXPECT_EQ(job_json(j), dump(to_json(j)));  // UTF-8, valid and not
}

TEST(JsonMapping, TransferJsonNestsTheSchedule) {
  RecurringTransfer t;
  t.id = "x";
  t.amount = 5000;
  t.schedule.start_date = *parse_date("2026-01-31");
  t.schedule.execution_minutes = 9 * 60 + 5;
  t.schedule.day_of_month = 31;
  json v = to_json(t);
  EXPECT_EQ(v["amount"], 5000);
  EXPECT_EQ(v["schedule"]["execution_time"], "09:05");
  EXPECT_EQ(v["schedule"]["start_date"], "2026-01-31");
  EXPECT_EQ(v["schedule"]["frequency"], "MONTHLY");
  EXPECT_EQ(v["schedule"]["day_of_month"], 31);
  EXPECT_TRUE(v["schedule"]["end_date"].is_null());
  EXPECT_EQ(v["status"], "ACTIVE");
}

TEST(JsonMapping, TransferJsonCarriesRailAndProviderOptionsAsAnObject) {
  RecurringTransfer t;
  t.schedule.start_date = *parse_date("2026-01-31");
  json v = to_json(t);
  EXPECT_EQ(v["rail"], "book");
  EXPECT_TRUE(v.contains("provider_options"));
  EXPECT_TRUE(v["provider_options"].is_null());
  t.rail = Rail::kAch;
  t.provider_options = R"({"memo":"rent","sec_code":"PPD"})";
  v = to_json(t);
  EXPECT_EQ(v["rail"], "ach");
  EXPECT_EQ(v["provider_options"], json({{"memo", "rent"}, {"sec_code", "PPD"}}));
}

TEST(JsonMapping, JobJsonCarriesTheBankStatus) {
  Job j = sample_job();
  EXPECT_TRUE(to_json(j)["bank_status"].is_null());
  EXPECT_EQ(job_json(j), dump(to_json(j)));
  j.bank_status = "pending_submission";
  EXPECT_EQ(to_json(j)["bank_status"], "pending_submission");
  EXPECT_EQ(job_json(j), dump(to_json(j)));
  j.bank_status = "Überwiesen";  // not ASCII: the slow path, same bytes
  EXPECT_EQ(job_json(j), dump(to_json(j)));
}

// Every text field of a create-transfer body, as a JSON pointer and its kind (http/text.hpp).
struct TextField {
  const char* pointer;
  const char* name;
  bool free_text;
};
constexpr TextField kTransferText[] = {
    {"/external_id", "external_id", false},
    {"/provider", "provider", false},
    {"/source_account", "source_account", false},
    {"/destination_account", "destination_account", false},
    {"/currency", "currency", false},
    {"/description", "description", true},
    {"/rail", "rail", false},
    {"/schedule/frequency", "schedule.frequency", false},
    {"/schedule/start_date", "schedule.start_date", false},
    {"/schedule/end_date", "schedule.end_date", false},
    {"/schedule/timezone", "schedule.timezone", false},
    {"/schedule/execution_time", "schedule.execution_time", false},
    {"/schedule/business_day", "schedule.business_day", false},
    {"/schedule/calendar", "schedule.calendar", false},
    {"/provider_options/memo", "provider_options.memo", false},
};

TEST(JsonMapping, EveryTextFieldRefusesNulAndIdentifiersEveryControlCharacter) {
  for (const TextField& f : kTransferText) {
    for (int c = 0; c < 0x20; ++c) {
      for (int del : {0, 1}) {
        char ch = del ? '\x7F' : static_cast<char>(c);
        if (del && c > 0) continue;
        json body = valid_body();
        body["rail"] = "book";
        body["schedule"]["end_date"] = "2099-12-31";
        json::json_pointer ptr(f.pointer);
        std::string value = body.contains(ptr) ? body[ptr].get<std::string>() : "m";
        value.insert(1, 1, ch);
        body[ptr] = value;
        auto t = parse_new_transfer(body.dump());
        if (f.free_text && ch != 0) {
          ASSERT_TRUE(t) << f.name << " " << c << ": " << t.error().message;
          EXPECT_EQ(t->description, value) << c;  // kept, byte for byte
          continue;
        }
        ASSERT_FALSE(t) << f.name << " " << c;
        EXPECT_EQ(t.error().field, f.name) << c << ": " << t.error().message;
        EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
      }
    }
  }
}

TEST(JsonMapping, NulAnywhereInTheBodyIsNamed) {
  json body = valid_body();
  body["provider_options"] = {{"nested", {{"deep", json::array({"ok", "n\0"s})}}}};
  auto t = parse_new_transfer(body.dump());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "provider_options.nested.deep[1]");
  body = valid_body();
  body["surprise\0"s] = 1;  // an unknown field's name: named as sent
  t = parse_new_transfer(body.dump());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "surprise\0"s);
  // The bytes a client's JSON library writes for NUL.
  t = parse_new_transfer(R"({"source_account": "acc\u0000evil"})");
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "source_account");
}

TEST(JsonMapping, AnEmptyKeyIsNamedAsJsonWritesIt) {
  json body = valid_body();
  body[""] = "ach";  // found by the json_mapping fuzzer: the refusal named no field
  auto t = parse_new_transfer(body.dump());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, R"("")");
  EXPECT_EQ(t.error().message, R"(unknown field "")");
}

TEST(JsonMapping, ProviderOptionsNamesAndValuesAreIdentifiers) {
  for (const json& options : {json{{"me\x01mo", "x"}},
                              json{{"memo",
                                    "a\x1F"
                                    "b"}},
                              json{{"memo", {{"inner", "a\nb"}}}}, json{{"list", {"a\x7F"}}}}) {
    json body = valid_body();
    body["provider_options"] = options;
    auto t = parse_new_transfer(body.dump());
    ASSERT_FALSE(t) << options.dump();
    EXPECT_TRUE(t.error().field.starts_with("provider_options.")) << t.error().field;
  }
  json body = valid_body();
  body["provider_options"] = {{"memo", "caf\u00e9 \u2603"}};
  auto t = parse_new_transfer(body.dump());
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(json::parse(*t->provider_options), body["provider_options"]);
}

TEST(JsonMapping, RawBadBytesAreNamedByTheirField) {
  std::string body = valid_body().dump();
  std::string bad = body;
  bad.replace(bad.find("acc_a"), 5, "acc\xFF");
  auto t = parse_new_transfer(bad);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "source_account");
  bad = body;
  bad.replace(bad.find("rent"), 4, "re\tnt");  // a tab JSON wants escaped
  t = parse_new_transfer(bad);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().field, "description");
  bad = body;
  bad.replace(bad.find("rent"), 4, "re\x7Fnt");  // DEL needs no escape in JSON: free text keeps it
  t = parse_new_transfer(bad);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->description, "re\x7Fnt");
}

TEST(JsonMapping, WebhookEndpointBody) {
  auto e = parse_webhook_endpoint(
      R"({"url": "https://example.com/h", "event_types": ["job.failed", "job.failed"],
          "description": "ledger\u0001\ttabs"})");
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->url, "https://example.com/h");
  EXPECT_EQ(e->event_types, std::vector<std::string>{"job.failed"});
  EXPECT_EQ(e->description, "ledger\x01\ttabs");
  auto field_of = [](const std::string& body) {
    auto r = parse_webhook_endpoint(body);
    return r ? std::string("(none)") : r.error().field;
  };
  EXPECT_EQ(field_of(R"({"url": "https://e.com/\u0000x"})"), "url");
  EXPECT_EQ(field_of(R"({"url": "https://e.com/\u0001x"})"), "url");
  EXPECT_EQ(field_of(R"({"url": "https://e.com/", "description": "a\u0000b"})"), "description");
  EXPECT_EQ(field_of(R"({"url": "https://e.com/", "event_types": ["job.failed\u0000"]})"),
            "event_types[0]");
  EXPECT_EQ(field_of(R"({"url": "https://e.com/", "event_types": ["job.failed\u0001"]})"),
            "event_types");
  EXPECT_EQ(field_of("{\"url\": \"https://e.com/\", \"description\": \"a\xC3\x28\"}"),
            "description");
  EXPECT_EQ(field_of(R"({"url": "https://e.com/", "colour": "blue"})"), "colour");
  EXPECT_EQ(field_of(R"({"event_types": ["job.failed"]})"), "url");
  EXPECT_EQ(field_of(R"({"url": 7})"), "url");
  EXPECT_EQ(
      field_of(R"({"url": "https://e.com/", "description": ")" + std::string(256, 'd') + "\"}"),
      "description");
}

TEST(Errors, MapsCodesToStatuses) {
  EXPECT_EQ(http_status(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(http_status(ErrorCode::kNotFound), 404);
  EXPECT_EQ(http_status(ErrorCode::kConflict), 409);
  EXPECT_EQ(http_status(ErrorCode::kUnprocessable), 422);
  EXPECT_EQ(http_status(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(http_status(ErrorCode::kInternal), 500);
  Response r = error_response(Error{ErrorCode::kConflict, "busy", "", "job_in_progress"});
  json body = json::parse(r.body);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(body["error"]["code"], "job_in_progress");
  EXPECT_FALSE(body["error"].contains("field"));
  r = error_response(Error{ErrorCode::kInternal, "secret detail", "", ""});
  EXPECT_EQ(r.body.find("secret detail"), std::string::npos);
}

}  // namespace
}  // namespace rtjobs::http
