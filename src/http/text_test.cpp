#include "http/text.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace rtjobs::http {
namespace {

using nlohmann::json;

using namespace std::string_literals;

// Well-formed and ill-formed UTF-8 (Unicode table 3-7 and its edges).
TEST(Text, Utf8Validation) {
  for (const std::string& ok :
       {""s, "plain"s, "caf\xC3\xA9"s, "\xE2\x98\x83"s, "\xF0\x9D\x84\x9E"s, "\xEF\xBF\xBF"s,
        "\xF4\x8F\xBF\xBF"s, "\xED\x9F\xBF"s, "\x7F"s, "\0"s}) {
    EXPECT_TRUE(is_valid_utf8(ok)) << ok;
  }
  for (const std::string& bad :
       {"\xFF"s, "\xFE"s, "\x80"s, "\xBF"s, "\xC3\x28"s, "\xC3"s, "\xE2\x82"s, "\xE2\x28\xA1"s,
        "\xF0\x28\x8C\xBC"s, "\xC0\xAF"s, "\xC1\xBF"s, "\xE0\x80\xAF"s, "\xF0\x80\x80\xAF"s,
        "\xED\xA0\x80"s, "\xED\xBF\xBF"s, "\xF4\x90\x80\x80"s, "\xF5\x80\x80\x80"s,
        "\xF8\x88\x80\x80\x80"s, "ok\xFF"s}) {
    EXPECT_FALSE(is_valid_utf8(bad)) << json(to_valid_utf8(bad)).dump();
    EXPECT_TRUE(is_valid_utf8(to_valid_utf8(bad)));
  }
  EXPECT_EQ(to_valid_utf8("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(Text, IdentifiersRefuseEveryControlCharacterFreeTextOnlyNul) {
  for (int c = 0; c < 0x20; ++c) {
    std::string value =
        std::string("a").append(1, static_cast<char>(c)).append("b");  // GCC bug 105329
    auto id = check_text("source_account", value, TextKind::kIdentifier);
    ASSERT_FALSE(id) << c;
    EXPECT_EQ(id.error().field, "source_account");
    EXPECT_EQ(id.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(check_text("description", value, TextKind::kFreeText).has_value(), c != 0) << c;
  }
  EXPECT_FALSE(check_text("currency", "US\x7F", TextKind::kIdentifier));
  EXPECT_TRUE(check_text("description", "r\x7Fnt\ttab\nline", TextKind::kFreeText));
  auto nul = check_text("description", "a\0b"s, TextKind::kFreeText);
  ASSERT_FALSE(nul);
  EXPECT_NE(nul.error().message.find("U+0000"), std::string::npos) << nul.error().message;
  EXPECT_FALSE(check_text("description", "\xC3\x28", TextKind::kFreeText));
  EXPECT_TRUE(check_text("source_account", "caf\xC3\xA9-\xE2\x98\x83", TextKind::kIdentifier));
}

TEST(Text, NulInAnyJsonStringIsNamedByItsPath) {
  auto field_of = [](const json& doc) {
    auto r = check_json_text(doc);
    return r ? std::string("(none)") : r.error().field;
  };
  EXPECT_EQ(field_of(json{{"a", "x"}, {"b", {1, "y"}}}), "(none)");
  EXPECT_EQ(field_of(json{{"source_account", "acc\0evil"s}}), "source_account");
  EXPECT_EQ(field_of(json{{"schedule", {{"timezone", "UTC\0"s}}}}), "schedule.timezone");
  EXPECT_EQ(field_of(json{{"event_types", {"job.failed", "x\0"s}}}), "event_types[1]");
  EXPECT_EQ(field_of(json{{"provider_options", {{"me\0mo"s, "x"}}}}), "provider_options.me\0mo"s);
  EXPECT_EQ(field_of(json("\0"s)), "body");
}

TEST(Text, AnUnparsableBodyNamesTheFieldOfItsBadBytes) {
  auto named = [](const std::string& body) { return unparsable_json_error(body).field; };
  EXPECT_EQ(named(R"({"source_account": "a)"
                  "\xFF"
                  R"(b", "amount": 1})"),
            "source_account");
  EXPECT_EQ(named(R"({"schedule": {"calendar": "W)"
                  "\xC3\x28"
                  R"("}})"),
            "schedule.calendar");
  EXPECT_EQ(named("{\"description\": \"tab\there\"}"), "description");
  EXPECT_EQ(named("{\"a\": [\"ok\", \"nul\0\"]}"s), "a[1]");
  // Control characters between tokens are JSON's whitespace (or not JSON): not a field's.
  EXPECT_EQ(named("{\n\t\"a\": \"b\"\n,}"), "body");
  EXPECT_EQ(named("{\"a\": 1\x01}"), "body");
  EXPECT_EQ(named("not json"), "body");
  auto e = unparsable_json_error(R"({"external_id": "e)"
                                 "\xED\xA0\x80"
                                 R"("})");
  EXPECT_EQ(e.field, "external_id");
  EXPECT_EQ(e.code, ErrorCode::kInvalidArgument);
  EXPECT_NE(e.message.find("UTF-8"), std::string::npos) << e.message;
}

