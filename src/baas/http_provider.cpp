// The rtjobs BaaS protocol (SPEC section 5), extended here for settlement (SPEC section 8):
//
//   POST {base_url}/transfers   2xx {"id", "status"?}: "status": "pending" means the bank has
//                               still to settle the transfer (rtjobs follows it); no status, or
//                               any other ("settled", "completed", "executed"), is final at
//                               once, so servers written before this extension keep working.
//   GET  {base_url}/transfers/{id}   (Authorization: Bearer <token>, id percent-encoded)
//        2xx: the transfer object {"id", "status": "pending" | "settled" | "returned" |
//             "canceled", "return_code"?: "R01", "settled_at"?: RFC 3339, "reason"?: text};
//             "completed" reads as "settled", an unknown status as "pending";
//        404 {"error": {"code", "message"}}: no such transfer; anything else: unavailable.
//   Webhooks: POST to rtjobs' /v1/bank-webhooks/{provider}, signed with Standard Webhooks
//        (headers webhook-id, webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of
//        id.timestamp.body>", ±5 minutes). The secret is "whsec_<base64>" (key: the decoded
//        bytes) or any other text (key: its bytes). Body {"type": "transfer.updated",
//        "timestamp", "data": <transfer object as GET answers it>}; the event id is webhook-id.
//        Other types are accepted and ignored.
#include "baas/http_provider.hpp"

#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"
#include "baas/transfer_state.hpp"
#include "baas/webhook_signature.hpp"

namespace rtjobs {
namespace {

// A transfer object of the protocol as its settlement; nullopt without an id and status.
std::optional<TransferState> read_state(const nlohmann::json& transfer, TransferState state) {
  if (!bank::read_id_and_status(transfer, state)) return std::nullopt;
  const std::string& status = state.bank_status;
  if (auto at = bank::string_field(transfer, "settled_at"))
    state.settled_at = bank::parse_rfc3339(*at);
  const auto reason = bank::string_field(transfer, "reason");
  if (status == "settled" || status == "completed") {
    state.settlement = SettlementStatus::kSettled;
  } else if (status == "returned") {
    std::optional<std::string> code;
    if (auto raw = bank::string_field(transfer, "return_code")) code = bank::nacha_code(*raw);
    bank::mark_returned(state, std::move(code), reason.value_or(""));
  } else if (status == "canceled") {
    bank::mark_canceled(state, reason.value_or(status));
  } else {
    state.settlement = SettlementStatus::kPending;
  }
  return state;
}

bool is_protocol_error(const nlohmann::json& json) {
  return json.is_object() && json.contains("error") && json["error"].is_object();
}

class RtjobsApi final : public BankApi {
 public:
  RtjobsApi(std::string base_url, const std::string& token)
      : url_(std::move(base_url) + "/transfers"),
        auth_header_(token.empty() ? "" : "Authorization: Bearer " + token) {}

  Result<HttpCall> create_call(const TransferRequest& request) const override {
    if (auto ok = bank::check_key(request.idempotency_key, 255); !ok) {
      return std::unexpected(ok.error());
    }
    const nlohmann::json body = {
        {"idempotency_key", request.idempotency_key},
        {"amount", request.amount},
        {"currency", request.currency},
        {"source_account", request.source_account},
        {"destination_account", request.destination_account},
        {"description", request.description},
        {"reference", request.reference},
    };
    HttpCall call;
    call.url = url_;
    call.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    call.headers = {"Content-Type: application/json", "Accept: application/json",
                    "Expect:", "Idempotency-Key: " + request.idempotency_key};
    if (!auth_header_.empty()) call.headers.push_back(auth_header_);
    return call;
  }

