// Credentials never leave the adapter except in the bank's Authorization header: not in a log
// line at any level, not in any field of a TransferResult (which the store keeps and the API
// shows).
#include <unistd.h>

#include <cstdio>

#include "conformance.hpp"
#include "core/log.hpp"

namespace rtjobs::baas_conformance {
namespace {

// What is written to stderr, where rtjobs logs, while it lives: fd 2 goes to a temporary file.
class StderrCapture {
 public:
  StderrCapture() : file_(std::tmpfile()) {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    if (file_ != nullptr) dup2(fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture() {
    restore();
    if (file_ != nullptr) std::fclose(file_);
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  // Everything logged so far: a warning is written through at once, after every line queued
  // before it (core/log.cpp), so it flushes the log; then stderr is restored.
  std::string finish() {
    log::warn(kEnd);
    restore();
    std::string text;
    if (file_ == nullptr) return text;
    if (std::fseek(file_, 0, SEEK_SET) != 0) return text;
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) text.append(buf, n);
    return text;
  }

  static constexpr std::string_view kEnd = "baas conformance: end of capture";

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    saved_ = -1;
  }

  std::FILE* file_;
  int saved_ = -1;
};

// The lowest log level for the test's duration.
struct DebugLogging {
  DebugLogging() { log::set_level("debug"); }
  ~DebugLogging() { log::set_level("info"); }
};

TEST_P(BankConformance, CredentialsAppearInNoLogLineAndNoResult) {
  auto wrong = provider(5000ms, /*wrong_credentials=*/true);
  auto impatient = provider(300ms);
  ASSERT_NE(wrong, nullptr);
  ASSERT_NE(impatient, nullptr);
  DebugLogging debug;
  StderrCapture capture;
  std::vector<TransferResult> results;
  results.push_back(run(*provider_, request(Rail::kBook)));
  results.push_back(run(*provider_, request(Rail::kAch, "decline_")));
  results.push_back(run(*wrong, request(Rail::kBook)));
  results.push_back(run(*impatient, request(Rail::kAch, "slow1500_")));
  const bool answered = wait_for_transfers(2);  // the success and the slow one
  const std::string log = capture.finish();
  ASSERT_TRUE(answered);
  ASSERT_NE(log.find(StderrCapture::kEnd), std::string::npos) << "nothing was captured";

  // The scenes happened as intended: a success, a refusal, a 401 and a timeout.
  EXPECT_EQ(results[0].outcome, Outcome::kSucceeded);
  EXPECT_EQ(results[1].outcome, Outcome::kDeclined);
  EXPECT_EQ(results[2].http_status, 401);
  EXPECT_EQ(results[3].code, "timeout");

  const std::vector<std::string> secrets = secrets_of(bank(), fake().attempts());
  ASSERT_GT(secrets.size(), 2 * bank().credentials.size()) << "the Authorization headers";
  for (const std::string& secret : secrets) {
    ASSERT_GE(secret.size(), 8u) << "too short to search for: " << secret;
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " in the log:\n" << log;
    for (const TransferResult& r : results) {
      for (const auto& field : {r.message, r.code, r.response_body, r.reference, r.bank_status}) {
        EXPECT_EQ(field.value_or("").find(secret), std::string::npos)
            << secret << " in a result: " << field.value_or("");
      }
    }
  }
}

}  // namespace
}  // namespace rtjobs::baas_conformance
