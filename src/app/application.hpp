// Application: everything `rtjobs serve` runs, wired together and owned in one place: the store,
// the providers, the calendars, the blocking thread pool, the job processor, the transfer
// service and the HTTP server. Later additions (scheduler and retries loops, backup cron) are
// started and stopped here too.
//
// start() builds and starts everything or returns the first failure; stop() (also run by the
// destructor) shuts down gracefully: the HTTP server stops accepting and finishes in-flight
// requests within the deadline, then the blocking pool drains. Not thread-safe: one
// controlling thread calls start() and stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"

namespace rtjobs {

class Application {
 public:
  ~Application();

  // Opens and migrates the store, builds the components and binds the listener; logs one
  // {"msg":"listening","host":...,"port":N} line with the real bound port.
  static Result<std::unique_ptr<Application>> start(Config config);

  std::string host() const;
  uint16_t port() const;

  void stop(std::chrono::milliseconds deadline = std::chrono::seconds(10));

  struct Impl;  // opaque: the wiring lives in application.cpp

 private:
  Application();
  std::unique_ptr<Impl> impl_;
};

// Refuses a configuration that would expose the API without a token: listening on a
// non-loopback address requires RT_API_TOKEN. The Error names RT_API_TOKEN.
Result<void> check_exposure(const Config& config);

}  // namespace rtjobs
