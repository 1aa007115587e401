#include "core/uuid.hpp"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace rtjobs {
namespace {

const Timestamp kNow{std::chrono::milliseconds(1'795'910'400'123)};  // 2026-11-29T00:00:00.123Z

TEST(RequestIdTest, IsALowerCaseUuidVersion7WithTheTimeInFront) {
  std::string id = new_request_id(kNow);
  ASSERT_TRUE(is_uuid(id)) << id;
  EXPECT_EQ(id[14], '7');                                          // version
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);  // RFC 9562 variant
  EXPECT_EQ(id.substr(0, 13), new_uuid_v7(kNow).substr(0, 13));    // 48-bit millisecond field
  for (char c : id) EXPECT_TRUE(c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

TEST(RequestIdTest, IdsOfTheSameMillisecondOnSeveralThreadsAreDistinct) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50'000;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&made, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(new_request_id(kNow));
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& v : made) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST(UuidV7Test, SortsInCreationOrderWithinOneMillisecond) {
  std::string previous = new_uuid_v7(kNow);
  for (int i = 0; i < 1000; ++i) {
    std::string next = new_uuid_v7(kNow);
    ASSERT_LT(previous, next);
    previous = next;
  }
}

}  // namespace
}  // namespace rtjobs
