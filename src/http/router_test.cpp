#include "http/router.hpp"

#include <gtest/gtest.h>

namespace rtjobs::http {
namespace {

Handler tagged(const std::string& tag, std::string* out) {
  return [tag, out](const Request&, const Respond&) { *out = tag; };
}

TEST(Router, MatchesLiteralsAndParameters) {
  Router r;
  std::string hit;
  r.add("GET", "/v1/jobs/{job_id}", tagged("get", &hit));
  r.add("POST", "/v1/jobs/{job_id}/process", tagged("process", &hit));
  r.add("POST", "/v1/jobs/process", tagged("batch", &hit));

  auto m = r.match("GET", "/v1/jobs/abc");
  ASSERT_EQ(m.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(m.pattern, "/v1/jobs/{job_id}");
  EXPECT_EQ(m.params.at("job_id"), "abc");

  m = r.match("POST", "/v1/jobs/abc/process");
  ASSERT_EQ(m.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(m.params.at("job_id"), "abc");

  m = r.match("POST", "/v1/jobs/process");
  ASSERT_EQ(m.kind, Router::Match::Kind::kFound);
  (*m.handler)(Request{}, [](const Response&) {});
  EXPECT_EQ(hit, "batch");
}

TEST(Router, LiteralBeatsParameterWhateverTheOrder) {
  Router r;
  std::string hit;
  r.add("GET", "/v1/things/{id}", tagged("param", &hit));
  r.add("GET", "/v1/things/special", tagged("literal", &hit));
  auto m = r.match("GET", "/v1/things/special");
  ASSERT_EQ(m.kind, Router::Match::Kind::kFound);
  EXPECT_EQ(m.pattern, "/v1/things/special");
}

TEST(Router, NotFoundAndMethodNotAllowed) {
  Router r;
  std::string hit;
  r.add("GET", "/v1/jobs", tagged("list", &hit));
  r.add("POST", "/v1/jobs/{job_id}/retry", tagged("retry", &hit));
  EXPECT_EQ(r.match("GET", "/v1/nothing").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/jobs/").kind, Router::Match::Kind::kNotFound);
  EXPECT_EQ(r.match("GET", "/v1/jobs//retry").kind, Router::Match::Kind::kNotFound);
  auto m = r.match("DELETE", "/v1/jobs");
  ASSERT_EQ(m.kind, Router::Match::Kind::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET");
  Response resp = method_not_allowed_response(m.allow);
  EXPECT_EQ(resp.status, 405);
  EXPECT_EQ(not_found_response().status, 404);
  EXPECT_NE(not_found_response().body.find("\"code\":\"not_found\""), std::string::npos);
}

TEST(Message, ParsesTargets) {
  Request req;
  ASSERT_TRUE(parse_target("/v1/jobs?status=FAILED&limit=10&cursor=a%2Bb&x=1+2", req));
  EXPECT_EQ(req.path, "/v1/jobs");
  EXPECT_EQ(req.query.at("status"), "FAILED");
  EXPECT_EQ(req.query.at("cursor"), "a+b");
  EXPECT_EQ(req.query.at("x"), "1 2");
  ASSERT_TRUE(parse_target("/a?k=1&k=2", req));
  EXPECT_EQ(req.query.at("k"), "1");
  ASSERT_EQ(req.repeated_query.size(), 1u);
  EXPECT_FALSE(parse_target("/a?k=%zz", req));
  EXPECT_FALSE(parse_target("/a%2", req));
  EXPECT_FALSE(parse_target("no-slash", req));
}

TEST(Message, HeadersAreCaseInsensitive) {
  Request req;
  req.headers = {{"x-request-id", "abc"}};
  EXPECT_EQ(req.header("X-Request-Id"), "abc");
  EXPECT_FALSE(req.header("authorization"));
}

}  // namespace
}  // namespace rtjobs::http
