#include "jobs/occurrences.hpp"

#include "core/uuid.hpp"
#include "store/store.hpp"

namespace rtjobs {

Timestamp add_months(Timestamp t, int months) {
  using namespace std::chrono;
  Date day = floor<days>(t);
  year_month_day ymd{day};
  year_month ym = ymd.year() / ymd.month() + std::chrono::months{months};
  auto last_day = (ym.year() / ym.month() / last).day();
  year_month_day target{ym.year(), ym.month(), std::min(ymd.day(), last_day)};
  return Timestamp{sys_days{target}} + (t - day);
}

std::string job_idempotency_key(const std::string& transfer_id, int64_t sequence) {
  return transfer_id + ":" + std::to_string(sequence);
}

Result<NextOccurrences> next_occurrences(const RecurringTransfer& transfer,
                                         const CalendarSet& calendars, Timestamp now,
                                         int horizon_months) {
  auto recurrence = Recurrence::make(transfer.schedule, calendars);
  if (!recurrence) return std::unexpected(recurrence.error());
  NextOccurrences next;
  for (const Occurrence& o :
       recurrence->between(transfer.last_sequence, add_months(now, horizon_months))) {
    Job job;
    job.id = new_uuid_v7(now);
    job.recurring_transfer_id = transfer.id;
    job.sequence = o.sequence;
    job.scheduled_for = o.scheduled_for;
    job.due_at = o.due_at;
    job.status = JobStatus::kPending;
    job.provider = transfer.provider;
    job.idempotency_key = job_idempotency_key(transfer.id, o.sequence);
    job.created_at = now;
    job.updated_at = now;
    next.jobs.push_back(std::move(job));
  }
  int64_t last = next.jobs.empty() ? transfer.last_sequence : next.jobs.back().sequence;
  auto following = recurrence->at(last + 1);
  next.exhausted = !following.has_value();
  if (following) next.next_due_at = following->due_at;
  return next;
}

Result<OccurrencePlan> replan_occurrences(const RecurringTransfer& transfer,
                                          const CalendarSet& calendars, Timestamp now,
                                          int horizon_months) {
  auto recurrence = Recurrence::make(transfer.schedule, calendars);
  if (!recurrence) return std::unexpected(recurrence.error());
  // Occurrence n exists for every n up to the end and none after: search 0..last_sequence.
  int64_t kept = 0;
  int64_t past = transfer.last_sequence + 1;  // exists: false (or beyond what was created)
  while (past - kept > 1) {
    int64_t mid = kept + (past - kept) / 2;
    (recurrence->at(mid) ? kept : past) = mid;
  }
  RecurringTransfer kept_only = transfer;
  kept_only.last_sequence = kept;
  auto next = next_occurrences(kept_only, calendars, now, horizon_months);
  if (!next) return std::unexpected(next.error());
  return OccurrencePlan{kept, std::move(next->jobs), next->next_due_at, next->exhausted};
}

Result<std::vector<Occurrence>> upcoming_occurrences(const RecurringTransfer& transfer,
                                                     const CalendarSet& calendars, Timestamp now,
                                                     int count) {
  std::vector<Occurrence> out;
  if (transfer.status == TransferStatus::kCancelled ||
      transfer.status == TransferStatus::kCompleted || count <= 0) {
    return out;
  }
  auto recurrence = Recurrence::make(transfer.schedule, calendars);
  if (!recurrence) return std::unexpected(recurrence.error());
  // after(n): occurrence n is past the schedule's end or due after now. False up to some n,
  // true from there on; `low` is always false (0 stands for "before the first"), `high` true.
  auto after = [&](int64_t n) {
    auto o = recurrence->at(n);
    return !o || o->due_at > now;
  };
  int64_t low = 0;
  int64_t high = 1;
  while (!after(high)) {
    low = high;
    high *= 2;
  }
  while (high - low > 1) {
    int64_t mid = low + (high - low) / 2;
    (after(mid) ? high : low) = mid;
  }
  for (int64_t n = high; static_cast<int>(out.size()) < count; ++n) {
    auto o = recurrence->at(n);
    if (!o) break;
    out.push_back(*o);
  }
  return out;
}

}  // namespace rtjobs
