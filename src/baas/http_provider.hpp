// The generic REST adapter of SPEC section 5 (type "http"), speaking the rtjobs BaaS protocol:
// POST {base_url}/transfers with the bearer token and the Idempotency-Key header, body
// {"idempotency_key", "amount", "currency", "source_account", "destination_account",
// "description", "reference"}.
//
// Answers: 2xx -> succeeded with the body's "id" as reference (a 2xx without one is still a
// success, without reference: the bank said it accepted the transfer); 401, 403, 408, 409, 429
// and 5xx -> unavailable; other 4xx -> declined with the body's {"error":{"code","message"}};
// no answer -> unavailable (bank_answer.hpp). Book transfers only (Provider's default check).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "baas/bank_provider.hpp"
#include "core/error.hpp"

namespace rtjobs {

struct HttpProviderOptions {
  std::string name;
  std::string base_url;                             // http:// or https://; "/transfers" is appended
  std::string token;                                // empty: no Authorization header is sent
  std::chrono::milliseconds timeout{10000};         // the whole call
  std::chrono::milliseconds connect_timeout{5000};  // capped at `timeout`
  int max_connections = 256;  // connections kept to the bank at most (HttpTransportOptions)
};

// The rtjobs protocol as a BankApi; `base_url` already checked and without a trailing '/'.
std::unique_ptr<BankApi> make_rtjobs_api(std::string base_url, const std::string& token);

// Checks the options (base_url scheme, token characters, positive timeout) and builds the
// provider over its own transport.
Result<std::unique_ptr<Provider>> make_http_provider(HttpProviderOptions options);

// Checks a base URL (http:// or https://, printable, no spaces) and drops trailing slashes.
Result<std::string> checked_base_url(std::string url);

}  // namespace rtjobs
