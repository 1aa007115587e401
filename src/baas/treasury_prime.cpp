// Treasury Prime (https://docs.treasuryprime.com): book transfers and ACH, HTTP Basic with the
// API key id and secret.
//   POST /book {amount "50.00", from_account_id, to_account_id, description, userdata}
//   POST /ach  {account_id, counterparty_id, amount "50.00", direction credit, sec_code, ...}
// Amounts are decimal strings with the currency's exponent, built from integer minor units.
// Errors are {"error": "..."}; a 2xx whose status is "error" is a refusal. A 502 means the
// bank's core is offline, and Treasury Prime completes asynchronous actions such as book
// transfers once it is back: the outcome is unknown, never a plain "not executed". No look-up
// by idempotency key is documented: a re-attempt relies on X-Idempotency-Key.
//
// Settlement: GET /ach/{id} or /book/{id}. pending and processing are on their way; sent is
// settled (an ACH stays sent "in perpetuity" unless returned); returned carries the Nacha code
// in `error`; canceled, and error without a Nacha code, are canceled. A book transfer sent at
// creation is final. Webhooks are signed with nothing: each carries the Basic credentials
// (basic_user:basic_secret) configured with it, checked instead. They are thin
// {event, op, id, url} without an event id: every delivery is applied by fetching the transfer.
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"
#include "baas/transfer_state.hpp"
#include "baas/webhook_signature.hpp"
#include "core/money.hpp"

namespace rtjobs {
namespace {

using bank::OptionField;

// X-Idempotency-Key's limit is not documented: keys are held to Increase's 200, the shortest
// documented among the four banks (docs/BANKS.md).
constexpr size_t kMaxKey = 200;

constexpr size_t kMaxDescription = 10;

const std::vector<OptionField> kBookOptions{
    {"description", OptionField::Kind::kString, false, kMaxDescription},
};
const std::vector<OptionField> kAchOptions{
    {"sec_code", OptionField::Kind::kString, true, 0, {"ccd", "ppd", "web"}},
    {"service", OptionField::Kind::kString, false, 0, {"standard", "sameday"}},
    {"description", OptionField::Kind::kString, false, kMaxDescription},
};

// Treasury Prime's description holds 10 characters and is optional: the description option,
// else the transfer's own when it fits, else none.
std::optional<std::string> description_for(std::string_view own, const nlohmann::json& options) {
  if (auto chosen = bank::string_field(options, "description")) return chosen;
  if (!own.empty() && own.size() <= kMaxDescription) return std::string(own);
  return std::nullopt;
}

std::string path_of(Rail rail) { return rail == Rail::kBook ? "/book" : "/ach"; }

// An ACH or book transfer object as its settlement; nullopt without an id and status.
std::optional<TransferState> read_state(const nlohmann::json& transfer, TransferState state) {
  if (!bank::read_id_and_status(transfer, state)) return std::nullopt;
  const std::string& status = state.bank_status;
  const std::string error = bank::string_field(transfer, "error").value_or("");
  if (status == "sent") {
    state.settlement = SettlementStatus::kSettled;
  } else if (status == "returned" || (status == "error" && bank::nacha_code(error))) {
    bank::mark_returned(state, bank::nacha_code(error), error);
  } else if (status == "canceled" || status == "error") {
    bank::mark_canceled(state, error.empty() ? status : error);
  } else {
    state.settlement = SettlementStatus::kPending;  // pending, processing
  }
  return state;
}

// Authorization: Basic base64(user:password) against the configured "user:password", compared
// through an HMAC so neither content nor length shows in the timing.
Result<void> verify_basic(const WebhookDelivery& delivery, std::string_view secret) {
  auto header = delivery.header("authorization");
  if (!header) return bank::unauthenticated("missing Authorization header (Basic credentials)");
  std::string_view value = *header;
  if (value.size() < 6 || (value.substr(0, 6) != "Basic " && value.substr(0, 6) != "basic ")) {
    return bank::unauthenticated("the Authorization header is not Basic credentials");
  }
  value.remove_prefix(6);
  while (value.starts_with(' ')) value.remove_prefix(1);
  const auto given = bank::base64_decode(value);
  constexpr std::string_view kLabel = "rtjobs treasury prime webhook";
  if (!given ||
      !bank::same_bytes(bank::hmac_sha256(kLabel, *given), bank::hmac_sha256(kLabel, secret))) {
    return bank::unauthenticated(
        "the Basic credentials do not match the configured webhook secret");
  }
  return {};
}

class TreasuryPrimeApi final : public BankApi {
 public:
  TreasuryPrimeApi(std::string base_url, const std::string& key_id, const std::string& secret)
      : base_url_(std::move(base_url)), auth_header_(bank::basic_auth_header(key_id, secret)) {}

