#include "baas/http_provider.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace rtjobs {
namespace {

constexpr size_t kMaxResponseBody = 64 * 1024;  // SPEC section 1: response_body cap

bool curl_ready() {
  // curl_global_init is not thread-safe; a function-local static runs it exactly once.
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

// Characters that may appear in a header value we build (no CR/LF/NUL: no header injection).
bool is_header_safe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

struct Call {
  std::function<void(TransferResult)> done;
  std::optional<TransferResult> preset;  // answered without the bank (a malformed request)
  std::string body;
  curl_slist* headers = nullptr;
  std::string response;  // at most kMaxResponseBody bytes
  char error[CURL_ERROR_SIZE] = {};

  Call() = default;
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;
  ~Call() { curl_slist_free_all(headers); }
};

size_t on_response_bytes(char* data, size_t size, size_t count, void* user) {
  auto* call = static_cast<Call*>(user);
  const size_t len = size * count;
  const size_t room = kMaxResponseBody - std::min(call->response.size(), kMaxResponseBody);
  // The rest is read and dropped rather than aborting, so the connection stays reusable.
  call->response.append(data, std::min(len, room));
  return len;
}

TransferResult unavailable(std::string code, std::string message) {
  TransferResult r;
  r.outcome = Outcome::kUnavailable;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

// Reads a complete HTTP answer per SPEC sections 2 and 5.
TransferResult interpret_answer(int status, std::string body) {
  TransferResult r;
  r.outcome = classify_http_status(status);
  r.http_status = status;
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (r.outcome == Outcome::kSucceeded) {
    if (json.is_object() && json.contains("id") && json["id"].is_string() &&
        !json["id"].get_ref<const std::string&>().empty()) {
      r.reference = json["id"].get<std::string>();
    } else {
      r.message = "the bank answered " + std::to_string(status) + " without a transfer id";
    }
  } else {
    if (json.is_object() && json.contains("error") && json["error"].is_object()) {
      const auto& error = json["error"];
      if (error.contains("code") && error["code"].is_string()) r.code = error["code"];
      if (error.contains("message") && error["message"].is_string()) r.message = error["message"];
    }
    if (!r.code) r.code = "http_" + std::to_string(status);
    if (!r.message) r.message = "the bank answered HTTP " + std::to_string(status);
  }
  r.response_body = std::move(body);
  return r;
}

TransferResult interpret_failure(CURLcode code, const char* error_buffer) {
  std::string detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) return unavailable("timeout", std::move(detail));
  return unavailable("connection_failed", std::move(detail));
}

void complete(Call& call, TransferResult result) {
  try {
    call.done(std::move(result));
  } catch (const std::exception& e) {  // a bug in the caller; keep the transfer thread alive
    log::error("provider callback threw", {{"error", e.what()}});
  } catch (...) {
    log::error("provider callback threw");
  }
}

}  // namespace

class HttpProvider::Engine {
 public:
  Engine(const HttpProviderOptions& options, CURLM* multi)
      : url_(options.base_url + "/transfers"),
        auth_header_(options.token.empty() ? "" : "Authorization: Bearer " + options.token),
        timeout_ms_(options.timeout.count()),
        connect_timeout_ms_(std::min(options.connect_timeout, options.timeout).count()),
        multi_(multi) {
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, long{options.max_connections});
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long{options.max_connections});
    thread_ = std::thread([this] {
      name_this_thread("rt-baas");
      run();
    });
  }

  ~Engine() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    curl_multi_wakeup(multi_);
    thread_.join();
    curl_multi_cleanup(multi_);
  }

  void submit(TransferRequest request, std::function<void(TransferResult)> done) {
    auto call = prepare(std::move(request), std::move(done));
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        queue_.push_back(std::move(call));
        call = nullptr;
      }
    }
    if (call) {
      complete(*call, unavailable("shutdown", "the provider is shutting down"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

 private:
  std::unique_ptr<Call> prepare(TransferRequest request,
                                std::function<void(TransferResult)> done) const {
    auto call = std::make_unique<Call>();
    call->done = std::move(done);
    if (request.idempotency_key.empty() || !is_header_safe(request.idempotency_key)) {
      TransferResult r;
      r.outcome = Outcome::kDeclined;  // the bank would refuse it: final, never retried
      r.code = "invalid_request";
      r.message = "the idempotency key is empty or not printable ASCII";
      call->preset = std::move(r);
      return call;
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
    call->body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const std::string key_header = "Idempotency-Key: " + request.idempotency_key;
    for (const std::string& h :
         {std::string("Content-Type: application/json"), std::string("Accept: application/json"),
          std::string("Expect:"), key_header, auth_header_}) {
      if (h.empty()) continue;
      curl_slist* next = curl_slist_append(call->headers, h.c_str());
      if (next == nullptr) {
        call->preset = unavailable("internal", "out of memory building the request headers");
        return call;
      }
      call->headers = next;
    }
    return call;
  }

  void run() {
    for (;;) {
      std::vector<std::unique_ptr<Call>> incoming;
      bool stop = false;
      {
        std::lock_guard lock(mu_);
        incoming.swap(queue_);
        stop = stopping_;
      }
      if (stop) {
        for (auto& call : incoming) {
          complete(*call, unavailable("shutdown", "the provider is shutting down"));
        }
        break;
      }
      for (auto& call : incoming) start(std::move(call));
      int running = 0;
      curl_multi_perform(multi_, &running);
      collect_finished();
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    for (auto& [easy, call] : in_flight_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      complete(*call, unavailable("shutdown", "the provider shut down during the call"));
    }
    in_flight_.clear();
    for (CURL* easy : idle_) curl_easy_cleanup(easy);
    idle_.clear();
  }

  void start(std::unique_ptr<Call> call) {
    if (call->preset) {
      complete(*call, std::move(*call->preset));
      return;
    }
    CURL* easy = nullptr;
    if (!idle_.empty()) {
      easy = idle_.back();
      idle_.pop_back();
      curl_easy_reset(easy);  // keeps the DNS and TLS session caches
    } else {
      easy = curl_easy_init();
    }
    if (easy == nullptr) {
      complete(*call, unavailable("internal", "curl_easy_init failed"));
      return;
    }
    curl_easy_setopt(easy, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call->body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_response_bytes);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->error);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_ms_));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "rtjobs");
    if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
      curl_easy_cleanup(easy);
      complete(*call, unavailable("internal", "curl_multi_add_handle failed"));
      return;
    }
    in_flight_.emplace(easy, std::move(call));
  }

  void collect_finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = in_flight_.find(easy);
      std::unique_ptr<Call> call = std::move(it->second);
      in_flight_.erase(it);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      curl_multi_remove_handle(multi_, easy);
      idle_.push_back(easy);
      complete(*call, code == CURLE_OK
                          ? interpret_answer(static_cast<int>(status), std::move(call->response))
                          : interpret_failure(code, call->error));
    }
  }

  const std::string url_;
  const std::string auth_header_;  // holds the token: never logged
  const int64_t timeout_ms_;
  const int64_t connect_timeout_ms_;
  CURLM* const multi_;
  std::thread thread_;

  std::mutex mu_;
  // Protected by mu_.
  std::vector<std::unique_ptr<Call>> queue_;
  bool stopping_ = false;

  // Transfer thread only.
  std::unordered_map<CURL*, std::unique_ptr<Call>> in_flight_;
  std::vector<CURL*> idle_;  // pooled easy handles
};

