// Unit (https://unit.co/docs/api): JSON:API payments, bearer token.
//   POST /payments {"data": {"type": "bookPayment" | "achPayment", "attributes": {amount (cents),
//        description, idempotencyKey, tags, ...}, "relationships": {account, counterpartyAccount |
//        counterparty}}}
// The idempotency key goes in attributes.idempotencyKey, and is also written as a tag with the
// job id, so a re-attempt first looks the payment up with GET /payments?filter[tags]= (Unit's
// only look-up by a client value). A refusal usually arrives as a payment with status
// "Rejected" and a `reason`; errors are {"errors": [{status, code, title, detail}]}.
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"

namespace rtjobs {
namespace {

using bank::OptionField;

constexpr size_t kMaxKey = 255;
constexpr size_t kMaxBookDescription = 80;
constexpr size_t kMaxAchDescription = 10;  // the ACH Company Entry Description
constexpr const char* kKeyTag = "rtjobs_idempotency_key";
constexpr const char* kJobTag = "rtjobs_job_id";
constexpr const char* kMediaType = "application/vnd.api+json";

const std::vector<OptionField> kAchOptions{
    {"company_entry_description", OptionField::Kind::kString, false, kMaxAchDescription},
    {"addenda", OptionField::Kind::kString, false, 80},
    {"sec_code", OptionField::Kind::kString, false, 0, {"WEB", "CCD", "PPD"}},
    {"same_day", OptionField::Kind::kBool},
};

// The description Unit gets: a book payment's is the transfer's; an ACH payment's is the
// company_entry_description option, else the transfer's when it fits 10 characters.
Result<std::string> description_for(Rail rail, std::string_view description,
                                    const nlohmann::json& options) {
  if (rail == Rail::kBook) {
    if (description.empty() || description.size() > kMaxBookDescription) {
      return invalid("description", "Unit book payments need a description of 1 to 80 characters");
    }
    return std::string(description);
  }
  if (auto own = bank::string_field(options, "company_entry_description")) return *own;
  if (description.empty() || description.size() > kMaxAchDescription) {
    return invalid("provider_options.company_entry_description",
                   "is required for Unit ACH payments whose description is not 1 to 10 "
                   "characters");
  }
  return std::string(description);
}

nlohmann::json ref(std::string_view type, std::string_view id) {
  return {{"data", {{"type", type}, {"id", id}}}};
}

class UnitApi final : public BankApi {
 public:
  UnitApi(std::string base_url, const std::string& token)
      : base_url_(std::move(base_url)), auth_header_("Authorization: Bearer " + token) {}

  Result<void> check_transfer(std::string_view /*provider*/,
                              const TransferSpec& spec) const override {
    if (spec.currency != "USD") return invalid("currency", "Unit moves USD only");
    const bool book = spec.rail == Rail::kBook;
    auto options = bank::parse_options(spec.provider_options,
                                       book ? std::span<const OptionField>{} : kAchOptions,
                                       book ? "Unit book payments" : "Unit ACH payments");
    if (!options) return std::unexpected(options.error());
    auto description = description_for(spec.rail, spec.description, *options);
    if (!description) return std::unexpected(description.error());
    return {};
  }

  Result<HttpCall> create_call(const TransferRequest& request) const override {
    if (auto ok = bank::check_key(request.idempotency_key, kMaxKey); !ok) {
      return std::unexpected(ok.error());
    }
    const bool book = request.rail == Rail::kBook;
    auto options =
        bank::parse_options(request.provider_options,
                            book ? std::span<const OptionField>{} : kAchOptions, "Unit payments");
    if (!options) return std::unexpected(options.error());
    auto description = description_for(request.rail, request.description, *options);
    if (!description) return std::unexpected(description.error());
    nlohmann::json attributes = {
        {"amount", request.amount},
        {"description", *description},
        {"idempotencyKey", request.idempotency_key},
        {"tags", {{kKeyTag, request.idempotency_key}, {kJobTag, request.reference}}}};
    nlohmann::json relationships = {{"account", ref("depositAccount", request.source_account)}};
    if (book) {
      relationships["counterpartyAccount"] = ref("depositAccount", request.destination_account);
    } else {
      attributes["direction"] = "Credit";
      if (auto v = bank::string_field(*options, "addenda")) attributes["addenda"] = *v;
      if (auto v = bank::string_field(*options, "sec_code")) attributes["secCode"] = *v;
      if (options->contains("same_day")) attributes["sameDay"] = (*options)["same_day"];
      relationships["counterparty"] = ref("counterparty", request.destination_account);
    }
    const nlohmann::json body = {{"data",
                                  {{"type", book ? "bookPayment" : "achPayment"},
                                   {"attributes", attributes},
                                   {"relationships", relationships}}}};
    return bank::json_post(base_url_ + "/payments", body,
                           {std::string("Content-Type: ") + kMediaType,
                            std::string("Accept: ") + kMediaType, "Expect:", auth_header_});
  }

