// The operator CLI's exit codes (`rtjobs transfers|jobs|backups|check-config`), which scripts
// may rely on, and the one line each failure prints on stderr. Pure functions; thread-safe.
//
//   0  ok
//   1  the work failed: a backup run ended "failed", a probed provider refused or was out of reach
//   2  usage or invalid input: bad flags, an invalid configuration, the server's 400 or 422
//   3  not found: an unknown id (404), or a route this server does not have (404, 405)
//   4  refused by the server's state: 409 (a job not FAILED, a transfer cancelled, a backup
//      already running)
//   5  authentication: a missing or wrong token (401, 403)
//   6  server unreachable, timed out, or failing (5xx, an answer that is not the API's)
#pragma once

#include <string>
#include <string_view>

namespace rtjobs::cli {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,
  kUsage = 2,
  kNotFound = 3,
  kConflict = 4,
  kAuth = 5,
  kUnavailable = 6,
};

// The exit code of a non-2xx answer of the API.
ExitCode exit_code_for_status(int http_status);

// The line (without "rtjobs: " and newline) for a non-2xx answer: the status, the API's error
// code and message from its {"error": {...}} body, and a hint for 401. A body that is not the
// API's error shape is quoted, cut to a short length.
std::string describe_http_error(int http_status, std::string_view body);

}  // namespace rtjobs::cli