TEST(Text, QueryParametersAndReadHeaders) {
  Request r;
  ASSERT_TRUE(parse_target("/v1/jobs?status=FAILED&cursor=abc", r));
  EXPECT_FALSE(check_request_text(r, false));
  ASSERT_TRUE(parse_target("/v1/jobs?status=FAILED&cursor=a%00b", r));
  EXPECT_EQ(check_request_text(r, false)->field, "cursor");
  ASSERT_TRUE(parse_target("/v1/jobs?cursor=a%FFb", r));
  EXPECT_EQ(check_request_text(r, false)->field, "cursor");
  ASSERT_TRUE(parse_target("/v1/jobs?x%01=1", r));
  EXPECT_EQ(check_request_text(r, false)->field, "x\x01");
  ASSERT_TRUE(parse_target("/v1/jobs?caf%C3%A9=1", r));  // valid: left to check_query
  EXPECT_FALSE(check_request_text(r, false));

  ASSERT_TRUE(parse_target("/v1/recurring-transfers", r));
  r.headers = {{"idempotency-key", "k\xFF"}, {"user-agent", "\xE9t\xE9"}};
  EXPECT_EQ(check_request_text(r, false)->field, "Idempotency-Key");
  r.headers = {{"idempotency-key", "k\tx"}};
  EXPECT_EQ(check_request_text(r, false)->field, "Idempotency-Key");
  r.headers = {{"authorization", "Bearer t\x80"}};
  EXPECT_EQ(check_request_text(r, false)->field, "Authorization");
  // A header the API does not read is not its business, unless the route reads them all.
  r.headers = {{"idempotency-key", "cl\xC3\xA9"}, {"user-agent", "\xE9t\xE9"}};
  EXPECT_FALSE(check_request_text(r, false));
  EXPECT_EQ(check_request_text(r, true)->field, "user-agent");
}

TEST(Text, NamesTheHeaderBeastRefused) {
  EXPECT_EQ(header_with_control("POST / HTTP/1.1\r\nHost: a\r\nIdempotency-Key: k\x01x\r\n\r\n"),
            "Idempotency-Key");
  // What Beast leaves in its buffer: from the field it stopped at.
  EXPECT_EQ(header_with_control("webhook-id: m\0x\r\nContent-Length: 0\r\n\r\n"s), "webhook-id");
  EXPECT_EQ(header_with_control("Authorization: Bearer a\x7F\r\n\r\n"), "Authorization");
  EXPECT_EQ(header_with_control("GET /a:b HTTP/1.1\r\nX: a\rb\r\n\r\n"), "X");
  EXPECT_FALSE(header_with_control("GET / HTTP/1.1\r\nX: a\tb\r\n\r\nbody: \x01"));
  EXPECT_FALSE(header_with_control("GET / HTTP/1.1\r\nno colon \x01\r\n\r\n"));
}

}  // namespace
}  // namespace rtjobs::http
