// The domain records of SPEC section 1, as plain values shared by the stores, the processor and
// the API mapping. Field names follow the table columns. Money is an integer of minor units.
// States and results convert to and from their stored names (to_string / parse_*).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs {

enum class JobStatus {
  kPending,
  kInFly,
  kProcessing,
  kRetry,
  kFinished,
  kFailed,
  kSkipped,
  kCancelled
};
// RETURNED: the bank accepted the transfer and it came back later (an ACH return, SPEC 8).
enum class JobResult { kSucceeded, kDeclined, kReturned };
// Where an accepted transfer is on its way to its final state at the bank (SPEC section 8,
// settlement and returns). kUnknown: the follow window ran out before the bank said.
enum class SettlementStatus { kPending, kSettled, kReturned, kCanceled, kUnknown };
enum class TransferStatus { kActive, kPaused, kCancelled, kCompleted };
// How SPEC sections 2 and 8 classify a BaaS answer.
enum class Outcome {
  kSucceeded,    // the bank accepted the transfer
  kDeclined,     // the bank refused the customer's transfer: final, not retried
  kUnavailable,  // no final answer (5xx, 408, 429, 401/403, key conflicts, timeouts): retried
};
enum class Frequency { kDaily, kWeekly, kMonthly, kYearly };
enum class BusinessDay { kNone, kFollowing, kPreceding, kModifiedFollowing };
// The payment rail a transfer moves on (SPEC section 8): a book transfer between two accounts
// at the same bank, or an ACH transfer to a counterparty or external account.
enum class Rail { kBook, kAch };

std::string_view to_string(JobStatus s);
std::string_view to_string(JobResult r);
std::string_view to_string(TransferStatus s);
std::string_view to_string(Frequency f);
std::string_view to_string(BusinessDay b);
std::string_view to_string(Rail r);              // "book", "ach"
std::string_view to_string(SettlementStatus s);  // "pending", "settled", ... (lower case)
std::optional<JobStatus> parse_job_status(std::string_view s);
std::optional<JobResult> parse_job_result(std::string_view s);
std::optional<TransferStatus> parse_transfer_status(std::string_view s);
std::optional<Frequency> parse_frequency(std::string_view s);
std::optional<BusinessDay> parse_business_day(std::string_view s);
std::optional<Rail> parse_rail(std::string_view s);
std::optional<SettlementStatus> parse_settlement_status(std::string_view s);

// FINISHED, FAILED, SKIPPED, CANCELLED: nothing more happens to the job.
bool is_terminal(JobStatus s);

// The schedule fields of SPEC section 3, as stored on the transfer (defaults already applied).
struct Schedule {
  Frequency frequency = Frequency::kMonthly;
  int interval = 1;
  std::optional<int> day_of_week;   // 1 = Monday .. 7 = Sunday
  std::optional<int> day_of_month;  // 1..31 or -1..-5
  std::optional<int> month;         // 1..12
  Date start_date{};
  std::optional<Date> end_date;  // inclusive, applies to unadjusted dates
  std::optional<int> count;      // maximum number of occurrences
  std::string timezone = "UTC";
  int execution_minutes = 0;  // minutes after local midnight ("HH:MM")
  BusinessDay business_day = BusinessDay::kNone;
  std::string calendar = "WEEKENDS";
};

struct RecurringTransfer {
  std::string id;
  std::optional<std::string> external_id;
  std::string provider;
  std::string source_account;
  std::string destination_account;
  int64_t amount = 0;  // minor units, > 0
  std::string currency;
  std::string description;
  Rail rail = Rail::kBook;
  // The adapter-specific fields (SPEC section 8): the text of a JSON object as the client sent
  // it (compact), checked by the provider's adapter when the transfer was created.
  std::optional<std::string> provider_options;
  Schedule schedule;
  TransferStatus status = TransferStatus::kActive;
  // Why the transfer has its status when rtjobs changed it itself (an account-level ACH return
  // paused it: "account_return:R02"); absent after a client's pause, resume or cancel.
  std::optional<std::string> status_reason;
  int64_t last_sequence = 0;  // highest occurrence sequence created so far
  // due_at of the first occurrence not yet created; absent once the schedule is exhausted
  std::optional<Timestamp> next_occurrence_at;
  std::optional<std::string> idempotency_key;  // from the create request's header
  std::string request_hash;                    // fingerprint of the create request's body
  Timestamp created_at{};
  Timestamp updated_at{};
  // The transfer's ETag: 1 at creation, +1 on every change of its terms (PATCH) or status
  // (pause, resume, cancel, completion, a pause on an account-level return).
  int64_t version = 1;
};

struct Job {
  std::string id;
  std::string recurring_transfer_id;
  int64_t sequence = 0;
  Date scheduled_for{};
  Timestamp due_at{};
  JobStatus status = JobStatus::kPending;
  std::optional<JobResult> result;
  int retries = 0;
  std::optional<Timestamp> next_attempt_at;
  std::string provider;
  std::string idempotency_key;
  std::optional<std::string> provider_reference;
  // The bank's own status of the transfer at its last answer (e.g. "pending_submission",
  // "Sent", "COMPLETED"), as the bank spells it.
  std::optional<std::string> bank_status;
  std::optional<std::string> last_error;
  std::optional<std::string> lease_owner;
  std::optional<Timestamp> lease_expires_at;
  Timestamp created_at{};
  Timestamp updated_at{};
  std::optional<Timestamp> finished_at;
  // SPEC section 8, settlement: absent where the rail settled at once (or nothing was accepted).
  std::optional<SettlementStatus> settlement_status;
  std::optional<Timestamp> settled_at;
  std::optional<std::string> return_code;  // the Nacha code of the last return ("R01")
  // How many times a returned occurrence was presented again (0..2): attempt n > 0 goes to the
  // bank under the key "{idempotency_key}:r{n}" (bank_key()).
  int presentment = 0;
  // When the settlement follower looks the transfer up next (while settlement_status is
  // pending); internal, not in the API.
  std::optional<Timestamp> settlement_check_at;
  // The last attempt's outcome is unknown (a timeout or a connection lost after the request was
  // sent, or a lease rescued): the bank may have executed it. Set with RETRY; an attempt the
  // bank answers under the same key clears it. Internal, not in the API.
  bool outcome_unknown = false;
};

// The idempotency key of the job's current presentment at the bank.
std::string bank_key(const Job& job);

struct ProviderStatus {
  std::string id;
  std::string job_id;
  std::string recurring_transfer_id;
  std::string provider;
  int attempt = 0;                 // 1-based BaaS attempt this answer belongs to
  std::optional<int> http_status;  // absent when there was no HTTP answer (timeout, refused)
  std::optional<std::string> code;
  std::optional<std::string> message;
  std::optional<std::string> response_body;  // raw, at most 64 KiB
  Timestamp created_at{};
};

}  // namespace rtjobs
