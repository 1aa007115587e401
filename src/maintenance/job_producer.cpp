#include "maintenance/job_producer.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

JobProducer::JobProducer(Store& store, JobProcessor& processor, InFlightLimit& limit,
                         const Clock& clock, JobProducerOptions options)
    : store_(store),
      processor_(processor),
      limit_(limit),
      clock_(clock),
      options_(std::move(options)),
      worker_(options_.name, options_.interval, [this] { return tick(); }) {}

bool JobProducer::tick() {
  int slots = limit_.take(options_.batch);
  if (slots == 0) return false;  // woken again when a job in flight is done
  Timestamp now = clock_.now();
  DueClaimRequest request{new_uuid_v7(now),         now,
                          now + processor_.lease(), slots,
                          options_.pending,         options_.retries,
                          processor_.max_retries()};
  auto claims = store_.claim_due_jobs(request);
  if (!claims) {
    limit_.give_back(slots);
    log::error("claiming due jobs failed",
               {{"worker", options_.name}, {"error", claims.error().message}});
    return false;
  }
  int used = 0;
  for (ClaimResult& claim : *claims) {
    if (claim.status != ClaimStatus::kClaimed) continue;  // skipped (transfer paused): done
    ++used;
    processor_.run_claimed(std::move(*claim.job), std::move(*claim.transfer), request.lease_owner,
                           [this](ProcessResult) {
                             limit_.give_back();
                             worker_.wake();
                           });
  }
  limit_.give_back(slots - used);
  return static_cast<int>(claims->size()) == slots;  // a full batch: more may be due
}

}  // namespace rtjobs
