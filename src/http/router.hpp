// Router: maps a method and a path to a handler. Patterns are literal segments and {name}
// parameters ("/v1/jobs/{job_id}/process"); when several patterns match, the one with more
// literal segments wins, so "/v1/jobs/process" beats "/v1/jobs/{job_id}". A path that matches
// no pattern is 404; one that matches only under other methods is 405 with an Allow header.
// Routes are added at start-up; dispatch is then read-only and thread-safe, and allocates only
// the matched route's parameters.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.hpp"

namespace rtjobs::http {

struct RouteOptions {
  bool public_route = false;  // true: no bearer token needed (/healthz, /readyz)
  // true: the handler may read any header, so each is checked as text (http/text.hpp); else
  // only the ones the API reads (Authorization, Idempotency-Key).
  bool all_headers = false;
};

class Router {
 public:
  void add(std::string method, const std::string& pattern, Handler handler,
           RouteOptions options = {});

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
    const Handler* handler = nullptr;
    std::string_view pattern;  // the route's own text: valid as long as the Router
    RouteOptions options;
    std::map<std::string, std::string> params;
    std::string allow;  // with kMethodNotAllowed: "GET, POST"
  };
  Match match(std::string_view method, std::string_view path) const;

  // Every route as (method, pattern), in registration order.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;  // "{name}" for a parameter
    int literals = 0;
    Handler handler;
    RouteOptions options;
  };
  std::vector<Route> routes_;
};

// The 404/405 answers of the router.
Response not_found_response();
Response method_not_allowed_response(const std::string& allow);

}  // namespace rtjobs::http
