#include "http/metrics.hpp"

#include <mutex>
#include <sstream>

#include "core/build_info.hpp"
#include "core/prometheus.hpp"

namespace rtjobs::http {

void HttpMetrics::record(std::string_view method, std::string_view route, int status,
                         std::chrono::steady_clock::duration duration) {
  const auto key = std::tuple(method, route);
  std::atomic<uint64_t>* counter = nullptr;
  Route* series = nullptr;
  {
    std::shared_lock lock(mutex_);
    auto it = routes_.find(key);
    if (it != routes_.end()) {
      series = &it->second;
      auto s = series->by_status.find(status);
      if (s != series->by_status.end()) counter = &s->second;
    }
  }
  if (counter == nullptr) {
    std::unique_lock lock(mutex_);
    auto it = routes_.find(key);
    if (it == routes_.end()) {
      it = routes_.try_emplace(std::tuple(std::string(method), std::string(route))).first;
    }
    series = &it->second;
    counter = &series->by_status[status];
  }
  counter->fetch_add(1, std::memory_order_relaxed);
  series->duration.observe(duration);
}

std::string HttpMetrics::render() const {
  std::ostringstream out;
  auto labels = [](const auto& key) {
    return "method=\"" + prometheus_label(std::get<0>(key)) + "\",route=\"" +
           prometheus_label(std::get<1>(key)) + "\"";
  };
  {
    std::shared_lock lock(mutex_);
    out << "# HELP http_requests_total HTTP requests answered, by method, route and status.\n"
        << "# TYPE http_requests_total counter\n";
    for (const auto& [key, series] : routes_) {
      for (const auto& [status, n] : series.by_status) {
        out << "http_requests_total{" << labels(key) << ",status=\"" << status << "\"} "
            << n.load(std::memory_order_relaxed) << "\n";
      }
    }
    out << "# HELP http_request_duration_seconds Time to answer HTTP requests, by method and "
           "route.\n"
        << "# TYPE http_request_duration_seconds histogram\n";
    for (const auto& [key, series] : routes_) {
      series.duration.render(out, "http_request_duration_seconds", labels(key));
    }
  }
  auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_);
  out << "# HELP process_uptime_seconds Seconds since the process started serving.\n"
      << "# TYPE process_uptime_seconds gauge\n"
      << "process_uptime_seconds " << uptime.count() << "\n";
  out << "# HELP rtjobs_build_info The running binary's version and commit (always 1).\n"
      << "# TYPE rtjobs_build_info gauge\n"
      << "rtjobs_build_info{version=\"" << prometheus_label(build_version()) << "\",commit=\""
      << prometheus_label(build_commit()) << "\"} 1\n";
  return out.str();
}

}  // namespace rtjobs::http
