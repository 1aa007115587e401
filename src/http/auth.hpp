// Bearer-token authentication of the API (SPEC section 4). The expected tokens are fixed at
// start-up, each with its caller's name (RT_API_TOKEN is "default"; RT_API_TOKENS names the
// others); without any, every request is let through (the server then only listens on
// loopback). Tokens are compared in constant time over their SHA-256 digests, so neither the
// content nor the length of the expected token leaks through timing (the expected token's
// digest is computed once, the presented one's per request). Immutable; thread-safe.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.hpp"

namespace rtjobs::http {

// Constant-time equality (CRYPTO_memcmp over SHA-256 digests).
bool constant_time_equals(std::string_view a, std::string_view b);

// The token of an "Authorization: Bearer <token>" header value (scheme case-insensitive), or
// nullopt when the value is not of that form.
std::optional<std::string_view> parse_bearer(std::string_view authorization);

// The caller's name of RT_API_TOKEN.
inline constexpr std::string_view kDefaultCaller = "default";

class Authenticator {
 public:
  // `token` is the default caller's; `named` are (caller name, token) pairs.
  explicit Authenticator(std::optional<std::string> token,
                         const std::vector<std::pair<std::string, std::string>>& named = {});

  bool enabled() const { return !tokens_.empty(); }
  // nullopt when the request may proceed, with the caller's name in `caller` (if given; empty
  // when authentication is off); otherwise the 401 answer. Every token's digest is compared,
  // whichever matches, so the time taken says nothing about which one did.
  std::optional<Response> check(const Request& request, std::string* caller = nullptr) const;

 private:
  struct Expected {
    std::string caller;
    std::array<unsigned char, 32> digest;  // SHA-256 of the token
  };
  std::vector<Expected> tokens_;
};

// Lower-case hexadecimal SHA-256 of `data` (request fingerprints for idempotency).
std::string sha256_hex(std::string_view data);

}  // namespace rtjobs::http
