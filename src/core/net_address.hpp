// Which network addresses rtjobs may call on a client's behalf. A webhook endpoint's URL is the
// client's choice, so without a check it could make rtjobs call its own admin ports, the cloud's
// metadata service (169.254.169.254) or anything else on the private network (SSRF). The URL is
// checked when it is registered (check_webhook_url) and every connection again when it is made
// (HttpTransportOptions::refuse_private_addresses), since a DNS answer may change in between.
// Pure apart from the DNS look-up; thread-safe.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace rtjobs {

// False for every address that is not reachable on the public internet: loopback (127/8, ::1),
// unspecified (0/8, ::), link-local (169.254/16, fe80::/10), private (10/8, 172.16/12,
// 192.168/16, fc00::/7, the old site-local fec0::/10), shared CGNAT space (100.64/10),
// multicast (224/4, ff00::/8), reserved and broadcast (240/4), the IETF's own 192.0.0/24 and
// benchmarking 198.18/15; an IPv6 address that carries an IPv4 one (IPv4-mapped ::ffff:0:0/96,
// IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16) by the IPv4 address it carries.
// False for any family but AF_INET and AF_INET6.
bool is_public_address(const sockaddr* address);

// The address as text ("127.0.0.1", "::1"); "?" for another family.
std::string address_text(const sockaddr* address);

// Whether `url` may be a webhook endpoint: http or https, a host, no userinfo, at most 2048
// characters, and (unless `allow_private`, RT_WEBHOOK_ALLOW_PRIVATE) every address its host
// resolves to public. Errors are kInvalidArgument with field "url", e.g. "url must use http or
// https", "url resolves to a private address (127.0.0.1); set RT_WEBHOOK_ALLOW_PRIVATE=true to
// allow it", "url's host does not resolve". Blocks for the DNS look-up (getaddrinfo): call it
// where a blocking call is allowed, not on an IO thread.
Result<void> check_webhook_url(std::string_view url, bool allow_private);

}  // namespace rtjobs
