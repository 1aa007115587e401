#include "http/auth.hpp"

#include <gtest/gtest.h>

namespace rtjobs::http {
namespace {

Request with_authorization(std::optional<std::string> value) {
  Request r;
  if (value) r.headers.emplace_back("authorization", *value);
  return r;
}

TEST(Auth, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("secret", "secret"));
  EXPECT_FALSE(constant_time_equals("secret", "secreT"));
  EXPECT_FALSE(constant_time_equals("secret", "secret2"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_TRUE(constant_time_equals("", ""));
}

TEST(Auth, ParsesBearer) {
  EXPECT_EQ(parse_bearer("Bearer abc"), "abc");
  EXPECT_EQ(parse_bearer("bearer   abc  "), "abc");
  EXPECT_EQ(parse_bearer("BEARER abc"), "abc");
  EXPECT_FALSE(parse_bearer("Bearer"));
  EXPECT_FALSE(parse_bearer("Bearer "));
  EXPECT_FALSE(parse_bearer("Bearerabc"));
  EXPECT_FALSE(parse_bearer("Basic abc"));
  EXPECT_FALSE(parse_bearer("Bearer a b"));
}

TEST(Auth, ChecksTheToken) {
  Authenticator auth(std::string("s3cret"));
  EXPECT_FALSE(auth.check(with_authorization("Bearer s3cret")));
  auto missing = auth.check(with_authorization(std::nullopt));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_NE(missing->body.find("\"code\":\"unauthorized\""), std::string::npos);
  bool has_challenge = false;
  for (auto& [k, v] : missing->headers) has_challenge |= k == "WWW-Authenticate";
  EXPECT_TRUE(has_challenge);
  auto wrong = auth.check(with_authorization("Bearer nope"));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->body.find("s3cret"), std::string::npos);
  EXPECT_TRUE(auth.check(with_authorization("Basic czNjcmV0")));
}

TEST(Auth, NamedTokensSayWhoCalled) {
  Authenticator auth(std::string("s3cret"), {{"ops", "tok-ops"}, {"console", "tok-console"}});
  EXPECT_TRUE(auth.enabled());
  std::string caller = "unset";
  EXPECT_FALSE(auth.check(with_authorization("Bearer tok-console"), &caller));
  EXPECT_EQ(caller, "console");
  EXPECT_FALSE(auth.check(with_authorization("Bearer tok-ops"), &caller));
  EXPECT_EQ(caller, "ops");
  EXPECT_FALSE(auth.check(with_authorization("Bearer s3cret"), &caller));
  EXPECT_EQ(caller, kDefaultCaller);
  caller = "unset";
  auto wrong = auth.check(with_authorization("Bearer tok-op"), &caller);
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(caller, "unset");
  // Named tokens alone, without RT_API_TOKEN.
  Authenticator named_only(std::nullopt, {{"ops", "tok-ops"}});
  EXPECT_TRUE(named_only.enabled());
  EXPECT_TRUE(named_only.check(with_authorization(std::nullopt)));
  EXPECT_FALSE(named_only.check(with_authorization("Bearer tok-ops")));
}

TEST(Auth, DisabledWithoutToken) {
  Authenticator auth(std::nullopt);
  EXPECT_FALSE(auth.enabled());
  EXPECT_FALSE(auth.check(with_authorization(std::nullopt)));
}

TEST(Auth, Sha256Hex) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace rtjobs::http
