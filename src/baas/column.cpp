// Column (https://column.com/docs): book and ACH transfers, HTTP Basic with a blank user name
// and the API key as the password.
//   POST /transfers/book {amount (cents), currency_code, sender_*_id, receiver_*_id, description}
//   POST /transfers/ach  {amount, currency_code, type CREDIT, entry_class_code, bank_account_id |
//                         account_number_id, counterparty_id, description, ...}
// An account id starting with "acno_" is an account number id, any other a bank account id.
// Errors are {type, code, message, documentation_url, details}: 400 covers both refusals and
// validation; a code about the idempotency key is never a refusal. Column offers no look-up by
// idempotency key: a re-attempt relies on the key's replay of a successful request.
//
// Settlement: GET /transfers/{ach,book}/{id}. An ACH transfer is pending until SETTLED or
// COMPLETED (settled), RETURNED (return_details[0].return_code) or CANCELED/REJECTED; a book
// transfer is final at COMPLETED, pending while on HOLD. Webhooks carry the whole transfer in
// `data`, read exactly as a look-up's answer; Column-Signature is the hex HMAC-SHA256 of the raw
// body with the endpoint's secret (no timestamp: duplicates are dropped by event id).
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"
#include "baas/transfer_state.hpp"
#include "baas/webhook_signature.hpp"

namespace rtjobs {
namespace {

using bank::OptionField;

constexpr size_t kMaxKey = 255;
constexpr size_t kMaxDescription = 255;

const std::vector<OptionField> kBookOptions{
    {"allow_overdraft", OptionField::Kind::kBool},
};
const std::vector<OptionField> kAchOptions{
    {"entry_class_code", OptionField::Kind::kString, true, 0, {"PPD", "CCD", "WEB", "TEL", "CTX"}},
    {"company_entry_description", OptionField::Kind::kString, false, 10},
    {"same_day", OptionField::Kind::kBool},
    {"allow_overdraft", OptionField::Kind::kBool},
};

bool is_account_number(std::string_view id) { return id.starts_with("acno_"); }

std::string path_of(Rail rail) {
  return rail == Rail::kBook ? "/transfers/book" : "/transfers/ach";
}

// Column's error shape: {type, code, message, ...}.
bool is_column_error(const nlohmann::json& json) {
  return bank::string_field(json, "code") || bank::string_field(json, "type");
}

// The rail of an event about one of rtjobs' transfers, by its type's prefix.
std::optional<Rail> rail_of_event(std::string_view type) {
  if (type.starts_with("ach.outgoing_transfer.")) return Rail::kAch;
  if (type.starts_with("book.transfer.")) return Rail::kBook;
  return std::nullopt;
}

// An ACH or book transfer object as its settlement; nullopt without an id and status.
std::optional<TransferState> read_state(const nlohmann::json& transfer, TransferState state) {
  if (!bank::read_id_and_status(transfer, state)) return std::nullopt;
  const std::string& status = state.bank_status;
  auto settled_at = bank::string_field(transfer, "settled_at");
  if (!settled_at) settled_at = bank::string_field(transfer, "completed_at");
  if (settled_at) state.settled_at = bank::parse_rfc3339(*settled_at);
  if (status == "SETTLED" || status == "COMPLETED") {
    state.settlement = SettlementStatus::kSettled;
  } else if (status == "RETURNED") {
    const auto details = transfer.find("return_details");
    const nlohmann::json first =
        details != transfer.end() && details->is_array() && !details->empty() ? (*details)[0]
                                                                              : nlohmann::json();
    std::optional<std::string> code;
    if (auto raw = bank::string_field(first, "return_code")) code = bank::nacha_code(*raw);
    bank::mark_returned(state, std::move(code),
                        bank::string_field(first, "description").value_or(""));
  } else if (status == "CANCELED" || status == "REJECTED") {
    bank::mark_canceled(state, status);
  } else {
    // INITIATED, MANUAL_REVIEW, SUBMITTED, HOLD; and RETURN_DISHONORED / RETURN_CONTESTED, a
    // return in dispute whose money may still move either way: followed, never guessed.
    state.settlement = SettlementStatus::kPending;
  }
  return state;
}

class ColumnApi final : public BankApi {
 public:
  ColumnApi(std::string base_url, const std::string& api_key)
      : base_url_(std::move(base_url)), auth_header_(bank::basic_auth_header("", api_key)) {}

  Result<void> check_transfer(std::string_view /*provider*/,
                              const TransferSpec& spec) const override {
    // Column holds every account's amounts in USD.
    if (spec.currency != "USD") return invalid("currency", "Column moves USD only");
    if (spec.description.size() > kMaxDescription) {
      return invalid("description", "Column takes descriptions of at most 255 characters");
    }
    return spec.rail == Rail::kBook
               ? bank::check_options(spec.provider_options, kBookOptions, "Column book transfers")
               : bank::check_options(spec.provider_options, kAchOptions, "Column ACH transfers");
  }

