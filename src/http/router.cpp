#include "http/router.hpp"

#include <algorithm>
#include <array>
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

void Router::add(std::string method, const std::string& pattern, Handler handler,
                 RouteOptions options) {
  Route r{std::move(method), pattern, split_path(pattern), 0, std::move(handler), options};
  for (const auto& s : r.segments) r.literals += is_param(s) ? 0 : 1;
  routes_.push_back(std::move(r));
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  // The path's segments as views; no route has more than kMaxSegments of them.
  constexpr size_t kMaxSegments = 16;
  std::array<std::string_view, kMaxSegments> segments;
  size_t count = 0;
  for (size_t start = 1; start <= path.size();) {  // paths start with '/'
    if (count == kMaxSegments) return Match{};
    size_t slash = std::min(path.find('/', start), path.size());
    segments[count++] = path.substr(start, slash - start);
    start = slash + 1;
  }

  const Route* best = nullptr;
  std::set<std::string_view> allowed;
  for (const Route& r : routes_) {
    if (r.segments.size() != count) continue;
    bool ok = true;
    for (size_t i = 0; i < count && ok; ++i) {
      ok = is_param(r.segments[i]) ? !segments[i].empty() : r.segments[i] == segments[i];
    }
    if (!ok) continue;
    if (r.method != method) {
      allowed.insert(r.method);
    } else if (!best || r.literals > best->literals) {
      best = &r;
    }
  }

  Match m;
  if (best) {
    m.kind = Match::Kind::kFound;
    m.handler = &best->handler;
    m.pattern = best->pattern;
    m.options = best->options;
    for (size_t i = 0; i < count; ++i) {
      const std::string& s = best->segments[i];
      if (is_param(s)) m.params.emplace(s.substr(1, s.size() - 2), segments[i]);
    }
  } else if (!allowed.empty()) {
    m.kind = Match::Kind::kMethodNotAllowed;
    for (auto a : allowed) {
      if (!m.allow.empty()) m.allow += ", ";
      m.allow += a;
    }
  }
  return m;
}

std::vector<std::pair<std::string, std::string>> Router::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(routes_.size());
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
