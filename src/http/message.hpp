// Request and Response: the narrow, library-free view of an HTTP exchange that handlers see.
// The server (Beast) builds a Request per message and writes the Response a handler passes to
// its Respond callback; nothing outside server.cpp knows about Beast.
//
// A Respond callback must be called exactly once and may be called from any thread: the server
// moves the write back onto the connection's own executor. Copies of a Respond share one
// callback (copying costs a reference count, no allocation), so they can be passed along freely.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace rtjobs::http {

struct Request {
  std::string method;                        // upper case, e.g. "GET"
  std::string target;                        // as received, with the query string
  std::string path;                          // percent-decoded, without the query string
  std::map<std::string, std::string> query;  // percent-decoded; the first of repeated keys
  std::vector<std::string> repeated_query;   // keys given more than once (rejected by handlers)
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
  std::string body;
  std::string remote;  // peer address, for logs

  // Set by the pipeline before a handler runs.
  std::string request_id;
  std::string_view route;  // the matched pattern, e.g. "/v1/jobs/{job_id}" (the Router's text)
  std::map<std::string, std::string> params;  // path parameters of the matched route
  std::string caller;  // the API token's caller name; empty without authentication
  std::chrono::steady_clock::time_point received_at = std::chrono::steady_clock::now();

  // The first header of that name (case-insensitive).
  std::optional<std::string_view> header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The answer callback of one request: any callable taking a Response. Copies share it.
class Respond {
 public:
  Respond() = default;
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Respond> &&
                                                    std::is_invocable_v<F&, Response>>>
  Respond(F f)  // NOLINT(google-explicit-constructor): handlers pass lambdas
      : callback_(std::make_shared<Callback<F>>(std::move(f))) {}

  void operator()(Response response) const { callback_->call(std::move(response)); }
  explicit operator bool() const { return callback_ != nullptr; }

 private:
  struct CallbackBase {
    virtual ~CallbackBase() = default;
    virtual void call(Response response) = 0;
  };
  template <typename F>
  struct Callback final : CallbackBase {
    explicit Callback(F f) : f(std::move(f)) {}
    void call(Response response) override { f(std::move(response)); }
    F f;
  };
  std::shared_ptr<CallbackBase> callback_;
};

using Handler = std::function<void(Request, Respond)>;

// Splits "/a/b?x=1&y=%20" into the decoded path and query. False on a malformed escape.
bool parse_target(std::string_view target, Request& out);

}  // namespace rtjobs::http
