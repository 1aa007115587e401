// The operator CLI over a running server's HTTP API (issue 20 item 4):
//
//   rtjobs transfers list|get|pause|resume|cancel    rtjobs jobs list|get|retry|skip
//   rtjobs backups list|run                          rtjobs check-config [--config F] [--probe]
//
// The server from --url or RT_URL (default http://127.0.0.1:8080, serve's default listen
// address), the token from --token or RT_API_TOKEN. Tables for people, --json for scripts (the
// API's JSON as it answers; a list's pages merged into one {"data", "next_cursor"}). Each failure
// is one line on stderr and an exit code of cli/exit_codes.hpp.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

namespace rtjobs::cli {

class OperatorCommands {
 public:
  // Adds the subcommands to `app`; `app` must outlive this object.
  explicit OperatorCommands(CLI::App& app);
  ~OperatorCommands();
  OperatorCommands(const OperatorCommands&) = delete;
  OperatorCommands& operator=(const OperatorCommands&) = delete;

  // After app.parse(): the exit code of the operator command that ran, or nullopt when the
  // command line chose another subcommand.
  std::optional<int> run();

  struct State;  // the options' values and the subcommands; operator_commands.cpp

 private:
  std::unique_ptr<State> state_;
};

}  // namespace rtjobs::cli
