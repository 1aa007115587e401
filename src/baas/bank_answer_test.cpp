#include "baas/bank_answer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace rtjobs::bank {
namespace {

using std::chrono::seconds;

// Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example date.
const auto kNow = std::chrono::system_clock::from_time_t(784111777);

TEST(ParseRetryAfter, ReadsDelaySeconds) {
  EXPECT_EQ(parse_retry_after("7", kNow), seconds(7));
  EXPECT_EQ(parse_retry_after(" 120 ", kNow), seconds(120));
  EXPECT_EQ(parse_retry_after("0", kNow), seconds(0));
}

TEST(ParseRetryAfter, ReadsAnHttpDateRelativeToNow) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", kNow), seconds(30));
  EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", kNow), seconds(86400));
}

TEST(ParseRetryAfter, ADateInThePastIsZero) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", kNow), seconds(0));
  EXPECT_EQ(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", kNow), seconds(0));
}

TEST(ParseRetryAfter, GarbageIsNothing) {
  for (const char* value : {"", "   ", "soon", "-5", "1.5", "7s", "99999999999999999999999",
                            "Sun, 06 Nov 1994 08:49:37", "06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMT trailing"}) {
    EXPECT_EQ(parse_retry_after(value, kNow), std::nullopt) << '"' << value << '"';
  }
}

TEST(NormaliseReason, CommonMeaningsGetTheCommonCode) {
  EXPECT_EQ(normalise_reason("InsufficientFunds"), "insufficient_funds");
  EXPECT_EQ(normalise_reason("There's an insufficient balance in the account."),
            "insufficient_funds");
  EXPECT_EQ(normalise_reason("insufficient_funds"), "insufficient_funds");
  EXPECT_EQ(normalise_reason("NSF"), "insufficient_funds");
  EXPECT_EQ(normalise_reason("R01"), "insufficient_funds");
  EXPECT_EQ(normalise_reason("AccountClosed"), "account_closed");
  EXPECT_EQ(normalise_reason("bank_account_closed"), "account_closed");
  EXPECT_EQ(normalise_reason("bank_account_not_found"), "account_not_found");
  EXPECT_EQ(normalise_reason("Not found"), "account_not_found");
  EXPECT_EQ(normalise_reason("AccountFrozen"), "account_frozen");
  EXPECT_EQ(normalise_reason("DailyACHCreditLimitExceeded"), "limit_exceeded");
}

TEST(NormaliseReason, OtherReasonsKeepTheirWordsInSnakeCase) {
  EXPECT_EQ(normalise_reason("SuspectedFraud"), "suspected_fraud");
  EXPECT_EQ(normalise_reason("suspected fraud"), "suspected_fraud");
  EXPECT_EQ(normalise_reason("RETURNED"), "returned");
  EXPECT_EQ(normalise_reason("!!!"), "declined");
  EXPECT_EQ(normalise_reason(std::string(100, 'a')).size(), 64u);
}

// "nsf" is a word of its own, not the middle of "transfer".
TEST(NormaliseReason, TransferIsNotInsufficientFunds) {
  EXPECT_EQ(normalise_reason("TransferLimitExceeded"), "limit_exceeded");
  EXPECT_EQ(normalise_reason("transfer_not_allowed"), "transfer_not_allowed");
  EXPECT_EQ(normalise_reason("InvalidTransfer"), "invalid_transfer");
  EXPECT_EQ(normalise_reason("nsf_return"), "insufficient_funds");
}

TEST(NeverDeclined, CredentialsKeysRateLimitsAndServerFaults) {
  // SPEC section 8 over section 2: 401, 403 and 409 joined 408 and 429; 1xx, 3xx and anything
  // out of range are no final answer either.
  for (int status : {401, 403, 408, 409, 429, 500, 502, 503, 504, 599, 200, 302, 100, 101, 199,
                     300, 301, 304, 399, 0, -1, 600, 999}) {
    EXPECT_TRUE(never_declined(status)) << status;
  }
  for (int status : {400, 402, 404, 410, 422, 499}) EXPECT_FALSE(never_declined(status)) << status;
}

TEST(BasicAuthHeader, EncodesUserColonPassword) {
  // `curl -u :key`: Column's blank user name.
  EXPECT_EQ(basic_auth_header("", "key"), "Authorization: Basic OmtleQ==");
  EXPECT_EQ(basic_auth_header("Aladdin", "open sesame"),
            "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(basic_auth_header("", ""), "Authorization: Basic Og==");
}

TEST(PercentEncode, KeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode(R"({"k":"a b/c"})"), "%7B%22k%22%3A%22a%20b%2Fc%22%7D");
  EXPECT_EQ(percent_encode("\xC3\xA9"), "%C3%A9");
  EXPECT_EQ(percent_encode(""), "");
}

const std::vector<OptionField> kFields{
    {"sec_code", OptionField::Kind::kString, true, 0, {"ccd", "ppd"}},
    {"memo", OptionField::Kind::kString, false, 5},
    {"same_day", OptionField::Kind::kBool},
};

std::string field_of(std::string_view options) {
  auto parsed = parse_options(options, kFields, "test transfers");
  return parsed ? "ok" : parsed.error().field;
}

TEST(ParseOptions, AcceptsValidOptions) {
  auto parsed = parse_options(R"({"sec_code":"ccd","memo":"rent","same_day":true})", kFields, "t");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ((*parsed)["memo"], "rent");
  EXPECT_TRUE(parse_options("", {}, "t"));
}

TEST(ParseOptions, ErrorsNameTheField) {
  EXPECT_EQ(field_of(""), "provider_options.sec_code");  // required
  EXPECT_EQ(field_of(R"({"sec_code":"ccd","colour":"blue"})"), "provider_options.colour");
  EXPECT_EQ(field_of(R"({"sec_code":"xyz"})"), "provider_options.sec_code");  // not allowed
  EXPECT_EQ(field_of(R"({"sec_code":7})"), "provider_options.sec_code");      // not a string
  EXPECT_EQ(field_of(R"({"sec_code":"ccd","memo":"too long"})"), "provider_options.memo");
  EXPECT_EQ(field_of(R"({"sec_code":"ccd","memo":""})"), "provider_options.memo");
  EXPECT_EQ(field_of(R"({"sec_code":"ccd","same_day":"yes"})"), "provider_options.same_day");
  EXPECT_EQ(field_of("[1]"), "provider_options");
  EXPECT_EQ(field_of("not json"), "provider_options");
}

TEST(ParseOptions, AnUnknownKeyWhereNoneAreTakenSaysSo) {
  auto parsed = parse_options(R"({"memo":"x"})", {}, "book transfers");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().field, "provider_options.memo");
  EXPECT_NE(parsed.error().message.find("takes none"), std::string::npos);
}

}  // namespace
}  // namespace rtjobs::bank
