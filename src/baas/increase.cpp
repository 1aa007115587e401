// Increase (https://increase.com/documentation/api): account transfers (book) and ACH transfers.
//   POST /account_transfers {account_id, amount (cents), description, destination_account_id}
//   POST /ach_transfers     {account_id, amount, external_account_id, statement_descriptor, ...}
//   GET  /{account,ach}_transfers?idempotency_key=K  -> {"data": [transfer] or []}
//   GET  /{account,ach}_transfers/{id}                -> the transfer (settlement follow-up)
// Errors are {type, status, title, detail}; `type` is the stable field. Insufficient funds is
// a 409 invalid_operation_error: the one 409 that refuses the transfer; every other 409 is about
// the idempotency key and never a refusal.
//
// Settlement: an ACH transfer is pending until its status is `submitted` with
// settlement.settled_at set (settled), `returned` (return.raw_return_reason_code, else the
// return_reason_code enum as its Nacha code), or `canceled`/`rejected`. A book transfer is final
// at `complete`. Webhooks are thin Events signed with Standard Webhooks (key: the shared
// secret's own bytes, or for a `whsec_` secret also its base64-decoded remainder) or the legacy
// Increase-Webhook-Signature (t=<RFC 3339>,v1=<hex HMAC-SHA256 of t.body>), both within ±5 min.
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"
#include "baas/transfer_state.hpp"
#include "baas/webhook_signature.hpp"

namespace rtjobs {
namespace {

using bank::OptionField;

constexpr size_t kMaxKey = 200;  // Idempotency-Key, per Increase's idempotency page
constexpr size_t kMaxDescription = 200;

const std::vector<OptionField> kAchOptions{
    {"statement_descriptor", OptionField::Kind::kString, true, 10},
    {"company_name", OptionField::Kind::kString, false, 16},
    {"company_entry_description", OptionField::Kind::kString, false, 10},
    {"individual_name", OptionField::Kind::kString, false, 22},
    {"standard_entry_class_code",
     OptionField::Kind::kString,
     false,
     0,
     {"corporate_credit_or_debit", "corporate_trade_exchange", "prearranged_payments_and_deposit",
      "internet_initiated"}},
};

std::string_view path_of(Rail rail) {
  return rail == Rail::kAch ? "/ach_transfers" : "/account_transfers";
}

// return.return_reason_code -> Nacha code, for a return without raw_return_reason_code.
constexpr std::pair<std::string_view, std::string_view> kReturnReasons[] = {
    {"insufficient_fund", "R01"},
    {"account_closed", "R02"},
    {"no_account", "R03"},
    {"invalid_account_number_structure", "R04"},
    {"authorization_revoked_by_customer", "R07"},
    {"payment_stopped", "R08"},
    {"uncollected_funds", "R09"},
    {"customer_advised_unauthorized_improper_ineligible_or_incomplete", "R10"},
    {"account_frozen_entry_returned_per_ofac_instruction", "R16"},
    {"non_transaction_account", "R20"},
    {"corporate_customer_advised_not_authorized", "R29"},
};

std::optional<std::string> return_code_of(const nlohmann::json& transfer) {
  const auto it = transfer.find("return");
  if (it == transfer.end() || !it->is_object()) return std::nullopt;
  if (auto raw = bank::string_field(*it, "raw_return_reason_code")) {
    if (auto code = bank::nacha_code(*raw)) return code;
  }
  const auto reason = bank::string_field(*it, "return_reason_code").value_or("");
  for (const auto& [name, code] : kReturnReasons) {
    if (name == reason) return std::string(code);
  }
  return std::nullopt;
}

// settlement.settled_at, when the transfer has settled.
std::optional<std::string> settled_at_of(const nlohmann::json& transfer) {
  const auto it = transfer.find("settlement");
  if (it == transfer.end() || !it->is_object()) return std::nullopt;
  return bank::string_field(*it, "settled_at");
}

// The legacy signature: Increase-Webhook-Signature: t=<RFC 3339>,v1=<hex>[,v1=<hex>...] over
// t + "." + body, keyed with the secret's own bytes (a `whsec_` prefix included).
Result<void> verify_legacy(std::string_view header, const WebhookDelivery& delivery,
                           std::string_view secret) {
  std::optional<std::string_view> t;
  std::vector<std::string_view> signatures;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (part.starts_with(' ')) part.remove_prefix(1);
    if (part.starts_with("t=")) t = part.substr(2);
    if (part.starts_with("v1=")) signatures.push_back(part.substr(3));
  }
  if (!t || signatures.empty()) {
    return bank::unauthenticated("Increase-Webhook-Signature lacks t= or v1=");
  }
  const auto signed_at = bank::parse_rfc3339(*t);
  if (!signed_at) return bank::unauthenticated("Increase-Webhook-Signature's t= is not RFC 3339");
  if (!bank::within_tolerance(*signed_at, delivery.now)) {
    return bank::unauthenticated("Increase-Webhook-Signature's t= is more than 5 minutes from now");
  }
  const std::string expected =
      bank::hmac_sha256(secret, std::string(*t) + "." + std::string(delivery.body));
  for (auto signature : signatures) {
    auto given = bank::hex_decode(signature);
    if (given && bank::same_bytes(*given, expected)) return {};
  }
  return bank::unauthenticated(
      "Increase-Webhook-Signature does not match the configured webhook secret");
}

Result<void> verify_increase(const WebhookDelivery& delivery, std::string_view secret) {
  const auto legacy = delivery.header("increase-webhook-signature");
  if (delivery.header("webhook-signature") || !legacy) {
    // The SDKs key Standard Webhooks with the shared secret's raw bytes; an operator may have
    // pasted the SDKs' wrapped form `whsec_` + base64 instead.
    std::vector<std::string> keys{std::string(secret)};
    if (secret.starts_with("whsec_")) {
      if (auto decoded = bank::base64_decode(secret.substr(6))) keys.push_back(std::move(*decoded));
    }
    auto ok = bank::verify_standard_webhook(delivery, keys);
    if (ok || !legacy) return ok;
  }
  return verify_legacy(*legacy, delivery, secret);
}

class IncreaseApi final : public BankApi {
 public:
  IncreaseApi(std::string base_url, const std::string& token)
      : base_url_(std::move(base_url)), auth_header_("Authorization: Bearer " + token) {}

