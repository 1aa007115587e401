// Request and Response: the narrow, library-free view of an HTTP exchange that handlers see.
// The server (Beast) builds a Request per message and writes the Response a handler passes to
// its Respond callback; nothing outside server.cpp knows about Beast.
//
// A Respond callback must be called exactly once and may be called from any thread: the server
// moves the write back onto the connection's own executor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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
  std::string route;                          // the matched pattern, e.g. "/v1/jobs/{job_id}"
  std::map<std::string, std::string> params;  // path parameters of the matched route
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

using Respond = std::function<void(Response)>;
using Handler = std::function<void(Request, Respond)>;

// Splits "/a/b?x=1&y=%20" into the decoded path and query. False on a malformed escape.
bool parse_target(std::string_view target, Request& out);

}  // namespace rtjobs::http
