#include "core/log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace rtjobs::log {
namespace {

std::string escaped(std::string_view s) {
  std::string out = "x";  // appends, never replaces
  append_json_escaped(out, s);
  return out;
}

TEST(AppendJsonEscaped, EscapesAsJsonDumpDoes) {
  EXPECT_EQ(escaped("plain text"), "xplain text");
  EXPECT_EQ(escaped("a\"b\\c"), "xa\\\"b\\\\c");
  EXPECT_EQ(escaped("\b\f\n\r\t"), "x\\b\\f\\n\\r\\t");
  EXPECT_EQ(escaped(std::string("\x00\x01\x1f", 3)), "x\\u0000\\u0001\\u001f");
  EXPECT_EQ(escaped("caf\xc3\xa9 \x7f"), "xcaf\xc3\xa9 \x7f");  // UTF-8 and DEL as they are
  EXPECT_EQ(escaped(""), "x");
}

// Lines large enough that appending one flushes the buffer at once, from several threads, while
// the log thread flushes on its own: the two flushes once took their two locks in opposite
// orders and every thread that logged stopped for good.
TEST(LogWriter, ManyThreadsFlushingNeverStall) {
  std::fflush(stderr);
  int saved = dup(2);
  int null = open("/dev/null", O_WRONLY);
  ASSERT_GE(null, 0);
  dup2(null, 2);
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  const std::string big(60 * 1024, 'x');
  threads.reserve(6);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      while (std::chrono::steady_clock::now() < until) info(big);
      ++done;
    });
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (done.load() < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done.load() < 6) {  // deadlocked: the threads can never be joined
    dup2(saved, 2);
    std::fprintf(stderr, "logging threads stalled\n");
    std::_Exit(1);
  }
  for (auto& t : threads) t.join();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(null);
}

}  // namespace
}  // namespace rtjobs::log
