#include "maintenance/call_gate.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace rtjobs {
namespace {

TEST(CallGate, StartsUpToCapacityAndQueuesTheRestInOrder) {
  CallGate gate(2, 1);
  EXPECT_EQ(gate.room(), 4);
  EXPECT_EQ(gate.take(3), 2);
  std::vector<std::string> started;
  gate.wait([&] { started.push_back("a"); });
  gate.wait([&] { started.push_back("b"); });
  EXPECT_TRUE(started.empty());
  EXPECT_EQ(gate.room(), 0);
  EXPECT_EQ(gate.in_flight(), 4);
  EXPECT_EQ(gate.take(1), 0);

  gate.leave();  // the slot goes to the oldest waiting call
  EXPECT_EQ(started, std::vector<std::string>{"a"});
  EXPECT_EQ(gate.in_flight(), 3);
  gate.leave();
  EXPECT_EQ(started, (std::vector<std::string>{"a", "b"}));
  gate.leave();
  gate.leave();
  EXPECT_EQ(gate.in_flight(), 0);
  EXPECT_EQ(gate.room(), 4);
}

TEST(CallGate, FreeSlotsGoToWaitingCallsBeforeNewTakes) {
  CallGate gate(1, 2);
  ASSERT_EQ(gate.take(1), 1);
  int ran = 0;
  gate.wait([&] { ++ran; });
  EXPECT_EQ(gate.take(1), 0);  // a call waits: it goes first
  gate.leave();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(gate.take(1), 0);  // the waiting call holds the slot now
  gate.leave();
  EXPECT_EQ(gate.take(1), 1);
}

TEST(CallGate, AWaitWithAFreeSlotRunsAtOnce) {
  CallGate gate(1, 0);
  int ran = 0;
  gate.wait([&] { ++ran; });
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(gate.in_flight(), 1);
}

// A provider answering inside its call (the sandbox) leaves from within the call: thousands of
// waiting calls must run one after the other, not nested on the stack.
TEST(CallGate, CallsAnsweredInlineRunWithoutNesting) {
  constexpr int kCalls = 5000;
  CallGate gate(1, kCalls);
  ASSERT_EQ(gate.take(1), 1);
  int depth = 0;
  int deepest = 0;
  int ran = 0;
  for (int i = 0; i < kCalls; ++i) {
    gate.wait([&] {
      ++depth;
      deepest = std::max(deepest, depth);
      ++ran;
      gate.leave();  // answered inline
      --depth;
    });
  }
  gate.leave();
  EXPECT_EQ(ran, kCalls);
  EXPECT_LE(deepest, 2);
  EXPECT_EQ(gate.in_flight(), 0);
}

TEST(CallGate, DrainWaitsForRunningAndWaitingCalls) {
  CallGate gate(1, 1);
  ASSERT_EQ(gate.take(1), 1);
  gate.wait([] {});
  EXPECT_FALSE(gate.drain(std::chrono::milliseconds(20)));
  std::thread answers([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate.leave();  // starts the waiting call
    gate.leave();
  });
  EXPECT_TRUE(gate.drain(std::chrono::seconds(10)));
  answers.join();
}

}  // namespace
}  // namespace rtjobs
