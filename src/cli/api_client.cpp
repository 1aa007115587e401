#include "cli/api_client.hpp"

#include <future>
#include <utility>

namespace rtjobs::cli {

namespace {

// An API page (500 transfers or jobs at most) fits well within this.
constexpr size_t kMaxAnswer = 64 * 1024 * 1024;

}  // namespace

CliResult<std::unique_ptr<ApiClient>> ApiClient::create(std::string base_url, std::string token,
                                                        std::chrono::milliseconds timeout) {
  while (!base_url.empty() && base_url.back() == '/') base_url.pop_back();
  if (!base_url.starts_with("http://") && !base_url.starts_with("https://")) {
    return std::unexpected(
        CliError{kUsage, "the server URL must start with http:// or https://: " + base_url});
  }
  if (!is_header_safe(token)) {
    return std::unexpected(CliError{kUsage, "the API token holds characters a header cannot"});
  }
  HttpTransportOptions options;
  options.timeout = timeout;
  options.max_connections = 1;
  options.max_body = kMaxAnswer;
  options.thread_name = "rt-cli";
  auto transport = HttpTransport::create(options);
  if (!transport) return std::unexpected(CliError{kFailed, transport.error().message});
  return std::unique_ptr<ApiClient>(
      new ApiClient(std::move(base_url), std::move(token), std::move(*transport)));
}

ApiClient::ApiClient(std::string base_url, std::string token,
                     std::unique_ptr<HttpTransport> transport)
    : base_url_(std::move(base_url)), token_(std::move(token)), transport_(std::move(transport)) {}

CliResult<ApiAnswer> ApiClient::get(std::string_view path) { return call("GET", path, {}); }

CliResult<ApiAnswer> ApiClient::post(std::string_view path, std::string body) {
  return call("POST", path, std::move(body));
}

CliResult<ApiAnswer> ApiClient::call(std::string method, std::string_view path, std::string body) {
  HttpCall call;
  call.method = std::move(method);
  call.url = base_url_ + std::string(path);
  call.headers.emplace_back("Accept: application/json");
  if (call.method == "POST") call.headers.emplace_back("Content-Type: application/json");
  if (!token_.empty()) call.headers.push_back("Authorization: Bearer " + token_);
  call.body = std::move(body);
  std::promise<HttpAnswer> promise;
  auto answered = promise.get_future();
  transport_->send(std::move(call), [&promise](HttpAnswer a) { promise.set_value(std::move(a)); });
  HttpAnswer a = answered.get();
  if (a.failure != HttpAnswer::Failure::kNone) {
    return std::unexpected(
        CliError{kUnavailable, "cannot reach the server at " + base_url_ + ": " + a.error});
  }
  return ApiAnswer{a.status, std::move(a.body)};
}

CliResult<std::string> ApiClient::body_of(CliResult<ApiAnswer> answer) {
  if (!answer) return std::unexpected(std::move(answer.error()));
  if (answer->status >= 200 && answer->status < 300) return std::move(answer->body);
  return std::unexpected(CliError{exit_code_for_status(answer->status),
                                  describe_http_error(answer->status, answer->body)});
}

}  // namespace rtjobs::cli
