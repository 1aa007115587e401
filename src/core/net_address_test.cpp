#include "core/net_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

namespace rtjobs {
namespace {

// Whether the textual address (IPv4 or IPv6) is public.
bool is_public(const std::string& text) {
  sockaddr_in in4{};
  if (inet_pton(AF_INET, text.c_str(), &in4.sin_addr) == 1) {
    in4.sin_family = AF_INET;
    return is_public_address(reinterpret_cast<const sockaddr*>(&in4));
  }
  sockaddr_in6 in6{};
  EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), &in6.sin6_addr), 1) << text;
  in6.sin6_family = AF_INET6;
  return is_public_address(reinterpret_cast<const sockaddr*>(&in6));
}

TEST(IsPublicAddressTest, RefusesEveryRangeThatIsNotTheInternet) {
  for (const char* a : {
           "127.0.0.1",
           "127.255.255.254",
           "0.0.0.0",
           "0.1.2.3",
           "10.0.0.1",
           "10.255.255.255",
           "172.16.0.1",
           "172.31.255.255",
           "192.168.0.1",
           "192.168.255.255",
           "169.254.169.254",
           "169.254.0.1",
           "100.64.0.1",
           "100.127.255.255",
           "224.0.0.1",
           "239.255.255.250",
           "240.0.0.1",
           "255.255.255.255",
           "192.0.0.8",
           "198.18.0.1",
           "198.19.255.255",
           "::1",
           "::",
           "fe80::1",
           "febf::1",
           "fec0::1",
           "fc00::1",
           "fd12:3456::1",
           "ff02::1",
           "::ffff:127.0.0.1",
           "::ffff:10.1.2.3",
           "::ffff:169.254.169.254",
           "::127.0.0.1",
           "::10.0.0.1",
           "64:ff9b::7f00:1",
           "64:ff9b::a9fe:a9fe",
           "2002:7f00:1::",
           "2002:c0a8:101::1",
       }) {
    EXPECT_FALSE(is_public(a)) << a;
  }
}

TEST(IsPublicAddressTest, AcceptsPublicAddressesNextToTheRanges) {
  for (const char* a : {
           "1.1.1.1",         "8.8.8.8",     "9.255.255.255",   "11.0.0.0",
           "172.15.255.255",  "172.32.0.0",  "192.167.255.255", "192.169.0.0",
           "169.253.255.255", "169.255.0.0", "100.63.255.255",  "100.128.0.0",
           "126.255.255.255", "128.0.0.1",   "223.255.255.255", "198.17.255.255",
           "198.20.0.0",      "192.0.1.1",   "2606:4700::1111", "2001:4860:4860::8888",
           "fbff::1",         "fe7f::1",     "::ffff:8.8.8.8",  "64:ff9b::808:808",
           "2002:808:808::1",
       }) {
    EXPECT_TRUE(is_public(a)) << a;
  }
}

TEST(IsPublicAddressTest, RefusesOtherFamiliesAndNull) {
  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_FALSE(is_public_address(&other));
  EXPECT_FALSE(is_public_address(nullptr));
}

TEST(AddressTextTest, PrintsBothFamilies) {
  sockaddr_in in4{};
  in4.sin_family = AF_INET;
  ASSERT_EQ(inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr), 1);
  EXPECT_EQ(address_text(reinterpret_cast<const sockaddr*>(&in4)), "127.0.0.1");
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  ASSERT_EQ(inet_pton(AF_INET6, "fe80::1", &in6.sin6_addr), 1);
  EXPECT_EQ(address_text(reinterpret_cast<const sockaddr*>(&in6)), "fe80::1");
}

// The message of check_webhook_url's error, "" when it passed.
std::string refusal(std::string_view url, bool allow_private = false) {
  auto r = check_webhook_url(url, allow_private);
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << url;
  EXPECT_EQ(r.error().field, "url") << url;
  return r.error().message;
}

TEST(CheckWebhookUrlTest, RefusesWhatIsNotAnHttpUrlWithAHost) {
  EXPECT_EQ(refusal("ftp://example.com/x"), "url must use http or https");
  EXPECT_EQ(refusal("file:///etc/passwd"), "url must use http or https");
  EXPECT_EQ(refusal("example.com/hook"), "url must use http or https");
  EXPECT_EQ(refusal(""), "url must use http or https");
  EXPECT_EQ(refusal("https:///hook"), "url must have a host");
  EXPECT_EQ(refusal("http://:8080/hook"), "url must have a host");
  EXPECT_EQ(refusal("https://user:pw@example.com/"),
            "url must not contain a user name or password");
  EXPECT_EQ(refusal("https://example.com:0/"), "url's port must be a number from 1 to 65535");
  EXPECT_EQ(refusal("https://example.com:65536/"), "url's port must be a number from 1 to 65535");
  EXPECT_EQ(refusal("https://example.com:http/"), "url's port must be a number from 1 to 65535");
  EXPECT_EQ(refusal("https://[::1/"), "url's IPv6 host lacks its ']'");
  EXPECT_EQ(refusal("https://exa mple.com/"),
            "url must be ASCII without spaces or control characters");
  EXPECT_EQ(refusal("https://example.com/\r\nx"),
            "url must be ASCII without spaces or control characters");
  EXPECT_EQ(refusal("https://example.com/" + std::string(2048, 'a')),
            "url must be at most 2048 characters");
}

// Literal addresses resolve without a DNS server, so these run anywhere.
TEST(CheckWebhookUrlTest, RefusesPrivateAddressesUnlessAllowed) {
  EXPECT_EQ(refusal("http://127.0.0.1:8080/hook"),
            "url resolves to a private address (127.0.0.1); set RT_WEBHOOK_ALLOW_PRIVATE=true to "
            "allow it");
  EXPECT_EQ(refusal("http://169.254.169.254/latest/meta-data"),
            "url resolves to a private address (169.254.169.254); set "
            "RT_WEBHOOK_ALLOW_PRIVATE=true to allow it");
  EXPECT_EQ(refusal("https://[::1]:443/"),
            "url resolves to a private address (::1); set RT_WEBHOOK_ALLOW_PRIVATE=true to allow "
            "it");
  EXPECT_EQ(refusal("HTTP://10.0.0.7"),
            "url resolves to a private address (10.0.0.7); set RT_WEBHOOK_ALLOW_PRIVATE=true to "
            "allow it");
  // Other spellings of loopback resolve to it, and it is the address that is judged.
  for (const char* url : {"http://localhost:9/", "http://2130706433/", "http://0x7f.1/",
                          "http://127.1/", "http://[::ffff:127.0.0.1]/", "http://0/"}) {
    EXPECT_TRUE(refusal(url).starts_with("url resolves to a private address (")) << url;
  }
  EXPECT_EQ(refusal("http://127.0.0.1:8080/hook", true), "");
  EXPECT_EQ(refusal("https://[::1]/", true), "");
}

TEST(CheckWebhookUrlTest, AcceptsAPublicAddress) {
  EXPECT_EQ(refusal("https://93.184.215.14/hooks?x=1"), "");
  EXPECT_EQ(refusal("http://[2606:4700::1111]:8443/h#f"), "");
}

TEST(CheckWebhookUrlTest, RefusesAHostThatDoesNotResolve) {
  // .invalid never resolves (RFC 6761).
  EXPECT_EQ(refusal("https://no-such-host.invalid/hook"), "url's host does not resolve");
}

}  // namespace
}  // namespace rtjobs
