#include "jobs/job_metrics.hpp"

#include <sstream>

#include "core/prometheus.hpp"

namespace rtjobs {
namespace {

constexpr std::array<std::string_view, 3> kAnswers{"succeeded", "declined", "unavailable"};

}  // namespace

JobMetrics::Counters& JobMetrics::counters(std::string_view provider) {
  auto it = providers_.find(provider);
  if (it == providers_.end()) it = providers_.try_emplace(std::string(provider)).first;
  return it->second;
}

void JobMetrics::bank_answered(std::string_view provider, Outcome outcome,
                               std::chrono::steady_clock::duration took) {
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  auto i = static_cast<size_t>(outcome);
  std::lock_guard lock(mutex_);
  Counters& c = counters(provider);
  c.calls[i] += 1;
  c.durations[i].observe(took);
}

void JobMetrics::outcome_written(std::string_view provider, JobStatus status,
                                 std::optional<JobResult> result) {
  std::lock_guard lock(mutex_);
  Counters& c = counters(provider);
  switch (status) {
    case JobStatus::kFinished:
      (result == JobResult::kDeclined ? c.declined : c.succeeded) += 1;
      break;
    case JobStatus::kRetry:
      c.retry += 1;
      break;
    case JobStatus::kFailed:
      c.failed += 1;
      break;
    default:
      break;
  }
}

void JobMetrics::lease_lost(std::string_view provider) {
  std::lock_guard lock(mutex_);
  counters(provider).leases_lost += 1;
}

std::string JobMetrics::render() const {
  std::ostringstream out;
  std::lock_guard lock(mutex_);
  out << "# HELP rtjobs_bank_calls_total BaaS calls answered, by provider and answer.\n"
      << "# TYPE rtjobs_bank_calls_total counter\n";
  for (const auto& [name, c] : providers_) {
    for (size_t i = 0; i < kAnswers.size(); ++i) {
      out << "rtjobs_bank_calls_total{provider=\"" << prometheus_label(name) << "\",answer=\""
          << kAnswers[i] << "\"} " << c.calls[i] << "\n";
    }
  }
  out << "# HELP rtjobs_bank_calls_in_flight BaaS calls made and not answered yet.\n"
      << "# TYPE rtjobs_bank_calls_in_flight gauge\n"
      << "rtjobs_bank_calls_in_flight " << in_flight_.load(std::memory_order_relaxed) << "\n";
  out << "# HELP rtjobs_bank_call_duration_seconds Time from a BaaS call to its answer, by "
         "provider and answer.\n"
      << "# TYPE rtjobs_bank_call_duration_seconds histogram\n";
  for (const auto& [name, c] : providers_) {
    for (size_t i = 0; i < kAnswers.size(); ++i) {
      c.durations[i].render(out, "rtjobs_bank_call_duration_seconds",
                            "provider=\"" + prometheus_label(name) + "\",answer=\"" +
                                std::string(kAnswers[i]) + "\"");
    }
  }
  out << "# HELP rtjobs_job_outcomes_total Job outcomes the processor wrote (the BaaS answers, "
         "and a missing provider as unavailable), by provider, status and result.\n"
      << "# TYPE rtjobs_job_outcomes_total counter\n";
  for (const auto& [name, c] : providers_) {
    std::string p = "rtjobs_job_outcomes_total{provider=\"" + prometheus_label(name) + "\",";
    out << p << "status=\"FINISHED\",result=\"SUCCEEDED\"} " << c.succeeded << "\n"
        << p << "status=\"FINISHED\",result=\"DECLINED\"} " << c.declined << "\n"
        << p << "status=\"RETRY\"} " << c.retry << "\n"
        << p << "status=\"FAILED\"} " << c.failed << "\n";
  }
  out << "# HELP rtjobs_job_leases_lost_total Outcomes not written because the job's lease was "
         "lost during the BaaS call.\n"
      << "# TYPE rtjobs_job_leases_lost_total counter\n";
  for (const auto& [name, c] : providers_) {
    out << "rtjobs_job_leases_lost_total{provider=\"" << prometheus_label(name) << "\"} "
        << c.leases_lost << "\n";
  }
  return out.str();
}

}  // namespace rtjobs
