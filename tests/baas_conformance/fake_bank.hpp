// FakeBank: one tools/fake_banks process (Node) playing one bank on a free loopback port, and
// blocking calls to its control API (/_control/transfers, /_control/attempts, /_control/reset,
// ...; tools/fake_banks/README.md). Needs `node` on PATH.
//
// The process is started with --port 0 and its {"listening": PORT} line read from its stdout.
// It is stopped (SIGTERM, then SIGKILL) by stop() or the destructor, and the kernel stops it too
// when the test process dies first (PR_SET_PDEATHSIG), so no run leaves a node process behind.
// Not thread-safe: one test thread drives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace rtjobs::baas_conformance {

class FakeBank {
 public:
  // `args` follow --bank BANK on the command line (the bank's credential flags).
  FakeBank(std::string bank, std::vector<std::string> args);
  ~FakeBank();
  FakeBank(const FakeBank&) = delete;
  FakeBank& operator=(const FakeBank&) = delete;

  // Starts the process and waits for it to listen; an error says why it did not.
  std::optional<std::string> start();
  void stop();
  bool running() const { return port_ != 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A control-API call; the parsed answer, or a discarded value when there was none.
  nlohmann::json control(std::string_view method, std::string_view path,
                         std::string_view body = "") const;
  nlohmann::json transfers() const { return control("GET", "/_control/transfers")["transfers"]; }
  nlohmann::json attempts() const { return control("GET", "/_control/attempts")["attempts"]; }
  nlohmann::json stats() const { return control("GET", "/_control/stats"); }
  void reset() const { control("POST", "/_control/reset"); }

 private:
  std::string bank_;
  std::vector<std::string> args_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Polls `done` every 10 ms until it holds or `within` has passed; returns its last answer.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds within);

}  // namespace rtjobs::baas_conformance
