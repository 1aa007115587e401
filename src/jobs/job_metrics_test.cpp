#include "jobs/job_metrics.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(JobMetrics, CountsCallsAndOutcomesPerProvider) {
  JobMetrics m;
  for (int i = 0; i < 5; ++i) m.bank_call_started();
  m.bank_answered("sandbox", Outcome::kSucceeded, 250ms);
  m.bank_answered("sandbox", Outcome::kSucceeded, 500ms);
  m.bank_answered("sandbox", Outcome::kUnavailable, 2s);
  m.bank_answered("bank", Outcome::kDeclined, 100ms);
  m.outcome_written("sandbox", JobStatus::kFinished, JobResult::kSucceeded);
  m.outcome_written("sandbox", JobStatus::kFinished, JobResult::kSucceeded);
  m.outcome_written("sandbox", JobStatus::kRetry, std::nullopt);
  m.outcome_written("bank", JobStatus::kFinished, JobResult::kDeclined);
  m.outcome_written("bank", JobStatus::kFailed, std::nullopt);
  m.lease_lost("bank");

  std::string text = m.render();
  const std::vector<std::string> expected = {
      R"(rtjobs_bank_calls_total{provider="sandbox",answer="succeeded"} 2)",
      R"(rtjobs_bank_calls_total{provider="sandbox",answer="declined"} 0)",
      R"(rtjobs_bank_calls_total{provider="sandbox",answer="unavailable"} 1)",
      R"(rtjobs_bank_calls_total{provider="bank",answer="declined"} 1)",
      R"(rtjobs_bank_call_duration_seconds_sum{provider="sandbox",answer="succeeded"} 0.75)",
      R"(rtjobs_bank_call_duration_seconds_sum{provider="sandbox",answer="unavailable"} 2)",
      R"(rtjobs_job_outcomes_total{provider="sandbox",status="FINISHED",result="SUCCEEDED"} 2)",
      R"(rtjobs_job_outcomes_total{provider="sandbox",status="RETRY"} 1)",
      R"(rtjobs_job_outcomes_total{provider="bank",status="FINISHED",result="DECLINED"} 1)",
      R"(rtjobs_job_outcomes_total{provider="bank",status="FAILED"} 1)",
      R"(rtjobs_job_leases_lost_total{provider="bank"} 1)",
      R"(rtjobs_job_leases_lost_total{provider="sandbox"} 0)",
      "rtjobs_bank_calls_in_flight 1",  // five started, four answered
      // The latency histogram: cumulative buckets, +Inf, _count equal to the calls.
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="succeeded",le="0.1"} 0)",
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="succeeded",le="0.25"} 1)",
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="succeeded",le="0.5"} 2)",
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="succeeded",le="+Inf"} 2)",
      R"(rtjobs_bank_call_duration_seconds_count{provider="sandbox",answer="succeeded"} 2)",
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="unavailable",le="1"} 0)",
      R"(rtjobs_bank_call_duration_seconds_bucket{provider="sandbox",answer="unavailable",le="2.5"} 1)",
      R"(rtjobs_bank_call_duration_seconds_count{provider="bank",answer="declined"} 1)",
      R"(rtjobs_bank_call_duration_seconds_count{provider="bank",answer="succeeded"} 0)",
  };
  for (const std::string& line : expected) {
    EXPECT_TRUE(has_line(text, line)) << line << "\nin:\n" << text;
  }
  EXPECT_NE(text.find("# TYPE rtjobs_job_outcomes_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE rtjobs_bank_call_duration_seconds histogram\n"), std::string::npos);
}

TEST(JobMetrics, EscapesProviderNamesAndStartsEmpty) {
  JobMetrics m;
  EXPECT_EQ(m.render().find("provider="), std::string::npos);
  m.lease_lost("a\"b\\c\nd");
  EXPECT_TRUE(has_line(m.render(), R"(rtjobs_job_leases_lost_total{provider="a\"b\\c\nd"} 1)"));
}

}  // namespace
}  // namespace rtjobs