  Result<void> check_transfer(std::string_view /*provider*/,
                              const TransferSpec& spec) const override {
    if (spec.currency != "USD") return invalid("currency", "Increase moves USD only");
    if (spec.description.size() > kMaxDescription) {
      return invalid("description", "Increase takes descriptions of at most 200 characters");
    }
    if (spec.rail == Rail::kBook) {
      return bank::check_options(spec.provider_options, {}, "Increase book transfers");
    }
    return bank::check_options(spec.provider_options, kAchOptions, "Increase ACH transfers");
  }

  Result<HttpCall> create_call(const TransferRequest& request) const override {
    if (auto ok = bank::check_key(request.idempotency_key, kMaxKey); !ok) {
      return std::unexpected(ok.error());
    }
    nlohmann::json body;
    if (request.rail == Rail::kBook) {
      body = {
          {"account_id", request.source_account},
          {"amount", request.amount},
          {"description", request.description.empty() ? request.reference : request.description},
          {"destination_account_id", request.destination_account}};
    } else {
      auto options = bank::parse_options(request.provider_options, kAchOptions, "Increase ACH");
      if (!options) return std::unexpected(options.error());
      body = {{"account_id", request.source_account},
              {"amount", request.amount},
              {"external_account_id", request.destination_account}};
      body.update(*options);
    }
    return bank::json_post(base_url_ + std::string(path_of(request.rail)), body,
                           {"Content-Type: application/json", "Accept: application/json", "Expect:",
                            "Idempotency-Key: " + request.idempotency_key, auth_header_});
  }

  TransferResult read_answer(const TransferRequest& request,
                             const HttpAnswer& answer) const override {
    const nlohmann::json json = bank::parse_json(answer.body);
    if (answer.status >= 200 && answer.status <= 299) return read_transfer(request, answer, json);
    auto type = bank::string_field(json, "type");
    // An empty type names no Increase error: it would be a decline without a reason.
    if (!type || type->empty()) {
      return bank::unavailable(answer, "http_" + std::to_string(answer.status),
                               "the bank answered HTTP " + std::to_string(answer.status) +
                                   " without an Increase error body");
    }
    const std::string detail = bank::string_field(json, "detail")
                                   .value_or(bank::string_field(json, "title").value_or(*type));
    if (answer.status == 409 && *type == "invalid_operation_error") {
      return bank::declined(answer, bank::normalise_reason(detail), detail);
    }
    TransferResult r;
    // A malformed request or a route Increase does not have (a wrong base_url) is the
    // adapter's or the operator's fault, never the customer's.
    if (bank::never_declined(answer.status) || bank::is_key_conflict(*type) ||
        *type == "malformed_request_error" || *type == "api_method_not_found_error") {
      r = bank::unavailable(answer, *type, detail);
    } else {
      r = bank::declined(answer, *type == "object_not_found_error" ? "account_not_found" : *type,
                         detail);
    }
    if (!r.retry_after && json.contains("retry_after") && json["retry_after"].is_number_integer()) {
      r.retry_after = std::chrono::seconds(json["retry_after"].get<int64_t>());
    }
    return r;
  }

