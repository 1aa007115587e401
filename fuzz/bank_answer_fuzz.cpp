// Each bank adapter's reading of what a bank sends (baas/banks.hpp, http_provider.hpp,
// sandbox_provider.hpp): the answer to a create, to a look-up by key and to a fetch by id, and a
// webhook delivery, correctly signed and not. The first bytes choose the adapter, the call, the
// HTTP status and the transport's failure; the rest is the body. Invariants (SPEC section 8):
//   - a transport failure is unavailable, its outcome unknown exactly when it may have been sent;
//   - a look-up finds "none for sure" only in a 2xx answer;
//   - 401, 403, 408, 409 (but Increase's invalid_operation_error), 429, 5xx, 1xx and 3xx are
//     never declined; a success from a bank carries the bank's reference (the generic rtjobs
//     protocol may omit it) and a decline a code;
//   - an answered call keeps its status and at most 64 KiB of its body;
//   - a fetched transfer is the one asked for, settled/returned/canceled/pending (never unknown),
//     and a returned one has a return code;
//   - a signed webhook never fails authentication, and its events have ids (but Treasury
//     Prime's, which has none) and no empty reference; a delivery signed with another secret is
//     always unauthenticated;
//   - the sandbox answers the same request the same way, a success with its "sbx_" reference.
#include <fuzzer/FuzzedDataProvider.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"
#include "baas/http_provider.hpp"
#include "baas/sandbox_provider.hpp"
#include "baas/webhook_signature.hpp"
#include "fuzz_check.hpp"

