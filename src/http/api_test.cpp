#include "http/api.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "http/routes.hpp"

namespace rtjobs::http {
namespace {

TEST(Api, SaneRequestIds) {
  EXPECT_EQ(sane_request_id("abc-123_x.y:z"), "abc-123_x.y:z");
  EXPECT_FALSE(sane_request_id(""));
  EXPECT_FALSE(sane_request_id("has space"));
  EXPECT_FALSE(sane_request_id("new\nline"));
  EXPECT_FALSE(sane_request_id(std::string(129, 'a')));
}

TEST(OpenApi, IsAnOpenApi3DocumentOfTheRoutes) {
  auto doc = nlohmann::json::parse(openapi_document());
  EXPECT_EQ(doc["openapi"].get<std::string>().substr(0, 2), "3.");
  for (const char* path :
       {"/healthz", "/readyz", "/metrics", "/openapi.json", "/v1/jobs/{job_id}/process",
        "/v1/jobs/process", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/provider-statuses",
        "/v1/jobs/{job_id}/retry", "/v1/recurring-transfers", "/v1/recurring-transfers/{id}",
        "/v1/recurring-transfers/{id}/jobs", "/v1/recurring-transfers/{id}/pause",
        "/v1/recurring-transfers/{id}/resume", "/v1/recurring-transfers/{id}/cancel", "/v1/backups",
        "/v1/backups/{id}"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
  for (const char* path : {"/v1/recurring-transfers/{id}/occurrences", "/v1/jobs/{job_id}/skip",
                           "/v1/overview", "/console/", "/console/{file}"}) {
    EXPECT_TRUE(doc["paths"].contains(path)) << path;
  }
}

TEST(Query, LimitAndUnknownParameters) {
  Request r;
  ASSERT_TRUE(parse_target("/v1/jobs?limit=500", r));
  EXPECT_EQ(parse_limit(r).value(), 500);
  ASSERT_TRUE(parse_target("/v1/jobs", r));
  EXPECT_EQ(parse_limit(r).value(), 50);
  for (const char* bad : {"/v1/jobs?limit=0", "/v1/jobs?limit=501", "/v1/jobs?limit=abc",
                          "/v1/jobs?limit=", "/v1/jobs?limit=-1"}) {
    ASSERT_TRUE(parse_target(bad, r));
    auto l = parse_limit(r);
    ASSERT_FALSE(l) << bad;
    EXPECT_EQ(l.error().field, "limit");
  }
  ASSERT_TRUE(parse_target("/v1/jobs?statuz=FAILED", r));
  EXPECT_EQ(check_query(r, {"status"}).error().field, "statuz");
  ASSERT_TRUE(parse_target("/v1/jobs?status=A&status=B", r));
  EXPECT_EQ(check_query(r, {"status"}).error().field, "status");
}

TEST(Query, BoundedIntegers) {
  Request r;
  ASSERT_TRUE(parse_target("/v1/x?count=100", r));
  EXPECT_EQ(parse_int_query(r, "count", 1, 100, 12).value(), 100);
  ASSERT_TRUE(parse_target("/v1/x", r));
  EXPECT_EQ(parse_int_query(r, "count", 1, 100, 12).value(), 12);
  for (const char* bad : {"/v1/x?count=0", "/v1/x?count=101", "/v1/x?count=1e2",
                          "/v1/x?count=99999999999999999999", "/v1/x?count=+5"}) {
    ASSERT_TRUE(parse_target(bad, r));
    auto c = parse_int_query(r, "count", 1, 100, 12);
    ASSERT_FALSE(c) << bad;
    EXPECT_EQ(c.error().field, "count");
    EXPECT_EQ(c.error().message, "count must be an integer between 1 and 100");
  }
}

}  // namespace
}  // namespace rtjobs::http
