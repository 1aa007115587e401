#include "http/metrics.hpp"
#include "core/build_info.hpp"

#include <sstream>

#include "core/log.hpp"
#include "core/prometheus.hpp"

namespace rtjobs::http {
void HttpMetrics::record(std::string_view method, std::string_view route, int status,
                         std::chrono::steady_clock::duration duration) {
  std::lock_guard lock(mutex_);
  auto it = series_.find(std::tuple(method, route, status));
  if (it == series_.end()) {
    it = series_.try_emplace(std::tuple(std::string(method), std::string(route), status)).first;
  }
  Series& s = it->second;
  s.count += 1;
  s.seconds += std::chrono::duration<double>(duration).count();
}

std::string HttpMetrics::render() const {
  std::ostringstream out;
  out << "# HELP http_requests_total HTTP requests answered, by method, route and status.\n"
      << "# TYPE http_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    out << "http_requests_total{method=\"" << prometheus_label(method) << "\",route=\""
        << prometheus_label(route) << "\",status=\"" << status << "\"} " << s.count << "\n";
  }
  out << "# HELP http_request_duration_seconds_sum Time spent answering HTTP requests.\n"
      << "# TYPE http_request_duration_seconds_sum counter\n";
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    out << "http_request_duration_seconds_sum{method=\"" << prometheus_label(method)
        << "\",route=\"" << prometheus_label(route) << "\",status=\"" << status << "\"} "
        << s.seconds << "\n";
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
