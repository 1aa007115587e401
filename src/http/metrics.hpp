// HttpMetrics: request counters and latency sums of the API, rendered as Prometheus text for
// GET /metrics, plus the process's uptime. Thread-safe (one mutex; a map lookup per request).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace rtjobs::http {

class HttpMetrics {
 public:
  HttpMetrics() : started_(std::chrono::steady_clock::now()) {}

  // `route` is the matched pattern ("/v1/jobs/{job_id}") or "unmatched".
  // Copies the strings only the first time a (method, route, status) series is seen.
  void record(std::string_view method, std::string_view route, int status,
              std::chrono::steady_clock::duration duration);

  std::string render() const;

 private:
  struct Series {
    long long count = 0;
    double seconds = 0;
  };
  const std::chrono::steady_clock::time_point started_;
  mutable std::mutex mutex_;
  // std::less<>: looked up by string_views, without building a key.
  std::map<std::tuple<std::string, std::string, int>, Series, std::less<>> series_;  // by mutex_
};

}  // namespace rtjobs::http