  TransferResult read_answer(const TransferRequest& /*request*/,
                             const HttpAnswer& answer) const override {
    const nlohmann::json json = bank::parse_json(answer.body);
    if (answer.status >= 200 && answer.status <= 299) {
      return read_payment(
          answer, json.is_object() && json.contains("data") ? json["data"] : nlohmann::json());
    }
    const nlohmann::json* error = nullptr;
    if (json.is_object() && json.contains("errors") && json["errors"].is_array() &&
        !json["errors"].empty() && json["errors"][0].is_object()) {
      error = &json["errors"][0];
    }
    if (error == nullptr) {
      return bank::unavailable(answer, "http_" + std::to_string(answer.status),
                               "the bank answered HTTP " + std::to_string(answer.status) +
                                   " without a Unit errors body");
    }
    const std::string title = bank::string_field(*error, "title").value_or("");
    const std::string reason =
        bank::string_field(*error, "code")
            .value_or(title.empty() ? "http_" + std::to_string(answer.status) : title);
    const std::string message = bank::string_field(*error, "detail").value_or(reason);
    if (bank::never_declined(answer.status) || bank::is_key_conflict(reason) ||
        bank::is_key_conflict(message)) {
      return bank::unavailable(answer, reason, message);
    }
    return bank::declined(answer, bank::normalise_reason(reason), message);
  }

  std::optional<HttpCall> lookup_call(const TransferRequest& request) const override {
    const nlohmann::json tags = {{kKeyTag, request.idempotency_key}};
    HttpCall call;
    call.method = "GET";
    call.url = base_url_ + "/payments?filter%5Btags%5D=" + bank::percent_encode(tags.dump());
    call.headers = {std::string("Accept: ") + kMediaType, auth_header_};
    return call;
  }

  std::optional<TransferResult> read_lookup(const TransferRequest& /*request*/,
                                            const HttpAnswer& answer) const override {
    auto found = bank::only_listed(answer);
    if (!found) return std::nullopt;
    return read_payment(answer, *found);
  }

 private:
  static TransferResult read_payment(const HttpAnswer& answer, const nlohmann::json& payment) {
    auto id = bank::string_field(payment, "id");
    const nlohmann::json attributes = payment.is_object() && payment.contains("attributes")
                                          ? payment["attributes"]
                                          : nlohmann::json();
    auto status = bank::string_field(attributes, "status");
    if (!id || id->empty() || !status) return bank::unreadable(answer, "a payment id and status");
    // Pending, PendingReview, Clearing and Sent move on; Rejected, Canceled and Returned are
    // final refusals.
    if (*status == "Rejected" || *status == "Canceled" || *status == "Returned") {
      const std::string reason = bank::string_field(attributes, "reason").value_or(*status);
      return bank::declined_transfer(answer, *id, *status, bank::normalise_reason(reason),
                                     "Unit payment " + *id + " " + *status + ": " + reason);
    }
    return bank::succeeded(answer, *id, *status);
  }

  const std::string base_url_;
  const std::string auth_header_;  // holds the token: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_unit_api(std::string base_url, const std::string& token) {
  return std::make_unique<UnitApi>(std::move(base_url), token);
}

}  // namespace rtjobs
