#include "baas/webhook_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cctype>
#include <charconv>

namespace rtjobs::bank {
namespace {

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  HMAC(md, key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data(), &size);
  return {reinterpret_cast<const char*>(out.data()), size};
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `digits` decimal digits at `text[at]`, or -1.
int number_at(std::string_view text, size_t at, size_t digits) {
  if (at + digits > text.size()) return -1;
  int value = 0;
  for (size_t i = at; i < at + digits; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t at = 0; at <= text.size();) {
    size_t end = text.find(separator, at);
    if (end == std::string_view::npos) end = text.size();
    if (end > at) parts.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

// What a Standard Webhooks signature signs.
std::string signed_content(std::string_view id, std::string_view timestamp, std::string_view body) {
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  return content;
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view message) {
  return hmac(EVP_sha256(), key, message);
}

std::string hmac_sha1(std::string_view key, std::string_view message) {
  return hmac(EVP_sha1(), key, message);
}

std::string base64_encode(std::string_view bytes) {
  std::string encoded(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  encoded.resize(static_cast<size_t>(n));
  return encoded;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < text.size() - padding; ++i) {
    const int v = base64_value(text[i]);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    if (++count == 4) {
      out += static_cast<char>((bits >> 16) & 0xff);
      out += static_cast<char>((bits >> 8) & 0xff);
      out += static_cast<char>(bits & 0xff);
      bits = 0;
      count = 0;
    }
  }
  if (count == 3) {
    out += static_cast<char>((bits >> 10) & 0xff);
    out += static_cast<char>((bits >> 2) & 0xff);
  } else if (count == 2) {
    out += static_cast<char>((bits >> 4) & 0xff);
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_value(text[i]), lo = hex_value(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

bool same_bytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::unexpected<Error> unauthenticated(std::string message) {
  return fail(ErrorCode::kUnauthenticated, std::move(message));
}

bool within_tolerance(Timestamp signed_at, Timestamp now) {
  const auto gap = signed_at > now ? signed_at - now : now - signed_at;
  return gap <= kSignatureTolerance;
}

std::optional<Timestamp> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
  const int year = number_at(text, 0, 4), month = number_at(text, 5, 2),
            day = number_at(text, 8, 2), hour = number_at(text, 11, 2),
            minute = number_at(text, 14, 2), second = number_at(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || text[4] != '-' ||
      text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  size_t at = 19;
  std::chrono::milliseconds fraction{0};
  if (at < text.size() && text[at] == '.') {
    int64_t scale = 100;
    const size_t start = ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
      fraction += std::chrono::milliseconds((text[at] - '0') * scale);
      scale /= 10;
      ++at;
    }
    if (at == start) return std::nullopt;
  }
  std::chrono::minutes offset{0};
  if (at + 1 == text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    // UTC
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':' &&
             number_at(text, at + 1, 2) >= 0 && number_at(text, at + 4, 2) >= 0) {
    offset = std::chrono::hours(number_at(text, at + 1, 2)) +
             std::chrono::minutes(number_at(text, at + 4, 2));
    if (text[at] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  return Timestamp(std::chrono::sys_days(date)) + std::chrono::hours(hour) +
         std::chrono::minutes(minute) + std::chrono::seconds(second) + fraction - offset;
}

Result<void> verify_body_signature(const WebhookDelivery& delivery, std::string_view header,
                                   std::string_view shown,
                                   std::optional<std::string> (*decode)(std::string_view),
                                   std::string_view expected) {
  const auto signature = delivery.header(header);
  if (!signature) return unauthenticated("missing " + std::string(shown) + " header");
  const auto given = decode(*signature);
  if (!given || !same_bytes(*given, expected)) {
    return unauthenticated(std::string(shown) + " does not match the configured webhook secret");
  }
  return {};
}

std::optional<std::string> standard_webhook_key(std::string_view secret) {
  if (secret.starts_with("whsec_")) return base64_decode(secret.substr(6));
  return std::string(secret);
}

std::string sign_standard_webhook(std::string_view key, std::string_view id,
                                  std::string_view timestamp, std::string_view body) {
  return "v1," + base64_encode(hmac_sha256(key, signed_content(id, timestamp, body)));
}

Result<void> verify_standard_webhook(const WebhookDelivery& delivery,
                                     std::span<const std::string> keys) {
  auto id = delivery.header("webhook-id");
  auto timestamp = delivery.header("webhook-timestamp");
  auto signatures = delivery.header("webhook-signature");
  if (!id || !timestamp || !signatures) {
    return unauthenticated(
        "missing webhook-id, webhook-timestamp or webhook-signature header (Standard Webhooks)");
  }
  int64_t seconds = 0;
  auto [end, ec] =
      std::from_chars(timestamp->data(), timestamp->data() + timestamp->size(), seconds);
  if (ec != std::errc() || end != timestamp->data() + timestamp->size() || timestamp->empty()) {
    return unauthenticated("webhook-timestamp is not a Unix time in seconds");
  }
  if (!within_tolerance(Timestamp(std::chrono::seconds(seconds)), delivery.now)) {
    return unauthenticated("webhook-timestamp is more than 5 minutes from now");
  }
  const std::string content = signed_content(*id, *timestamp, delivery.body);
  std::vector<std::string> expected;
  expected.reserve(keys.size());
  for (const auto& key : keys) expected.push_back(hmac_sha256(key, content));
  for (std::string_view entry : split(*signatures, ' ')) {
    if (!entry.starts_with("v1,")) continue;  // another scheme (v1a: asymmetric) or version
    auto given = base64_decode(entry.substr(3));
    if (!given) continue;
    for (const auto& e : expected) {
      if (same_bytes(*given, e)) return {};
    }
  }
  return unauthenticated("webhook-signature does not match the configured webhook secret");
}

}  // namespace rtjobs::bank