  Result<HttpCall> create_call(const TransferRequest& request) const override {
    if (auto ok = bank::check_key(request.idempotency_key, kMaxKey); !ok) {
      return std::unexpected(ok.error());
    }
    const bool book = request.rail == Rail::kBook;
    auto options = bank::parse_options(request.provider_options, book ? kBookOptions : kAchOptions,
                                       "Column transfers");
    if (!options) return std::unexpected(options.error());
    nlohmann::json body = {{"amount", request.amount}, {"currency_code", request.currency}};
    if (book) {
      body[is_account_number(request.source_account) ? "sender_account_number_id"
                                                     : "sender_bank_account_id"] =
          request.source_account;
      body[is_account_number(request.destination_account) ? "receiver_account_number_id"
                                                          : "receiver_bank_account_id"] =
          request.destination_account;
    } else {
      body[is_account_number(request.source_account) ? "account_number_id" : "bank_account_id"] =
          request.source_account;
      body["counterparty_id"] = request.destination_account;
      body["type"] = "CREDIT";
    }
    if (!request.description.empty()) body["description"] = request.description;
    body.update(*options);
    return bank::json_post(base_url_ + path_of(request.rail), body,
                           {"Content-Type: application/json", "Accept: application/json", "Expect:",
                            "Idempotency-Key: " + request.idempotency_key, auth_header_});
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
      // Book: COMPLETED | HOLD | REJECTED | CANCELED; ACH: INITIATED, MANUAL_REVIEW, SUBMITTED,
      // SETTLED, COMPLETED, and the final refusals REJECTED, CANCELED, RETURNED.
      if (*status == "REJECTED" || *status == "CANCELED" || *status == "RETURNED") {
        return bank::declined_transfer(answer, *id, *status, bank::normalise_reason(*status),
                                       "Column transfer " + *id + " is " + *status);
      }
      TransferResult r = bank::succeeded(answer, *id, *status);
      // Every ACH transfer has still to settle; a book transfer is final once COMPLETED.
      if (request.rail == Rail::kAch || *status != "COMPLETED") {
        r.settlement = SettlementStatus::kPending;
      }
      return r;
    }
    auto code = bank::string_field(json, "code");
    auto type = bank::string_field(json, "type");
    if (!code && !type) {
      return bank::unavailable(answer, "http_" + std::to_string(answer.status),
                               "the bank answered HTTP " + std::to_string(answer.status) +
                                   " without a Column error body");
    }
    const std::string reason = code.value_or(*type);
    const std::string message = bank::string_field(json, "message").value_or(reason);
    // A 404 invalid_request_error is a route (or object) Column does not have, e.g. under a
    // wrong base_url; a missing account is a bank_account_error.
    const bool no_route = answer.status == 404 && type == "invalid_request_error";
    if (bank::never_declined(answer.status) || no_route || bank::is_key_conflict(reason)) {
      return bank::unavailable(answer, reason, message);
    }
    return bank::declined(answer, bank::normalise_reason(reason), message);
  }

  bool follows_settlement() const override { return true; }

  std::optional<HttpCall> fetch_call(std::string_view reference, Rail rail) const override {
    return bank::http_get(base_url_ + path_of(rail) + "/" + bank::percent_encode(reference),
                          {"Accept: application/json", auth_header_});
  }

  Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                     const HttpAnswer& answer) const override {
    return bank::read_look_up(answer, rail, "Column", reference, is_column_error, read_state);
  }

  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                              std::string_view secret) const override {
    if (auto ok =
            bank::verify_body_signature(delivery, "column-signature", "Column-Signature",
                                        bank::hex_decode, bank::hmac_sha256(secret, delivery.body));
        !ok) {
      return std::unexpected(ok.error());
    }
    const nlohmann::json event = bank::parse_json(delivery.body);
    auto id = bank::string_field(event, "id");
    auto type = bank::string_field(event, "type");
    if (!id || id->empty() || !type) return invalid("body", "not a Column event: no id or type");
    BankEvent out;
    out.event_id = std::move(*id);
    out.type = std::move(*type);
    if (const auto rail = rail_of_event(out.type)) {
      const nlohmann::json data = event.contains("data") ? event["data"] : nlohmann::json();
      auto state = read_state(data, bank::delivered(data, *rail));
      if (!state) {
        return invalid("body", "Column event " + out.type + " without a transfer in data");
      }
      out.reference = state->reference;
      out.rail = rail;
      out.state = std::move(*state);
    }
    return std::vector<BankEvent>{std::move(out)};
  }

 private:
  const std::string base_url_;
  const std::string auth_header_;  // holds the API key: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_column_api(std::string base_url, const std::string& api_key) {
  return std::make_unique<ColumnApi>(std::move(base_url), api_key);
}

}  // namespace rtjobs
