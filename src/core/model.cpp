#include "core/model.hpp"

#include <array>
#include <utility>

namespace rtjobs {
namespace {

template <class E, size_t N>
std::optional<E> find(const std::array<std::pair<E, std::string_view>, N>& names,
                      std::string_view s) {
  for (const auto& [value, name] : names) {
    if (name == s) return value;
  }
  return std::nullopt;
}

template <class E, size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
  for (const auto& [value, name] : names) {
    if (value == e) return name;
  }
  return "UNKNOWN";
}

constexpr std::array<std::pair<JobStatus, std::string_view>, 8> kJobStatus{{
    {JobStatus::kPending, "PENDING"},
    {JobStatus::kInFly, "IN_FLY"},
    {JobStatus::kProcessing, "PROCESSING"},
    {JobStatus::kRetry, "RETRY"},
    {JobStatus::kFinished, "FINISHED"},
    {JobStatus::kFailed, "FAILED"},
    {JobStatus::kSkipped, "SKIPPED"},
    {JobStatus::kCancelled, "CANCELLED"},
}};
constexpr std::array<std::pair<JobResult, std::string_view>, 3> kJobResult{{
    {JobResult::kSucceeded, "SUCCEEDED"},
    {JobResult::kDeclined, "DECLINED"},
    {JobResult::kReturned, "RETURNED"},
}};
constexpr std::array<std::pair<SettlementStatus, std::string_view>, 5> kSettlement{{
    {SettlementStatus::kPending, "pending"},
    {SettlementStatus::kSettled, "settled"},
    {SettlementStatus::kReturned, "returned"},
    {SettlementStatus::kCanceled, "canceled"},
    {SettlementStatus::kUnknown, "unknown"},
}};
constexpr std::array<std::pair<TransferStatus, std::string_view>, 4> kTransferStatus{{
    {TransferStatus::kActive, "ACTIVE"},
    {TransferStatus::kPaused, "PAUSED"},
    {TransferStatus::kCancelled, "CANCELLED"},
    {TransferStatus::kCompleted, "COMPLETED"},
}};
constexpr std::array<std::pair<Frequency, std::string_view>, 4> kFrequency{{
    {Frequency::kDaily, "DAILY"},
    {Frequency::kWeekly, "WEEKLY"},
    {Frequency::kMonthly, "MONTHLY"},
    {Frequency::kYearly, "YEARLY"},
}};
constexpr std::array<std::pair<BusinessDay, std::string_view>, 4> kBusinessDay{{
    {BusinessDay::kNone, "NONE"},
    {BusinessDay::kFollowing, "FOLLOWING"},
    {BusinessDay::kPreceding, "PRECEDING"},
    {BusinessDay::kModifiedFollowing, "MODIFIED_FOLLOWING"},
}};
constexpr std::array<std::pair<Rail, std::string_view>, 2> kRail{{
    {Rail::kBook, "book"},
    {Rail::kAch, "ach"},
}};

}  // namespace

std::string_view to_string(JobStatus s) { return name_of(kJobStatus, s); }
std::string_view to_string(JobResult r) { return name_of(kJobResult, r); }
std::string_view to_string(TransferStatus s) { return name_of(kTransferStatus, s); }
std::string_view to_string(Frequency f) { return name_of(kFrequency, f); }
std::string_view to_string(BusinessDay b) { return name_of(kBusinessDay, b); }
std::string_view to_string(Rail r) { return name_of(kRail, r); }
std::optional<JobStatus> parse_job_status(std::string_view s) { return find(kJobStatus, s); }
std::optional<JobResult> parse_job_result(std::string_view s) { return find(kJobResult, s); }
std::optional<TransferStatus> parse_transfer_status(std::string_view s) {
  return find(kTransferStatus, s);
}
std::optional<Frequency> parse_frequency(std::string_view s) { return find(kFrequency, s); }
std::optional<BusinessDay> parse_business_day(std::string_view s) { return find(kBusinessDay, s); }
std::optional<Rail> parse_rail(std::string_view s) { return find(kRail, s); }
std::string_view to_string(SettlementStatus s) { return name_of(kSettlement, s); }
std::optional<SettlementStatus> parse_settlement_status(std::string_view s) {
  return find(kSettlement, s);
}

std::string bank_key(const Job& job) {
  if (job.presentment == 0) return job.idempotency_key;
  return job.idempotency_key + ":r" + std::to_string(job.presentment);
}

bool is_terminal(JobStatus s) {
  return s == JobStatus::kFinished || s == JobStatus::kFailed || s == JobStatus::kSkipped ||
         s == JobStatus::kCancelled;
}

}  // namespace rtjobs
