// Increase (https://increase.com/documentation/api): account transfers (book) and ACH transfers.
//   POST /account_transfers {account_id, amount (cents), description, destination_account_id}
//   POST /ach_transfers     {account_id, amount, external_account_id, statement_descriptor, ...}
//   GET  /{account,ach}_transfers?idempotency_key=K  -> {"data": [transfer] or []}
// Errors are {type, status, title, detail}; `type` is the stable field. Insufficient funds is
// a 409 invalid_operation_error: the one 409 that refuses the transfer; every other 409 is about
// the idempotency key and never a refusal.
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"

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
    if (!type) {
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

  std::optional<TransferResult> read_lookup(const TransferRequest& request,
                                            const HttpAnswer& answer) const override {
    auto found = bank::only_listed(answer);
    if (!found) return std::nullopt;
    return read_transfer(request, answer, *found);
  }

 private:
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
    return bank::succeeded(answer, *id, *status);
  }

  const std::string base_url_;
  const std::string auth_header_;  // holds the token: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_increase_api(std::string base_url, const std::string& token) {
  return std::make_unique<IncreaseApi>(std::move(base_url), token);
}

}  // namespace rtjobs