Result<std::unique_ptr<HttpProvider>> HttpProvider::create(HttpProviderOptions options) {
  std::string& url = options.base_url;
  const bool http = url.starts_with("http://"), https = url.starts_with("https://");
  while (url.ends_with('/')) url.pop_back();
  if ((!http && !https) || url.size() <= (https ? 8u : 7u) || !is_header_safe(url) ||
      url.find(' ') != std::string::npos) {
    return invalid("base_url", "must be an http:// or https:// URL");
  }
  if (!is_header_safe(options.token) || options.token.find(' ') != std::string::npos) {
    return invalid("token", "the bearer token holds characters not allowed in a header");
  }
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("timeout_ms", "must be positive");
  }
  if (options.max_connections < 1) return invalid("max_connections", "must be at least 1");
  if (!curl_ready()) return fail(ErrorCode::kInternal, "curl_global_init failed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return fail(ErrorCode::kInternal, "curl_multi_init failed");
  auto engine = std::make_unique<Engine>(options, multi);
  return std::unique_ptr<HttpProvider>(
      new HttpProvider(std::move(options.name), options.timeout, std::move(engine)));
}

HttpProvider::HttpProvider(std::string name, std::chrono::milliseconds timeout,
                           std::unique_ptr<Engine> engine)
    : name_(std::move(name)), timeout_(timeout), engine_(std::move(engine)) {}

HttpProvider::~HttpProvider() = default;

void HttpProvider::execute(TransferRequest request, std::function<void(TransferResult)> done) {
  engine_->submit(std::move(request), std::move(done));
}

}  // namespace rtjobs
