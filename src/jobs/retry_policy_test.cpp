// RetryPolicy::next_attempt: SPEC section 2's exponential backoff, on a fixed instant.
#include "jobs/retry_policy.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

const Timestamp kNow = *parse_timestamp("2026-03-10T09:00:00.000Z");

TEST(RetryPolicy, DoublesTheBaseAfterEachRetryUpToADay) {
  const RetryPolicy policy{3, 60s};
  EXPECT_EQ(policy.next_attempt(kNow, 1), kNow + 60s);
  EXPECT_EQ(policy.next_attempt(kNow, 2), kNow + 120s);
  EXPECT_EQ(policy.next_attempt(kNow, 3), kNow + 240s);
  EXPECT_EQ(policy.next_attempt(kNow, 11), kNow + 61440s);
  EXPECT_EQ(policy.next_attempt(kNow, 12), kNow + 24h);  // 122880 s capped
  EXPECT_EQ(policy.next_attempt(kNow, 1000), kNow + 24h);
}

TEST(RetryPolicy, ABaseOfZeroRetriesAtOnce) {
  const RetryPolicy policy{3, 0s};
  EXPECT_EQ(policy.next_attempt(kNow, 1), kNow);
  EXPECT_EQ(policy.next_attempt(kNow, 50), kNow);
}

TEST(RetryPolicy, ABaseAboveADayIsCappedFromTheFirstRetry) {
  const RetryPolicy policy{3, 48h};
  EXPECT_EQ(policy.next_attempt(kNow, 1), kNow + 24h);
}

}  // namespace
}  // namespace rtjobs
