#include "http/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <memory>

#include "http/errors.hpp"

namespace rtjobs::http {
namespace {

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view data) {
  // Fetched once: OpenSSL 3 would otherwise look the algorithm up (under a lock) every call.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md = kSha256 ? kSha256 : EVP_sha256();
  // One context per thread, reset by each init: EVP_Digest() allocates and frees one per call.
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                           &EVP_MD_CTX_free);
  Digest d{};
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1) {
    EVP_Digest(data.data(), data.size(), d.data(), &len, md, nullptr);
  }
  return d;
}

Response unauthorized(std::string_view message, bool invalid_token) {
  Response r = error_response(401, "unauthorized", message);
  r.headers.emplace_back("WWW-Authenticate",
                         invalid_token ? "Bearer realm=\"rtjobs\", error=\"invalid_token\""
                                       : "Bearer realm=\"rtjobs\"");
  return r;
}

}  // namespace

bool constant_time_equals(std::string_view a, std::string_view b) {
  Digest da = sha256(a);
  Digest db = sha256(b);
  return CRYPTO_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::optional<std::string_view> parse_bearer(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) {
      return std::nullopt;
    }
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') return std::nullopt;
  size_t start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return std::nullopt;
  rest = rest.substr(start);
  size_t end = rest.find_last_not_of(" \t");
  rest = rest.substr(0, end + 1);
  if (rest.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return rest;
}

Authenticator::Authenticator(std::optional<std::string> token,
                             const std::vector<std::pair<std::string, std::string>>& named) {
  if (token) tokens_.push_back({std::string(kDefaultCaller), sha256(*token)});
  for (const auto& [name, value] : named) tokens_.push_back({name, sha256(value)});
}

std::optional<Response> Authenticator::check(const Request& request, std::string* caller) const {
  if (tokens_.empty()) return std::nullopt;
  auto header = request.header("authorization");
  if (!header) return unauthorized("missing bearer token", false);
  auto token = parse_bearer(*header);
  if (!token) return unauthorized("malformed Authorization header; expected Bearer <token>", true);
  Digest presented = sha256(*token);
  const Expected* match = nullptr;
  for (const Expected& e : tokens_) {
    if (CRYPTO_memcmp(presented.data(), e.digest.data(), presented.size()) == 0) match = &e;
  }
  if (!match) return unauthorized("invalid bearer token", true);
  if (caller) *caller = match->caller;
  return std::nullopt;
}

std::string sha256_hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  Digest d = sha256(data);
  std::string out;
  out.reserve(64);
  for (unsigned char c : d) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0F]);
  }
  return out;
}

}  // namespace rtjobs::http
