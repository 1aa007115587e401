// Bearer-token authentication of the API (SPEC section 4). The expected token is fixed at
// start-up; without one, every request is let through (the server then only listens on
// loopback). Tokens are compared in constant time over their SHA-256 digests, so neither the
// content nor the length of the expected token leaks through timing (the expected token's
// digest is computed once, the presented one's per request). Immutable; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.hpp"

namespace rtjobs::http {

// Constant-time equality (CRYPTO_memcmp over SHA-256 digests).
bool constant_time_equals(std::string_view a, std::string_view b);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive), or
// nullopt when the value is not of that form.
std::optional<std::string_view> parse_bearer(std::string_view authorization);

class Authenticator {
 public:
  explicit Authenticator(std::optional<std::string> token);

  bool enabled() const { return token_digest_.has_value(); }
  // nullopt when the request may proceed; otherwise the 401 answer.
  std::optional<Response> check(const Request& request) const;

 private:
  std::optional<std::array<unsigned char, 32>> token_digest_;  // SHA-256 of the token
};

// Lower-case hexadecimal SHA-256 of `data` (request fingerprints for idempotency).
std::string sha256_hex(std::string_view data);

}  // namespace rtjobs::http