namespace {

using rtjobs::BankApi;
using rtjobs::HttpAnswer;
using rtjobs::Outcome;
using rtjobs::TransferResult;

enum Bank { kTreasuryPrime, kIncrease, kColumn, kUnit, kRtjobs, kBanks };

constexpr std::string_view kSecret = "whsec_c2VjcmV0LWZvci1mdXp6aW5n";

const BankApi& api(Bank bank) {
  static const std::array<std::unique_ptr<BankApi>, kBanks> apis = {
      rtjobs::make_treasury_prime_api("https://tp.test", "key", "secret"),
      rtjobs::make_increase_api("https://increase.test", "token"),
      rtjobs::make_column_api("https://column.test", "key"),
      rtjobs::make_unit_api("https://unit.test", "token"),
      rtjobs::make_rtjobs_api("https://rtjobs.test", "token"),
  };
  return *apis.at(bank);
}

constexpr std::array kStatuses = {200, 201, 202, 204, 400, 401, 402, 403, 404, 408,
                                  409, 410, 422, 429, 500, 502, 503, 504, 301, 100};

// A 2xx may carry a transfer the bank created refused; a 4xx refuses unless never_declined says
// it cannot (Increase refuses with 409 invalid_operation_error, docs/BANKS.md); nothing else does.
bool may_decline(Bank bank, int status) {
  if (status >= 200 && status <= 299) return true;
  if (bank == kIncrease && status == 409) return true;
  return status >= 400 && status <= 499 && !rtjobs::bank::never_declined(status);
}

void check_result(Bank bank, const HttpAnswer& answer, const TransferResult& r) {
  if (answer.failure != HttpAnswer::Failure::kNone) {
    FUZZ_CHECK(r.outcome == Outcome::kUnavailable);
    FUZZ_CHECK(r.outcome_unknown == answer.maybe_sent);
    FUZZ_CHECK(!r.http_status);
    return;
  }
  FUZZ_CHECK(r.http_status == answer.status);
  FUZZ_CHECK(!r.response_body || r.response_body->size() <= HttpAnswer::kMaxBody);
  if (r.outcome == Outcome::kDeclined) FUZZ_CHECK(may_decline(bank, answer.status));
  switch (r.outcome) {
    case Outcome::kSucceeded:
      FUZZ_CHECK(bank == kRtjobs || (r.reference && !r.reference->empty()));
      FUZZ_CHECK(!r.outcome_unknown);
      break;
    case Outcome::kDeclined:
      FUZZ_CHECK(r.code && !r.code->empty());
      FUZZ_CHECK(!r.outcome_unknown);
      break;
    default:
      break;
  }
}

rtjobs::TransferRequest some_request(FuzzedDataProvider& in) {
  rtjobs::TransferRequest request;
  request.idempotency_key = "b1e7c2a4-3f5d-4e8a-9c0b-2d6f8e1a7b35";
  request.reference = "0193c4a2-7b1e-7c3d-8e4f-5a6b7c8d9e0f";
  request.amount = in.ConsumeIntegralInRange<int64_t>(1, 1'000'000'00);
  request.currency = "USD";
  request.source_account = in.ConsumeBool() ? "acct_src" : "down_acct";
  request.destination_account = "acct_dst";
  request.rail = in.ConsumeBool() ? rtjobs::Rail::kAch : rtjobs::Rail::kBook;
  request.attempt = in.ConsumeIntegralInRange(1, 5);
  return request;
}

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// A delivery of `body` signed as `bank` signs it, with `secret`.
rtjobs::WebhookDelivery signed_delivery(Bank bank, std::string_view body, std::string_view secret) {
  rtjobs::WebhookDelivery d;
  d.body = body;
  d.now = rtjobs::Timestamp{std::chrono::seconds{1'765'000'000}};
  const std::string s(secret);
  switch (bank) {
    case kTreasuryPrime:
      d.headers = {{"authorization", "Basic " + rtjobs::bank::base64_encode(s)}};
      break;
    case kIncrease:
    case kRtjobs: {  // Standard Webhooks, keyed by the whsec_ secret's bytes
      const auto key = rtjobs::bank::standard_webhook_key(s);
      d.headers = {{"webhook-id", "msg_1"},
                   {"webhook-timestamp", "1765000000"},
                   {"webhook-signature",
                    rtjobs::bank::sign_standard_webhook(*key, "msg_1", "1765000000", body)}};
      break;
    }
    case kColumn:
      d.headers = {{"column-signature", hex(rtjobs::bank::hmac_sha256(s, body))}};
      break;
    case kUnit:
      d.headers = {
          {"x-unit-signature", rtjobs::bank::base64_encode(rtjobs::bank::hmac_sha1(s, body))}};
      break;
    case kBanks:
      break;
  }
  return d;
}

void check_webhook(Bank bank, std::string_view body) {
  auto events = api(bank).read_webhook(signed_delivery(bank, body, kSecret), kSecret);
  if (!events) {
    FUZZ_CHECK(events.error().code == rtjobs::ErrorCode::kInvalidArgument);
  } else {
    for (const rtjobs::BankEvent& e : *events) {
      FUZZ_CHECK(bank == kTreasuryPrime || !e.event_id.empty());  // Treasury Prime sends none
      FUZZ_CHECK(!e.reference || !e.reference->empty());          // a missing rail is read as ACH
      FUZZ_CHECK(!e.state || (e.reference && e.state->reference == *e.reference &&
                              e.state->settlement != rtjobs::SettlementStatus::kUnknown));
    }
  }
  auto forged = api(bank).read_webhook(signed_delivery(bank, body, "another-secret"), kSecret);
  FUZZ_CHECK(!forged && forged.error().code == rtjobs::ErrorCode::kUnauthenticated);
}

void check_sandbox(const rtjobs::TransferRequest& request) {
  const TransferResult r = rtjobs::SandboxProvider::answer(request);
  const TransferResult again = rtjobs::SandboxProvider::answer(request);
  FUZZ_CHECK(r.outcome == again.outcome && r.reference == again.reference);
  if (r.outcome == Outcome::kSucceeded) {
    FUZZ_CHECK(r.reference && r.reference->starts_with("sbx_") && r.reference->size() == 20);
  } else {
    FUZZ_CHECK(!r.reference && r.code);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const auto bank = static_cast<Bank>(in.ConsumeIntegralInRange(0, kBanks - 1));
  const int call = in.ConsumeIntegralInRange(0, 3);
  HttpAnswer answer;
  answer.status = in.ConsumeBool()
                      ? kStatuses[in.ConsumeIntegralInRange<size_t>(0, kStatuses.size() - 1)]
                      : in.ConsumeIntegralInRange(100, 599);
  if (in.ConsumeIntegralInRange(0, 7) == 0) {
    answer.failure = static_cast<HttpAnswer::Failure>(in.ConsumeIntegralInRange(1, 5));
    answer.maybe_sent = in.ConsumeBool();
    answer.status = 0;
  }
  if (in.ConsumeBool()) answer.retry_after = in.ConsumeRandomLengthString(32);
  const rtjobs::TransferRequest request = some_request(in);
  answer.body = in.ConsumeRemainingBytesAsString();
  if (answer.failure != HttpAnswer::Failure::kNone) answer.body.clear();

  if (answer.failure != HttpAnswer::Failure::kNone) {
    // BankProvider reads no body without an answer: every call ends as no_answer.
    check_result(bank, answer, rtjobs::bank::no_answer(answer));
    check_sandbox(request);
    return 0;
  }
  switch (call) {
    case 0:
      check_result(bank, answer, api(bank).read_answer(request, answer));
      break;
    case 1: {
      const rtjobs::LookUp found = api(bank).read_lookup(request, answer);
      if (found.found == rtjobs::LookUp::Found::kTransfer) check_result(bank, answer, found.answer);
      // "None for sure" lets a look-up-only attempt conclude the transfer never reached the
      // bank: only a 2xx listing can say so.
      if (found.found == rtjobs::LookUp::Found::kNone) {
        FUZZ_CHECK(answer.failure == HttpAnswer::Failure::kNone);
        FUZZ_CHECK(answer.status >= 200 && answer.status <= 299);
      }
      break;
    }
    case 2: {
      const std::string reference = "tr_123";
      auto state = api(bank).read_fetched(reference, request.rail, answer);
      if (state) {
        FUZZ_CHECK(state->reference == reference);
        FUZZ_CHECK(state->settlement != rtjobs::SettlementStatus::kUnknown);
        FUZZ_CHECK(state->settlement != rtjobs::SettlementStatus::kReturned || state->return_code);
      } else {
        FUZZ_CHECK(!state.error().message.empty());
      }
      break;
    }
    default:
      check_webhook(bank, answer.body);
      break;
  }
  check_sandbox(request);
  return 0;
}
