#include "maintenance/job_producer.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

JobProducer::JobProducer(Store& store, JobProcessor& processor, const FlowControl& flows,
                         InFlightLimit& calls, InFlightLimit& unwritten, const Clock& clock,
                         JobProducerOptions options)
    : store_(store),
      processor_(processor),
      flows_(flows),
      calls_(calls),
      unwritten_(unwritten),
      clock_(clock),
      options_(std::move(options)),
      worker_(options_.name, options_.interval, [this] { return tick(); }) {}

bool JobProducer::tick() {
  const std::vector<ProviderFlow*>& providers = flows_.all();
  if (providers.empty()) return false;
  // A call slot is free once the bank answered; the write slot once the outcome is committed.
  // Both are taken here and given back by each job (or below, for what was not claimed).
  int slots = unwritten_.take(options_.batch);
  int room = calls_.take(slots);
  unwritten_.give_back(slots - room);
  if (room == 0) return false;  // woken again when a call or a write is done
  const Timestamp now = clock_.now();
  bool more = false;
  bool limited = false;  // a provider could make no call now: wake when it can
  int left = room;
  for (size_t i = 0; i < providers.size() && left > 0; ++i) {
    ProviderFlow& flow = *providers[(next_provider_ + i) % providers.size()];
    int allowed = flow.reserve(left, now);
    if (allowed == 0) {
      limited = true;
      continue;
    }
    int claimed = claim_and_call(flow, allowed, now);
    if (claimed < 0) break;
    if (claimed == allowed) more = true;  // a full claim: more may be due
    left -= claimed;
  }
  next_provider_ = (next_provider_ + 1) % providers.size();
  calls_.give_back(left);
  unwritten_.give_back(left);
  if (!more && limited) {
    if (auto at = flows_.ready_at(now)) {
      worker_.wake_after(std::chrono::duration_cast<std::chrono::milliseconds>(*at - now));
    }
  }
  return more;
}

int JobProducer::claim_and_call(ProviderFlow& flow, int wanted, Timestamp now) {
  DueClaimRequest request{new_uuid_v7(now),
                          now,
                          now + processor_.lease(),
                          wanted,
                          options_.pending,
                          options_.retries,
                          processor_.max_retries(),
                          flow.name()};
  auto claims = store_.claim_due_jobs(request);
  if (!claims) {
    flow.release(wanted);
    log::error("claiming due jobs failed", {{"worker", options_.name},
                                            {"provider", flow.name()},
                                            {"error", claims.error().message}});
    return -1;
  }
  int calls = 0;
  for (ClaimResult& claim : *claims) {
    if (claim.status != ClaimStatus::kClaimed) continue;  // skipped (transfer paused): done
    ++calls;
    processor_.run_claimed(
        std::move(*claim.job), std::move(*claim.transfer), request.lease_owner,
        [this](const ProcessResult&) {
          unwritten_.give_back();
          worker_.wake();
        },
        [this] {
          calls_.give_back();
          worker_.wake();
        });
  }
  // Skipped and cancelled jobs took a place in the claim but make no call.
  flow.release(wanted - calls);
  int not_called = static_cast<int>(claims->size()) - calls;
  calls_.give_back(not_called);
  unwritten_.give_back(not_called);
  return static_cast<int>(claims->size());
}

}  // namespace rtjobs
