#include "maintenance/job_producer.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

JobProducer::JobProducer(Store& store, JobProcessor& processor, CallGate& calls,
                         InFlightLimit& unwritten, const Clock& clock, JobProducerOptions options)
    : store_(store),
      processor_(processor),
      calls_(calls),
      unwritten_(unwritten),
      clock_(clock),
      options_(std::move(options)),
      worker_(options_.name, options_.interval, [this] { return tick(); }) {}

bool JobProducer::tick() {
  int slots = unwritten_.take(std::min(options_.batch, calls_.room()));
  if (slots == 0) return false;  // woken again when a call or a write is done
  // The jobs that get a call slot now start at once; the rest wait in the gate, at most
  // calls_.rounds() call durations, which their lease then covers on top of the call's own.
  int started = calls_.take(slots);
  int rounds = started < slots ? calls_.rounds() : 0;
  Timestamp now = clock_.now();
  DueClaimRequest request{new_uuid_v7(now),
                          now,
                          now + processor_.lease() * (1 + rounds),
                          slots,
                          options_.pending,
                          options_.retries,
                          processor_.max_retries()};
  auto claims = store_.claim_due_jobs(request);
  if (!claims) {
    for (int i = 0; i < started; ++i) calls_.leave();
    unwritten_.give_back(slots);
    log::error("claiming due jobs failed",
               {{"worker", options_.name}, {"error", claims.error().message}});
    return false;
  }
  int used = 0;
  for (ClaimResult& claim : *claims) {
    if (claim.status != ClaimStatus::kClaimed) continue;  // skipped (transfer paused): done
    // A call slot is free once the bank answered; the write slot once the outcome is
    // committed. Claiming the next jobs thus overlaps the group commit of these; the lease
    // guards each job until its outcome is written.
    auto call = [this, job = std::move(*claim.job), transfer = std::move(*claim.transfer),
                 owner = request.lease_owner]() mutable {
      processor_.run_claimed(
          std::move(job), std::move(transfer), std::move(owner),
          [this](const ProcessResult&) {
            unwritten_.give_back();
            worker_.wake();
          },
          [this] {
            calls_.leave();
            worker_.wake();
          });
    };
    if (used++ < started) {
      call();
    } else {
      calls_.wait(std::move(call));
    }
  }
  for (int i = used; i < started; ++i) calls_.leave();
  unwritten_.give_back(slots - used);
  return static_cast<int>(claims->size()) == slots;  // a full batch: more may be due
}

}  // namespace rtjobs
