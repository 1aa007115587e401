// HttpMetrics: the API's request counters and latency histograms, rendered as Prometheus text
// for GET /metrics, plus the process's uptime and build info. Thread-safe and cheap per request:
// a shared lock for the look-up of a series already seen (the exclusive lock only the first
// time a series appears), then relaxed atomic adds.
//
// Series: http_requests_total{method,route,status} and the histogram
// http_request_duration_seconds{method,route} (buckets kLatencyBuckets). `route` is the matched
// template, never the raw path, so the label sets stay bounded by the routes and statuses.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "core/histogram.hpp"

namespace rtjobs::http {

class HttpMetrics {
 public:
  HttpMetrics() : started_(std::chrono::steady_clock::now()) {}

  // `route` is the matched pattern ("/v1/jobs/{job_id}") or "unmatched".
  // Copies the strings only the first time a series is seen.
  void record(std::string_view method, std::string_view route, int status,
              std::chrono::steady_clock::duration duration);

  std::string render() const;

 private:
  struct Route {
    Route() : duration(kLatencyBuckets) {}
    Histogram duration;
    std::map<int, std::atomic<uint64_t>> by_status;  // inserted under the exclusive lock
  };
  const std::chrono::steady_clock::time_point started_;
  mutable std::shared_mutex mutex_;
  // std::less<>: looked up by string_views, without building a key. Nodes never move, so a
  // series found under the shared lock stays valid after it is released; entries are never
  // erased.
  std::map<std::tuple<std::string, std::string>, Route, std::less<>> routes_;  // by mutex_
};

}  // namespace rtjobs::http