  std::optional<HttpCall> lookup_call(const TransferRequest& request) const override {
    HttpCall call;
    call.method = "GET";
    call.url = base_url_ + std::string(path_of(request.rail)) +
               "?idempotency_key=" + bank::percent_encode(request.idempotency_key);
    call.headers = {"Accept: application/json", auth_header_};
    return call;
  }

  LookUp read_lookup(const TransferRequest& request, const HttpAnswer& answer) const override {
    if (auto found = bank::only_listed(answer)) {
      return {LookUp::Found::kTransfer, read_transfer(request, answer, *found)};
    }
    return {bank::listed_none(answer) ? LookUp::Found::kNone : LookUp::Found::kUnreadable, {}};
  }

  bool follows_settlement() const override { return true; }

  std::optional<HttpCall> fetch_call(std::string_view reference, Rail rail) const override {
    return bank::http_get(
        base_url_ + std::string(path_of(rail)) + "/" + bank::percent_encode(reference),
        {"Accept: application/json", auth_header_});
  }

  Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                     const HttpAnswer& answer) const override {
    return bank::read_look_up(
        answer, rail, "Increase", reference,
        [](const nlohmann::json& body) { return bank::string_field(body, "type").has_value(); },
        read_state);
  }

  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                              std::string_view secret) const override {
    if (auto ok = verify_increase(delivery, secret); !ok) return std::unexpected(ok.error());
    const nlohmann::json event = bank::parse_json(delivery.body);
    auto id = bank::string_field(event, "id");
    auto category = bank::string_field(event, "category");
    if (!id || id->empty() || !category) {
      return invalid("body", "not an Increase event: no id or category");
    }
    BankEvent out;
    out.event_id = std::move(*id);
    out.type = std::move(*category);
    const auto object_type = bank::string_field(event, "associated_object_type");
    auto object_id = bank::string_field(event, "associated_object_id");
    if (object_id && !object_id->empty() &&
        (object_type == "ach_transfer" || object_type == "account_transfer")) {
      out.reference = std::move(*object_id);
      out.rail = object_type == "ach_transfer" ? Rail::kAch : Rail::kBook;
    }
    return std::vector<BankEvent>{std::move(out)};
  }

 private:
  // An ACH or account transfer object as its settlement; nullopt without an id and status.
  static std::optional<TransferState> read_state(const nlohmann::json& transfer,
                                                 TransferState state) {
    if (!bank::read_id_and_status(transfer, state)) return std::nullopt;
    const std::string& status = state.bank_status;
    const auto settled_at = settled_at_of(transfer);
    if (settled_at) state.settled_at = bank::parse_rfc3339(*settled_at);
    if (status == "returned") {
      const auto& ret = transfer.contains("return") ? transfer["return"] : nlohmann::json();
      bank::mark_returned(state, return_code_of(transfer),
                          bank::string_field(ret, "return_reason_code").value_or(""));
    } else if (status == "canceled" || status == "rejected") {
      bank::mark_canceled(state, status);
    } else if ((state.rail == Rail::kBook && status == "complete") ||
               (state.rail == Rail::kAch && status == "submitted" && settled_at)) {
      state.settlement = SettlementStatus::kSettled;
    } else {
      state.settlement = SettlementStatus::kPending;
    }
    return state;
  }

  static TransferResult read_transfer(const TransferRequest& request, const HttpAnswer& answer,
                                      const nlohmann::json& transfer) {
    auto id = bank::string_field(transfer, "id");
    auto status = bank::string_field(transfer, "status");
    if (!id || id->empty() || !status) return bank::unreadable(answer, "a transfer id and status");
    // Book: pending_approval | complete | canceled. ACH: pending_* and submitted move on toward
    // settlement; rejected, canceled and returned are final refusals.
    if (*status == "canceled" || *status == "rejected" || *status == "returned") {
      return bank::declined_transfer(answer, *id, *status, *status,
                                     "Increase " + std::string(to_string(request.rail)) +
                                         " transfer " + *id + " is " + *status);
    }
    TransferResult r = bank::succeeded(answer, *id, *status);
    // Every ACH transfer has still to settle; a book transfer is final once complete.
    if (request.rail == Rail::kAch || *status != "complete") {
      r.settlement = SettlementStatus::kPending;
    }
    return r;
  }

  const std::string base_url_;
  const std::string auth_header_;  // holds the token: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_increase_api(std::string base_url, const std::string& token) {
  return std::make_unique<IncreaseApi>(std::move(base_url), token);
}

}  // namespace rtjobs
