#include "core/histogram.hpp"

#include <gtest/gtest.h>

#include <array>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

constexpr std::array<double, 3> kBounds{0.01, 0.1, 1};

std::string rendered(const Histogram& h, std::string_view labels) {
  std::ostringstream out;
  h.render(out, "x_seconds", labels);
  return out.str();
}

TEST(Histogram, CountsEachValueInTheFirstBucketWhoseBoundHoldsItCumulatively) {
  Histogram h(kBounds);
  h.observe(5ms);     // le 0.01
  h.observe(10ms);    // le 0.01: a value equal to a bound is in that bound's bucket
  h.observe(11ms);    // le 0.1
  h.observe(1s);      // le 1
  h.observe(2500ms);  // +Inf only
  h.observe(-3ms);    // a clock step back: counted as 0 s
  EXPECT_EQ(rendered(h, R"(p="a")"),
            "x_seconds_bucket{p=\"a\",le=\"0.01\"} 3\n"
            "x_seconds_bucket{p=\"a\",le=\"0.1\"} 4\n"
            "x_seconds_bucket{p=\"a\",le=\"1\"} 5\n"
            "x_seconds_bucket{p=\"a\",le=\"+Inf\"} 6\n"
            "x_seconds_sum{p=\"a\"} 3.526\n"
            "x_seconds_count{p=\"a\"} 6\n");
  EXPECT_EQ(h.count(), 6u);
}

TEST(Histogram, WithoutLabelsTheSumAndCountHaveNoBraces) {
  Histogram h(kBounds);
  EXPECT_EQ(rendered(h, ""),
            "x_seconds_bucket{le=\"0.01\"} 0\n"
            "x_seconds_bucket{le=\"0.1\"} 0\n"
            "x_seconds_bucket{le=\"1\"} 0\n"
            "x_seconds_bucket{le=\"+Inf\"} 0\n"
            "x_seconds_sum 0\n"
            "x_seconds_count 0\n");
}

TEST(Histogram, LatencyBucketsSpanFiveMillisecondsToSixtySecondsAscending) {
  EXPECT_EQ(kLatencyBuckets.front(), 0.005);
  EXPECT_EQ(kLatencyBuckets.back(), 60);
  for (size_t i = 1; i < kLatencyBuckets.size(); ++i) {
    EXPECT_LT(kLatencyBuckets[i - 1], kLatencyBuckets[i]);
  }
  Histogram h(kLatencyBuckets);
  std::string text = rendered(h, "");
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.005\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"60\"} 0\n"), std::string::npos) << text;
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h(kBounds);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(50ms);
    });
  }
  for (auto& t : threads) t.join();
  std::string text = rendered(h, "");
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.01\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.1\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_sum 2000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count 40000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace rtjobs
