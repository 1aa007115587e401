#include "baas/http_provider.hpp"

#include <utility>

#include <nlohmann/json.hpp>

#include "baas/bank_answer.hpp"

namespace rtjobs {
namespace {

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
      TransferResult r = bank::succeeded(answer, id.value_or(""), "");
      if (!id || id->empty()) {
        r.reference.reset();
        r.message = "the bank answered " + std::to_string(status) + " without a transfer id";
      }
      return r;
    }
    std::string code = "http_" + std::to_string(status);
    std::string message = "the bank answered HTTP " + std::to_string(status);
    if (json.is_object() && json.contains("error")) {
      code = bank::string_field(json["error"], "code").value_or(code);
      message = bank::string_field(json["error"], "message").value_or(message);
    }
    if (bank::never_declined(status) || bank::is_key_conflict(code)) {
      return bank::unavailable(answer, code, message);
    }
    return bank::declined(answer, code, message);
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
