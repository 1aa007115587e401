// ApiClient: the operator CLI's calls to a running server's HTTP API, one at a time, over the
// project's one HTTP client (baas/http_transport.hpp). Not thread-safe: one command's calls.
//
// A call returns the answer's status and body (any status), or a CliError when no answer came
// (the server is unreachable or timed out). CliError carries the exit code and the one line to
// print; the token is never part of it.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include "baas/http_transport.hpp"
#include "cli/exit_codes.hpp"

namespace rtjobs::cli {

struct CliError {
  ExitCode code = kFailed;
  std::string message;  // one line, without "rtjobs: "
};

template <typename T>
using CliResult = std::expected<T, CliError>;

struct ApiAnswer {
  int status = 0;
  std::string body;
};

class ApiClient {
 public:
  // `base_url` like "http://127.0.0.1:8080" (a trailing slash is dropped); `token` may be empty.
  static CliResult<std::unique_ptr<ApiClient>> create(std::string base_url, std::string token,
                                                      std::chrono::milliseconds timeout);

  CliResult<ApiAnswer> get(std::string_view path);
  CliResult<ApiAnswer> post(std::string_view path, std::string body = "{}");

  // A 2xx answer's body, or the CliError of any other status (describe_http_error).
  static CliResult<std::string> body_of(CliResult<ApiAnswer> answer);

 private:
  ApiClient(std::string base_url, std::string token, std::unique_ptr<HttpTransport> transport);
  CliResult<ApiAnswer> call(std::string method, std::string_view path, std::string body);

  std::string base_url_;
  std::string token_;  // never printed
  std::unique_ptr<HttpTransport> transport_;
};

}  // namespace rtjobs::cli