  TransferResult read_answer(const TransferRequest& /*request*/,
                             const HttpAnswer& answer) const override {
    const nlohmann::json json = bank::parse_json(answer.body);
    const int status = answer.status;
    if (status >= 200 && status <= 299) {
      auto id = bank::string_field(json, "id");
      const auto bank_status = bank::string_field(json, "status");
      TransferResult r = bank::succeeded(answer, id.value_or(""), bank_status.value_or(""));
      if (!id || id->empty()) {
        r.reference.reset();
        r.message = "the bank answered " + std::to_string(status) + " without a transfer id";
      }
      if (bank_status == "pending") r.settlement = SettlementStatus::kPending;
      return r;
    }
    std::string code = "http_" + std::to_string(status);
    std::string message = "the bank answered HTTP " + std::to_string(status);
    if (is_protocol_error(json)) {
      // An empty code or message says nothing: the status's stands (a decline names its code).
      if (auto c = bank::string_field(json["error"], "code"); c && !c->empty()) code = *c;
      if (auto m = bank::string_field(json["error"], "message"); m && !m->empty()) message = *m;
    }
    if (bank::never_declined(status) || bank::is_key_conflict(code)) {
      return bank::unavailable(answer, code, message);
    }
    return bank::declined(answer, code, message);
  }

  bool follows_settlement() const override { return true; }

  std::optional<HttpCall> fetch_call(std::string_view reference, Rail /*rail*/) const override {
    HttpCall call =
        bank::http_get(url_ + "/" + bank::percent_encode(reference), {"Accept: application/json"});
    if (!auth_header_.empty()) call.headers.push_back(auth_header_);
    return call;
  }

  Result<TransferState> read_fetched(std::string_view reference, Rail rail,
                                     const HttpAnswer& answer) const override {
    return bank::read_look_up(answer, rail, "the bank's", reference, is_protocol_error, read_state);
  }

  Result<std::vector<BankEvent>> read_webhook(const WebhookDelivery& delivery,
                                              std::string_view secret) const override {
    auto key = bank::standard_webhook_key(secret);
    if (!key) {
      return bank::unauthenticated(
          "the configured webhook secret starts with whsec_ but is not "
          "base64 after it");
    }
    const std::string keys[] = {std::move(*key)};
    if (auto ok = bank::verify_standard_webhook(delivery, keys); !ok) {
      return std::unexpected(ok.error());
    }
    const nlohmann::json json = bank::parse_json(delivery.body);
    auto type = bank::string_field(json, "type");
    if (!type) return invalid("body", "not an rtjobs protocol event: no type");
    BankEvent out;
    out.event_id = std::string(delivery.header("webhook-id").value_or(""));
    out.type = std::move(*type);
    if (out.type.starts_with("transfer.")) {
      const nlohmann::json data = json.contains("data") ? json["data"] : nlohmann::json();
      auto state = read_state(data, bank::delivered(data, Rail::kBook));
      if (!state) return invalid("body", out.type + " without a transfer id and status in data");
      out.reference = state->reference;
      out.rail = Rail::kBook;
      out.state = std::move(*state);
    }
    return std::vector<BankEvent>{std::move(out)};
  }

 private:
  const std::string url_;
  const std::string auth_header_;  // holds the token: never logged
};

}  // namespace

std::unique_ptr<BankApi> make_rtjobs_api(std::string base_url, const std::string& token) {
  return std::make_unique<RtjobsApi>(std::move(base_url), token);
}

Result<std::string> checked_base_url(std::string url) {
  const bool http = url.starts_with("http://"), https = url.starts_with("https://");
  while (url.ends_with('/')) url.pop_back();
  if ((!http && !https) || url.size() <= (https ? 8u : 7u) || !is_header_safe(url) ||
      url.find(' ') != std::string::npos) {
    return invalid("base_url", "must be an http:// or https:// URL");
  }
  return url;
}

Result<std::unique_ptr<Provider>> make_http_provider(HttpProviderOptions options) {
  auto url = checked_base_url(std::move(options.base_url));
  if (!url) return std::unexpected(url.error());
  if (!is_header_safe(options.token) || options.token.find(' ') != std::string::npos) {
    return invalid("token", "the bearer token holds characters not allowed in a header");
  }
  auto transport =
      HttpTransport::create({options.timeout, options.connect_timeout, options.max_connections});
  if (!transport) return std::unexpected(transport.error());
  return std::unique_ptr<Provider>(std::make_unique<BankProvider>(
      std::move(options.name), make_rtjobs_api(std::move(*url), options.token),
      std::move(*transport), options.timeout));
}

}  // namespace rtjobs
