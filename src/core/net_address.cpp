#include "core/net_address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <memory>

namespace rtjobs {
namespace {

constexpr size_t kMaxUrl = 2048;

// `a` (host order) within prefix/bits.
bool in(uint32_t a, uint32_t prefix, int bits) {
  const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
  return (a & mask) == (prefix & mask);
}

constexpr uint32_t v4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

bool is_public_v4(uint32_t a) {
  return !(in(a, v4(0, 0, 0, 0), 8) ||       // "this network", unspecified
           in(a, v4(10, 0, 0, 0), 8) ||      // private
           in(a, v4(100, 64, 0, 0), 10) ||   // shared address space (CGNAT)
           in(a, v4(127, 0, 0, 0), 8) ||     // loopback
           in(a, v4(169, 254, 0, 0), 16) ||  // link-local (cloud metadata services)
           in(a, v4(172, 16, 0, 0), 12) ||   // private
           in(a, v4(192, 0, 0, 0), 24) ||    // IETF protocol assignments
           in(a, v4(192, 168, 0, 0), 16) ||  // private
           in(a, v4(198, 18, 0, 0), 15) ||   // benchmarking
           in(a, v4(224, 0, 0, 0), 4) ||     // multicast
           in(a, v4(240, 0, 0, 0), 4));      // reserved, broadcast
}

uint32_t v4_at(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

bool all_zero(const uint8_t* bytes, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

bool is_public_v6(const uint8_t* b) {
  if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff) return is_public_v4(v4_at(b + 12));
  // ::/96 holds :: (unspecified), ::1 (loopback) and the IPv4-compatible addresses: all judged
  // as the IPv4 address in their last 32 bits (0.0.0.0 and 0.0.0.1 are in 0/8: refused).
  if (all_zero(b, 12)) return is_public_v4(v4_at(b + 12));
  static constexpr std::array<uint8_t, 12> kNat64 = {0x00, 0x64, 0xff, 0x9b};
  if (std::memcmp(b, kNat64.data(), kNat64.size()) == 0) return is_public_v4(v4_at(b + 12));
  if (b[0] == 0x20 && b[1] == 0x02) return is_public_v4(v4_at(b + 2));  // 6to4
  if ((b[0] & 0xfe) == 0xfc) return false;                              // unique local fc00::/7
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;              // link-local fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return false;              // site-local fec0::/10
  if (b[0] == 0xff) return false;                                       // multicast
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The host and port of an http(s) URL, or the reason it is not one we call.
struct Authority {
  std::string host;  // without brackets for an IPv6 literal
  std::string port;  // the URL's, else the scheme's default
};

Result<Authority> parse_authority(std::string_view url) {
  if (url.size() > kMaxUrl) return invalid("url", "url must be at most 2048 characters");
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return invalid("url", "url must be ASCII without spaces or control characters");
    }
  }
  const std::string head = lower(url.substr(0, 8));
  std::string_view rest;
  Authority a;
  if (head.starts_with("https://")) {
    rest = url.substr(8);
    a.port = "443";
  } else if (head.starts_with("http://")) {
    rest = url.substr(7);
    a.port = "80";
  } else {
    return invalid("url", "url must use http or https");
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return invalid("url", "url must not contain a user name or password");
  }
  std::string_view host;
  std::string_view after;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return invalid("url", "url's IPv6 host lacks its ']'");
    host = authority.substr(1, close - 1);
    after = authority.substr(close + 1);
    if (!after.empty() && !after.starts_with(':')) {
      return invalid("url", "url's host is not followed by a port");
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) after = authority.substr(colon);
  }
  if (host.empty()) return invalid("url", "url must have a host");
  if (!after.empty()) {
    std::string_view port = after.substr(1);
    int value = 0;
    const bool digits =
        !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        });
    if (digits) {
      for (char c : port) value = value * 10 + (c - '0');
    }
    if (!digits || value < 1 || value > 65535) {
      return invalid("url", "url's port must be a number from 1 to 65535");
    }
    a.port = std::string(port);
  }
  a.host = std::string(host);
  return a;
}

}  // namespace

bool is_public_address(const sockaddr* address) {
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET) {
    sockaddr_in in4{};
    std::memcpy(&in4, address, sizeof in4);
    return is_public_v4(ntohl(in4.sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof in6);
    return is_public_v6(in6.sin6_addr.s6_addr);
  }
  return false;
}

std::string address_text(const sockaddr* address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address != nullptr && address->sa_family == AF_INET) {
    sockaddr_in in4{};
    std::memcpy(&in4, address, sizeof in4);
    if (inet_ntop(AF_INET, &in4.sin_addr, text.data(), text.size())) return text.data();
  } else if (address != nullptr && address->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, address, sizeof in6);
    if (inet_ntop(AF_INET6, &in6.sin6_addr, text.data(), text.size())) return text.data();
  }
  return "?";
}

Result<void> check_webhook_url(std::string_view url, bool allow_private) {
  auto authority = parse_authority(url);
  if (!authority) return std::unexpected(std::move(authority.error()));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(authority->host.c_str(), authority->port.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return invalid("url", "url's host does not resolve");
  }
  const std::unique_ptr<addrinfo, void (*)(addrinfo*)> owned(found, freeaddrinfo);
  if (allow_private) return {};
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (!is_public_address(ai->ai_addr)) {
      return invalid("url", "url resolves to a private address (" + address_text(ai->ai_addr) +
                                "); set RT_WEBHOOK_ALLOW_PRIVATE=true to allow it");
    }
  }
  return {};
}

}  // namespace rtjobs
