#include "baas/http_transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <sys/socket.h>

#include "core/log.hpp"
#include "core/net_address.hpp"
#include "core/thread_name.hpp"

namespace rtjobs {
namespace {

bool curl_ready() {
  // curl_global_init is not thread-safe; a function-local static runs it exactly once.
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

struct Pending {
  HttpCall call;
  std::function<void(HttpAnswer)> done;
  std::function<void()> task;  // set instead of `call` and `done` by post()
  curl_slist* headers = nullptr;
  std::string response;  // at most max_body bytes
  size_t max_body = HttpAnswer::kMaxBody;
  char error[CURL_ERROR_SIZE] = {};
  std::string refused;  // an address not dialled (refuse_private_addresses), for the error

  Pending() = default;
  Pending(const Pending&) = delete;
  Pending& operator=(const Pending&) = delete;
  ~Pending() { curl_slist_free_all(headers); }
};

// CURLOPT_OPENSOCKETFUNCTION with refuse_private_addresses: no socket for an address that is
// not public, so libcurl tries the host's next address or fails with CURLE_COULDNT_CONNECT.
curl_socket_t open_public_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* pending = static_cast<Pending*>(user);
  if (purpose == CURLSOCKTYPE_IPCXN && !is_public_address(&address->addr)) {
    pending->refused = address_text(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
}

size_t on_response_bytes(char* data, size_t size, size_t count, void* user) {
  auto* pending = static_cast<Pending*>(user);
  const size_t len = size * count;
  const size_t room = pending->max_body - std::min(pending->response.size(), pending->max_body);
  // The rest is read and dropped rather than aborting, so the connection stays reusable.
  pending->response.append(data, std::min(len, room));
  return len;
}

HttpAnswer failed(HttpAnswer::Failure failure, std::string error, bool maybe_sent = false) {
  HttpAnswer a;
  a.failure = failure;
  a.error = std::move(error);
  a.maybe_sent = maybe_sent;
  return a;
}

void complete(Pending& pending, HttpAnswer answer) {
  try {
    if (pending.task) return pending.task();
    pending.done(std::move(answer));
  } catch (const std::exception& e) {  // a bug in the caller; keep the transfer thread alive
    log::error("bank call callback threw", {{"error", e.what()}});
  } catch (...) {
    log::error("bank call callback threw");
  }
}

std::optional<std::string> header_value(CURL* easy, const char* name) {
  curl_header* h = nullptr;
  if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == nullptr) {
    return std::nullopt;
  }
  return std::string(h->value);
}

HttpAnswer read_answer(CURL* easy, CURLcode code, Pending& pending) {
  if (code == CURLE_OK) {
    HttpAnswer a;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    a.status = static_cast<int>(status);
    a.body = std::move(pending.response);
    a.retry_after = header_value(easy, "Retry-After");
    auto replayed = header_value(easy, "Idempotent-Replayed");
    a.replayed = replayed && *replayed == "true";
    return a;
  }
  std::string detail = pending.error[0] != '\0' ? pending.error : curl_easy_strerror(code);
  if (!pending.refused.empty()) {
    detail = "refused to connect to a private address (" + pending.refused +
             "; RT_WEBHOOK_ALLOW_PRIVATE=true allows it): " + detail;
  }
  // Once libcurl got to sending (pre-transfer time set), the bank may have the request.
  curl_off_t pretransfer = 0;
  curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  const bool maybe_sent = pretransfer > 0;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return failed(HttpAnswer::Failure::kNotSent, std::move(detail));
    case CURLE_OPERATION_TIMEDOUT:
      return failed(HttpAnswer::Failure::kTimeout, std::move(detail), maybe_sent);
    default:
      return failed(maybe_sent ? HttpAnswer::Failure::kConnection : HttpAnswer::Failure::kNotSent,
                    std::move(detail), maybe_sent);
  }
}

}  // namespace

bool is_header_safe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

class HttpTransport::Engine {
 public:
  Engine(const HttpTransportOptions& options, CURLM* multi)
      : timeout_ms_(options.timeout.count()),
        connect_timeout_ms_(std::min(options.connect_timeout, options.timeout).count()),
        refuse_private_(options.refuse_private_addresses),
        max_body_(options.max_body),
        multi_(multi) {
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, long{options.max_connections});
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long{options.max_connections});
    thread_ = std::thread([this, name = options.thread_name] {
      name_this_thread(name);
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

  void submit(std::unique_ptr<Pending> pending) {
    {
      std::lock_guard lock(mu_);
      if (!stopping_) {
        queue_.push_back(std::move(pending));
        pending = nullptr;
      }
    }
    if (pending) {
      complete(*pending, failed(HttpAnswer::Failure::kShutdown, "the transport is shutting down"));
      return;
    }
    curl_multi_wakeup(multi_);
  }

 private:
  void run() {
    for (;;) {
      std::vector<std::unique_ptr<Pending>> incoming;
      bool stop = false;
      {
        std::lock_guard lock(mu_);
        incoming.swap(queue_);
        stop = stopping_;
      }
      if (stop) {
        for (auto& pending : incoming) {
          complete(*pending,
                   failed(HttpAnswer::Failure::kShutdown, "the transport is shutting down"));
        }
        break;
      }
      for (auto& pending : incoming) start(std::move(pending));
      int running = 0;
      curl_multi_perform(multi_, &running);
      collect_finished();
      curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    for (auto& [easy, pending] : in_flight_) {
      curl_multi_remove_handle(multi_, easy);
      curl_easy_cleanup(easy);
      complete(*pending, failed(HttpAnswer::Failure::kShutdown,
                                "the transport shut down during the call", /*maybe_sent=*/true));
    }
    in_flight_.clear();
    for (CURL* easy : idle_) curl_easy_cleanup(easy);
    idle_.clear();
  }

  void start(std::unique_ptr<Pending> pending) {
    if (pending->task) return complete(*pending, {});
    for (const std::string& h : pending->call.headers) {
      curl_slist* next = curl_slist_append(pending->headers, h.c_str());
      if (next == nullptr) {
        complete(*pending, failed(HttpAnswer::Failure::kInternal, "out of memory for headers"));
        return;
      }
      pending->headers = next;
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
      complete(*pending, failed(HttpAnswer::Failure::kInternal, "curl_easy_init failed"));
      return;
    }
    const HttpCall& call = pending->call;
    pending->max_body = max_body_;
    curl_easy_setopt(easy, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (call.method == "POST") {
      curl_easy_setopt(easy, CURLOPT_POST, 1L);
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(call.body.size()));
    } else {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, pending->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &on_response_bytes);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, pending.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, pending->error);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms_));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_ms_));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "rtjobs");
    // Redirects are not followed (CURLOPT_FOLLOWLOCATION stays off): see the header.
    if (refuse_private_) {
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &open_public_socket);
      curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, pending.get());
    }
    if (curl_multi_add_handle(multi_, easy) != CURLM_OK) {
      curl_easy_cleanup(easy);
      complete(*pending, failed(HttpAnswer::Failure::kInternal, "curl_multi_add_handle failed"));
      return;
    }
    in_flight_.emplace(easy, std::move(pending));
  }

  void collect_finished() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      auto it = in_flight_.find(easy);
      std::unique_ptr<Pending> pending = std::move(it->second);
      in_flight_.erase(it);
      HttpAnswer answer = read_answer(easy, code, *pending);
      curl_multi_remove_handle(multi_, easy);
      idle_.push_back(easy);
      complete(*pending, std::move(answer));
    }
  }

  const int64_t timeout_ms_;
  const int64_t connect_timeout_ms_;
  const bool refuse_private_;
  const size_t max_body_;
  CURLM* const multi_;
  std::thread thread_;

  std::mutex mu_;
  // Protected by mu_.
  std::vector<std::unique_ptr<Pending>> queue_;
  bool stopping_ = false;

  // Transfer thread only.
  std::unordered_map<CURL*, std::unique_ptr<Pending>> in_flight_;
  std::vector<CURL*> idle_;  // pooled easy handles
};

Result<std::unique_ptr<HttpTransport>> HttpTransport::create(const HttpTransportOptions& options) {
  if (options.timeout <= std::chrono::milliseconds::zero()) {
    return invalid("timeout_ms", "must be positive");
  }
  if (options.max_connections < 1) return invalid("max_connections", "must be at least 1");
  if (!curl_ready()) return fail(ErrorCode::kInternal, "curl_global_init failed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return fail(ErrorCode::kInternal, "curl_multi_init failed");
  return std::unique_ptr<HttpTransport>(
      new HttpTransport(std::make_unique<Engine>(options, multi)));
}

HttpTransport::HttpTransport(std::unique_ptr<Engine> engine) : engine_(std::move(engine)) {}

HttpTransport::~HttpTransport() = default;

void HttpTransport::send(HttpCall call, std::function<void(HttpAnswer)> done) {
  auto pending = std::make_unique<Pending>();
  pending->call = std::move(call);
  pending->done = std::move(done);
  engine_->submit(std::move(pending));
}

void HttpTransport::post(std::function<void()> task) {
  auto pending = std::make_unique<Pending>();
  pending->task = std::move(task);
  engine_->submit(std::move(pending));
}

}  // namespace rtjobs