  Result<void> check_transfer(std::string_view /*provider*/,
                              const TransferSpec& spec) const override {
    if (spec.currency != "USD") return invalid("currency", "Treasury Prime moves USD only");
    return spec.rail == Rail::kBook ? bank::check_options(spec.provider_options, kBookOptions,
                                                          "Treasury Prime book transfers")
                                    : bank::check_options(spec.provider_options, kAchOptions,
                                                          "Treasury Prime ACH transfers");
  }

  Result<HttpCall> create_call(const TransferRequest& request) const override {
    if (auto ok = bank::check_key(request.idempotency_key, kMaxKey); !ok) {
      return std::unexpected(ok.error());
    }
    const std::string amount = decimal_amount(request.amount, currency_exponent(request.currency));
    const nlohmann::json userdata = {{"rtjobs_job_id", request.reference}};
    const bool book = request.rail == Rail::kBook;
    auto options = bank::parse_options(request.provider_options, book ? kBookOptions : kAchOptions,
                                       "Treasury Prime transfers");
    if (!options) return std::unexpected(options.error());
    auto description = description_for(request.description, *options);
    options->erase("description");
    nlohmann::json body;
    if (book) {
      body = {{"amount", amount},
              {"from_account_id", request.source_account},
              {"to_account_id", request.destination_account},
              {"userdata", userdata}};
    } else {
      body = {{"account_id", request.source_account},
              {"counterparty_id", request.destination_account},
              {"amount", amount},
              {"direction", "credit"},
              {"userdata", userdata}};
      body.update(*options);
    }
    if (description) body["description"] = *description;
    return bank::json_post(base_url_ + path_of(request.rail), body,
                           {"Content-Type: application/json", "Accept: application/json", "Expect:",
                            "X-Idempotency-Key: " + request.idempotency_key, auth_header_});
  }

  TransferResult read_answer(const TransferRequest& request,
                             const HttpAnswer& answer) const override {
    const nlohmann::json json = bank::parse_json(answer.body);
    if (answer.status >= 200 && answer.status <= 299) {
      auto id = bank::string_field(json, "id");
      auto status = bank::string_field(json, "status");
      if (!id || id->empty() || !status) {
        return bank::unreadable(answer, "a transfer id and status");
      }
      // pending, processing and sent move on; error (NSF, fraud, validation) and canceled are
      // final refusals.
      if (*status == "error" || *status == "canceled") {
        const std::string reason = bank::string_field(json, "error").value_or(*status);
        return bank::declined_transfer(answer, *id, *status, bank::normalise_reason(reason),
                                       reason);
      }
      TransferResult r = bank::succeeded(answer, *id, *status);
      // Every ACH has still to settle; a book transfer is final once sent.
      if (request.rail == Rail::kAch || *status != "sent") {
        r.settlement = SettlementStatus::kPending;
      }
      return r;
    }
    auto error = bank::string_field(json, "error");
    const std::string message =
        error.value_or("the bank answered HTTP " + std::to_string(answer.status));
    if (answer.status == 502) {
      TransferResult r = bank::unavailable(answer, "bank_core_offline", message);
      r.outcome_unknown = true;
      return r;
    }
    if (!error || bank::never_declined(answer.status) || bank::is_key_conflict(*error)) {
      return bank::unavailable(answer, "http_" + std::to_string(answer.status), message);
    }
    return bank::declined(answer, bank::normalise_reason(*error), *error);
  }

  bool follows_settlement() const override { return true; }

  std::optional<HttpCall> fetch_call(std::string_view reference, Rail rail) const override {
    return bank::http_get(base_url_ + path_of(rail) + "/" + bank::percent_encode(reference),
                          {"Accept: application/json", auth_header_});
  }

  Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                     const HttpAnswer& answer) const override {
    return bank::read_look_up(
        answer, rail, "Treasury Prime", reference,
        [](const nlohmann::json& body) { return bank::string_field(body, "error").has_value(); },
        read_state);
  }

  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                              std::string_view secret) const override {
    if (auto ok = verify_basic(delivery, secret); !ok) return std::unexpected(ok.error());
    const nlohmann::json json = bank::parse_json(delivery.body);
    auto event = bank::string_field(json, "event");
    if (!event) return invalid("body", "not a Treasury Prime webhook: no event");
    BankEvent out;  // no event id: Treasury Prime sends none
    out.type = std::move(*event);
    std::optional<Rail> rail;
    if (out.type == "ach.update") rail = Rail::kAch;
    if (out.type == "book.update") rail = Rail::kBook;
    if (rail) {
      auto id = bank::string_field(json, "id");
      if (!id || id->empty()) return invalid("body", "Treasury Prime " + out.type + " without id");
      out.reference = std::move(*id);
      out.rail = rail;
    }
    return std::vector<BankEvent>{std::move(out)};
  }

 private:
  const std::string base_url_;
  const std::string auth_header_;  // holds the key id and secret: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_treasury_prime_api(std::string base_url, const std::string& key_id,
                                                 const std::string& secret) {
  return std::make_unique<TreasuryPrimeApi>(std::move(base_url), key_id, secret);
}

}  // namespace rtjobs
