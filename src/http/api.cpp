#include "http/api.hpp"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/log.hpp"
#include "core/uuid.hpp"
#include "http/auth.hpp"
#include "http/errors.hpp"
#include "http/json_mapping.hpp"
#include "http/routes.hpp"
#include "http/text.hpp"

namespace rtjobs::http {

struct Api::Impl {
  explicit Impl(ApiDependencies deps)
      : job_reads(deps.store),
        ctx{deps, metrics, &router, &job_reads},
        auth(std::move(deps.api_token), deps.named_tokens) {}

  HttpMetrics metrics;
  Router router;
  JobReads job_reads;
  RouteContext ctx;
  Authenticator auth;
};

Api::Api(ApiDependencies deps) : impl_(std::make_unique<Impl>(std::move(deps))) {
  add_health_routes(impl_->router, impl_->ctx);
  add_job_routes(impl_->router, impl_->ctx);
  add_transfer_routes(impl_->router, impl_->ctx);
  add_backup_routes(impl_->router, impl_->ctx);
  add_bank_webhook_routes(impl_->router, impl_->ctx);
  add_webhook_routes(impl_->router, impl_->ctx);
  add_console_routes(impl_->router, impl_->ctx);
  add_overview_routes(impl_->router, impl_->ctx);
}

Api::~Api() = default;

Handler Api::handler() const {
  return
      [this](Request request, Respond respond) { handle(std::move(request), std::move(respond)); };
}

std::optional<std::string> sane_request_id(std::string_view value) {
  if (value.empty() || value.size() > 128) return std::nullopt;
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return std::nullopt;
  }
  return std::string(value);
}

void Api::handle(Request request, Respond respond) const {
  const Impl& impl = *impl_;
  std::optional<std::string> id;
  if (auto h = request.header("x-request-id")) id = sane_request_id(*h);
  request.request_id = id ? std::move(*id) : new_request_id(impl.ctx.deps.clock.now());

  Router::Match match = impl.router.match(request.method, request.path);
  request.route = match.kind == Router::Match::Kind::kFound ? match.pattern : "unmatched";
  request.params = std::move(match.params);

  // Every answer passes here: request id header, the log line, the metrics. The route is a view
  // of the router's text, which outlives every request. The caller is known once the token is
  // checked (empty before, and without authentication).
  auto caller = std::make_shared<std::string>();
  Respond finish = [&metrics = impl_->metrics, respond = std::move(respond), caller,
                    method = request.method,
                    // The log is JSON lines in UTF-8: a path's bad bytes read as U+FFFD there.
                    path = is_valid_utf8(request.path) ? request.path : to_valid_utf8(request.path),
                    route = request.route, request_id = request.request_id,
                    received = request.received_at](Response response) {
    auto elapsed = std::chrono::steady_clock::now() - received;
    response.headers.emplace_back("X-Request-Id", request_id);
    metrics.record(method, route, response.status, elapsed);
    log::info(
        "http request",
        {{"method", method},
         {"path", path},
         {"route", route},
         {"status", response.status},
         {"duration_ms", std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()},
         {"request_id", request_id},
         {"caller", *caller}});
    respond(std::move(response));
  };

  if (match.kind == Router::Match::Kind::kNotFound) return finish(not_found_response());
  // Before the token check: Authorization is compared, so it is checked as text too.
  if (auto bad = check_request_text(request, match.options.all_headers)) {
    return finish(error_response(*bad));
  }
  if (!match.options.public_route) {
    if (auto denied = impl.auth.check(request, caller.get())) return finish(std::move(*denied));
    request.caller = *caller;
  }
  if (match.kind == Router::Match::Kind::kMethodNotAllowed) {
    return finish(method_not_allowed_response(match.allow));
  }
  try {
    (*match.handler)(std::move(request), finish);
  } catch (const std::exception& e) {
    log::error("http handler threw", {{"error", e.what()}});
    finish(error_response(500, "internal", "internal error"));
  }
}

Response json_response(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = dump(body);
  return r;
}

void run_blocking(const RouteContext& ctx, const Request& request, const Respond& respond,
                  std::function<Response()> work) {
  ctx.deps.blocking([respond, work = std::move(work), request_id = request.request_id] {
    Response r;
    try {
      r = work();
    } catch (const std::exception& e) {
      log::error("http handler threw", {{"request_id", request_id}, {"error", e.what()}});
      r = error_response(500, "internal", "internal error");
    }
    respond(std::move(r));
  });
}

Result<void> check_query(const Request& request, std::initializer_list<std::string_view> allowed) {
  for (const auto& key : request.repeated_query) {
    return invalid(key, "query parameter " + key + " is given more than once");
  }
  for (const auto& [key, value] : request.query) {
    bool known = false;
    for (auto a : allowed) known = known || a == key;
    if (!known) return invalid(key, "unknown query parameter " + key);
  }
  return {};
}

Result<int> parse_int_query(const Request& request, const std::string& name, int low, int high,
                            int fallback) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return fallback;
  const std::string& s = it->second;
  int64_t v = 0;  // at most 9 digits: no overflow
  bool ok = !s.empty() && s.size() <= 9;
  for (size_t i = 0; ok && i < s.size(); ++i) {
    ok = s[i] >= '0' && s[i] <= '9';
    v = v * 10 + (s[i] - '0');
  }
  if (!ok || v < low || v > high) {
    return invalid(name, name + " must be an integer between " + std::to_string(low) + " and " +
                             std::to_string(high));
  }
  return static_cast<int>(v);
}

Result<int> parse_limit(const Request& request) {
  return parse_int_query(request, "limit", 1, 500, 50);
}

Result<std::string> uuid_param(const Request& request, std::string_view name,
                               std::string_view field) {
  auto it = request.params.find(std::string(name));
  if (it == request.params.end() || !is_uuid(it->second)) {
    return invalid(std::string(field), std::string(field) + " must be a UUID");
  }
  return it->second;
}

}  // namespace rtjobs::http
