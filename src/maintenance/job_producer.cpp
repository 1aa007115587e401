#include "maintenance/job_producer.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

JobProducer::JobProducer(Store& store, JobProcessor& processor, InFlightLimit& calls,
                         InFlightLimit& unwritten, const Clock& clock, JobProducerOptions options)
    : store_(store),
      processor_(processor),
      calls_(calls),
      unwritten_(unwritten),
      clock_(clock),
      options_(std::move(options)),
      worker_(options_.name, options_.interval, [this] { return tick(); }) {}

bool JobProducer::tick() {
  int slots = calls_.take(options_.batch);
  int writable = unwritten_.take(slots);
  calls_.give_back(slots - writable);
  slots = writable;
  if (slots == 0) return false;  // woken again when a call or a write is done
  Timestamp now = clock_.now();
  DueClaimRequest request{new_uuid_v7(now),         now,
                          now + processor_.lease(), slots,
                          options_.pending,         options_.retries,
                          processor_.max_retries()};
  auto claims = store_.claim_due_jobs(request);
  if (!claims) {
    calls_.give_back(slots);
    unwritten_.give_back(slots);
    log::error("claiming due jobs failed",
               {{"worker", options_.name}, {"error", claims.error().message}});
    return false;
  }
  int used = 0;
  for (ClaimResult& claim : *claims) {
    if (claim.status != ClaimStatus::kClaimed) continue;  // skipped (transfer paused): done
    ++used;
    // A call slot is free once the bank answered; the write slot once the outcome is
    // committed. Claiming the next jobs thus overlaps the group commit of these; the lease
    // guards each job until its outcome is written.
    processor_.run_claimed(
        std::move(*claim.job), std::move(*claim.transfer), request.lease_owner,
        [this](ProcessResult) {
          unwritten_.give_back();
          worker_.wake();
        },
        [this] {
          calls_.give_back();
          worker_.wake();
        });
  }
  calls_.give_back(slots - used);
  unwritten_.give_back(slots - used);
  return static_cast<int>(claims->size()) == slots;  // a full batch: more may be due
}

}  // namespace rtjobs
