#include "http/metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace rtjobs::http {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(HttpMetrics, CountsByStatusAndTimesByRouteTemplateInAHistogram) {
  HttpMetrics m;
  m.record("GET", "/v1/jobs/{job_id}", 200, 3ms);
  m.record("GET", "/v1/jobs/{job_id}", 200, 40ms);
  m.record("GET", "/v1/jobs/{job_id}", 404, 2s);
  m.record("POST", "/v1/backups", 202, 70s);
  const std::string text = m.render();
  const std::vector<std::string> expected = {
      "# TYPE http_request_duration_seconds histogram",
      R"(http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="200"} 2)",
      R"(http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1)",
      R"(http_requests_total{method="POST",route="/v1/backups",status="202"} 1)",
      // One histogram per (method, route), every status in it.
      R"(http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{job_id}",le="0.005"} 1)",
      R"(http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{job_id}",le="0.05"} 2)",
      R"(http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{job_id}",le="1"} 2)",
      R"(http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{job_id}",le="2.5"} 3)",
      R"(http_request_duration_seconds_bucket{method="GET",route="/v1/jobs/{job_id}",le="+Inf"} 3)",
      R"(http_request_duration_seconds_sum{method="GET",route="/v1/jobs/{job_id}"} 2.043)",
      R"(http_request_duration_seconds_count{method="GET",route="/v1/jobs/{job_id}"} 3)",
      // Past the last bound: in +Inf only.
      R"(http_request_duration_seconds_bucket{method="POST",route="/v1/backups",le="60"} 0)",
      R"(http_request_duration_seconds_bucket{method="POST",route="/v1/backups",le="+Inf"} 1)",
  };
  for (const std::string& line : expected) {
    EXPECT_TRUE(has_line(text, line)) << line << "\nin:\n" << text;
  }
  // The old per-status sum is gone: one _sum per histogram series.
  EXPECT_EQ(text.find("status=\"404\"} 2"), std::string::npos) << text;
  EXPECT_EQ(text.find("# TYPE http_request_duration_seconds_sum"), std::string::npos) << text;
}

TEST(HttpMetrics, ConcurrentRequestsOnNewAndKnownSeriesAreAllCounted) {
  HttpMetrics m;
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 2000; ++i) m.record("GET", "/r" + std::to_string(i % 3), 200 + t, 1ms);
    });
  }
  for (auto& t : threads) t.join();
  const std::string text = m.render();
  for (int r = 0; r < 3; ++r) {
    const std::string labels = R"(method="GET",route="/r)" + std::to_string(r) + "\"";
    const int per_route = (2000 - r + 2) / 3;  // i % 3 == r for 667, 667, 666 values of i
    EXPECT_TRUE(has_line(text, "http_request_duration_seconds_count{" + labels + "} " +
                                   std::to_string(4 * per_route)))
        << text;
    EXPECT_TRUE(has_line(
        text, "http_requests_total{" + labels + ",status=\"203\"} " + std::to_string(per_route)))
        << text;
  }
}

TEST(HttpMetrics, EscapesLabelValues) {
  HttpMetrics m;
  m.record("GET", "a\"b\\c\nd", 400, 1ms);
  EXPECT_TRUE(has_line(
      m.render(), R"(http_request_duration_seconds_count{method="GET",route="a\"b\\c\nd"} 1)"));
}

}  // namespace
}  // namespace rtjobs::http
