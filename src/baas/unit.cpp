// Unit (https://unit.co/docs/api): JSON:API payments, bearer token.
//   POST /payments {"data": {"type": "bookPayment" | "achPayment", "attributes": {amount (cents),
//        description, idempotencyKey, tags, ...}, "relationships": {account, counterpartyAccount |
//        counterparty}}}
// The idempotency key goes in attributes.idempotencyKey, and is also written as a tag with the
// job id, so a re-attempt first looks the payment up with GET /payments?filter[tags]= (Unit's
// only look-up by a client value). A refusal usually arrives as a payment with status
// "Rejected" and a `reason`; errors are {"errors": [{status, code, title, detail}]}.
//
// Settlement: GET /payments/{id}. Pending, PendingReview and Clearing are still on their way;
// Sent is settled (settled_at: attributes.settlementDate at 00:00 UTC); Returned carries its
// reason enum in attributes.reason, mapped to the Nacha code; Rejected and Canceled are
// canceled. A book payment Sent at creation is final. Webhooks are JSON:API batches {"data":
// [events]}, thin, signed X-Unit-Signature = base64(HMAC-SHA1(token, raw body)) without a
// timestamp: duplicates are dropped by event id.
#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/banks.hpp"
#include "baas/transfer_state.hpp"
#include "baas/webhook_signature.hpp"
#include "core/time_format.hpp"

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

// A returned payment's attributes.reason -> Nacha code (Unit's ACH returns page).
constexpr std::pair<std::string_view, std::string_view> kReturnReasons[] = {
    {"InsufficientFunds", "R01"},
    {"AccountClosed", "R02"},
    {"NoAccount", "R03"},
    {"InvalidAccountNumberStructure", "R04"},
    {"UnauthorizedDebitToConsumer", "R05"},
    {"ReturnedPerOdfiRequest", "R06"},
    {"AuthorizationRevokedByCustomer", "R07"},
    {"PaymentStopped", "R08"},
    {"UncollectedFunds", "R09"},
};

std::optional<std::string> return_code_of(std::string_view reason) {
  for (const auto& [name, code] : kReturnReasons) {
    if (name == reason) return std::string(code);
  }
  return bank::nacha_code(reason);
}

const nlohmann::json& member(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

// A payment resource as its settlement; nullopt without an id and status.
std::optional<TransferState> read_state(const nlohmann::json& payment, TransferState state) {
  auto id = bank::string_field(payment, "id");
  const nlohmann::json& attributes = member(payment, "attributes");
  auto status = bank::string_field(attributes, "status");
  if (!id || id->empty() || !status) return std::nullopt;
  state.reference = std::move(*id);
  state.bank_status = *status;
  const std::string reason = bank::string_field(attributes, "reason").value_or("");
  if (*status == "Sent") {
    state.settlement = SettlementStatus::kSettled;
    if (auto date = bank::string_field(attributes, "settlementDate")) {
      if (auto day = parse_date(*date)) state.settled_at = Timestamp(*day);
    }
  } else if (*status == "Returned") {
    bank::mark_returned(state, return_code_of(reason), reason);
  } else if (*status == "Rejected" || *status == "Canceled") {
    bank::mark_canceled(state, reason.empty() ? *status : reason);
  } else {
    state.settlement = SettlementStatus::kPending;  // Pending, PendingReview, Clearing
  }
  return state;
}

// One element of a webhook's batch: a payment event names its payment and kind.
std::optional<BankEvent> read_event(const nlohmann::json& element) {
  auto id = bank::string_field(element, "id");
  auto type = bank::string_field(element, "type");
  if (!id || id->empty() || !type) return std::nullopt;
  BankEvent event;
  event.event_id = std::move(*id);
  event.type = std::move(*type);
  if (event.type.starts_with("payment.")) {
    const nlohmann::json& payment =
        member(member(member(element, "relationships"), "payment"), "data");
    if (auto reference = bank::string_field(payment, "id"); reference && !reference->empty()) {
      event.reference = std::move(*reference);
      const auto kind = bank::string_field(payment, "type");
      if (kind == "achPayment") event.rail = Rail::kAch;
      if (kind == "bookPayment") event.rail = Rail::kBook;
    }
  }
  return event;
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

  TransferResult read_answer(const TransferRequest& request,
                             const HttpAnswer& answer) const override {
    const nlohmann::json json = bank::parse_json(answer.body);
    if (answer.status >= 200 && answer.status <= 299) {
      return read_payment(request, answer, member(json, "data"));
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

  LookUp read_lookup(const TransferRequest& request, const HttpAnswer& answer) const override {
    if (auto found = bank::only_listed(answer)) {
      return {LookUp::Found::kTransfer, read_payment(request, answer, *found)};
    }
    return {bank::listed_none(answer) ? LookUp::Found::kNone : LookUp::Found::kUnreadable, {}};
  }

  bool follows_settlement() const override { return true; }

  std::optional<HttpCall> fetch_call(std::string_view reference, Rail /*rail*/) const override {
    return bank::http_get(base_url_ + "/payments/" + bank::percent_encode(reference),
                          {std::string("Accept: ") + kMediaType, auth_header_});
  }

  Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                     const HttpAnswer& answer) const override {
    return bank::read_look_up(
        answer, rail, "Unit", reference,
        [](const nlohmann::json& body) { return member(body, "errors").is_array(); },
        [](const nlohmann::json& body, TransferState state) {
          return read_state(member(body, "data"), std::move(state));
        });
  }

  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                              std::string_view secret) const override {
    if (auto ok = bank::verify_body_signature(delivery, "x-unit-signature", "X-Unit-Signature",
                                              bank::base64_decode,
                                              bank::hmac_sha1(secret, delivery.body));
        !ok) {
      return std::unexpected(ok.error());
    }
    const nlohmann::json json = bank::parse_json(delivery.body);
    const nlohmann::json& data = member(json, "data");
    if (!data.is_array())
      return invalid("body", "not a Unit webhook: data is not a list of events");
    std::vector<BankEvent> events;
    events.reserve(data.size());
    for (const auto& element : data) {
      auto event = read_event(element);
      if (!event) return invalid("body", "a Unit event without an id or type");
      events.push_back(std::move(*event));
    }
    return events;
  }

 private:
  static TransferResult read_payment(const TransferRequest& request, const HttpAnswer& answer,
                                     const nlohmann::json& payment) {
    auto id = bank::string_field(payment, "id");
    const nlohmann::json& attributes = member(payment, "attributes");
    auto status = bank::string_field(attributes, "status");
    if (!id || id->empty() || !status) return bank::unreadable(answer, "a payment id and status");
    // Pending, PendingReview, Clearing and Sent move on; Rejected, Canceled and Returned are
    // final refusals.
    if (*status == "Rejected" || *status == "Canceled" || *status == "Returned") {
      const std::string reason = bank::string_field(attributes, "reason").value_or(*status);
      return bank::declined_transfer(answer, *id, *status, bank::normalise_reason(reason),
                                     "Unit payment " + *id + " " + *status + ": " + reason);
    }
    TransferResult r = bank::succeeded(answer, *id, *status);
    // Every ACH payment has still to settle; a book payment is final once Sent.
    if (request.rail == Rail::kAch || *status != "Sent") r.settlement = SettlementStatus::kPending;
    return r;
  }

  const std::string base_url_;
  const std::string auth_header_;  // holds the token: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_unit_api(std::string base_url, const std::string& token) {
  return std::make_unique<UnitApi>(std::move(base_url), token);
}

}  // namespace rtjobs
