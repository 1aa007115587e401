#include "http/router.hpp"

#include <set>

#include "http/errors.hpp"

namespace rtjobs::http {
namespace {

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_param(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, RouteOptions options) {
  Route r{std::move(method), pattern, split_path(pattern), 0, std::move(handler), options};
  for (const auto& s : r.segments) r.literals += is_param(s) ? 0 : 1;
  routes_.push_back(std::move(r));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match best;
  int best_literals = -1;
  std::set<std::string> allowed;
  const std::vector<std::string> segments = split_path(path);
  for (const Route& r : routes_) {
    if (r.segments.size() != segments.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      if (is_param(r.segments[i])) {
        ok = !segments[i].empty();
        params[r.segments[i].substr(1, r.segments[i].size() - 2)] = segments[i];
      } else {
        ok = r.segments[i] == segments[i];
      }
    }
    if (!ok) continue;
    if (r.method != method) {
      allowed.insert(r.method);
      continue;
    }
    if (r.literals > best_literals) {
      best_literals = r.literals;
      best.kind = Match::Kind::kFound;
      best.handler = &r.handler;
      best.pattern = r.pattern;
      best.options = r.options;
      best.params = std::move(params);
    }
  }
  if (best.kind == Match::Kind::kFound) return best;
  if (!allowed.empty()) {
    best.kind = Match::Kind::kMethodNotAllowed;
    for (const auto& m : allowed) best.allow += (best.allow.empty() ? "" : ", ") + m;
  }
  return best;
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const Route& r : routes_) out.emplace_back(r.method, r.pattern);
  return out;
}

Response not_found_response() { return error_response(404, "not_found", "no such route"); }

Response method_not_allowed_response(const std::string& allow) {
  Response r = error_response(405, "method_not_allowed", "method not allowed; allowed: " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

}  // namespace rtjobs::http
