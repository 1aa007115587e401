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
      backlog_loop_(options_.backlog ? options_.backlog->add_loop() : 0),
      worker_(options_.name, options_.interval, [this] { return tick(); }) {}

bool JobProducer::tick() {
  const std::vector<ProviderFlow*>& providers = flows_.all();
  if (providers.empty()) return false;
  // A write slot is free once a job's outcome is committed, a call slot once the bank answered.
  // Both are taken here and given back by each job (or below, for what was not claimed). A
  // provider that answers inside its call (the sandbox) needs no call slot: its calls are over
  // before the claim loop goes on.
  int writes = unwritten_.take(options_.batch);
  if (writes == 0) {
    if (options_.backlog) options_.backlog->set(backlog_loop_, true);
    return false;  // woken again when a write is done
  }
  int calls = calls_.take(writes);
  const Timestamp now = clock_.now();
  bool more = false;
  bool limited = false;  // a provider could make no call now: wake when it can
  for (size_t i = 0; i < providers.size() && writes > 0; ++i) {
    ProviderFlow& flow = *providers[(next_provider_ + i) % providers.size()];
    const bool inline_calls = processor_.answers_inline(flow.name());
    int wanted = inline_calls ? writes : calls;
    if (wanted == 0) continue;
    int allowed = flow.reserve(wanted, now);
    if (allowed == 0) {
      limited = true;
      continue;
    }
    int claimed = claim_and_call(flow, allowed, inline_calls, now);
    if (claimed < 0) break;
    if (claimed == allowed) more = true;  // a full claim: more may be due
    writes -= claimed;
    if (!inline_calls) calls -= claimed;
  }
  next_provider_ = (next_provider_ + 1) % providers.size();
  // Busy when the tick claimed all it had room to write: bound by the database, not by a bank's
  // limits or latency (those leave write room, and such a tick's `more` lasts one tick).
  if (options_.backlog) options_.backlog->set(backlog_loop_, writes == 0);
  calls_.give_back(calls);
  unwritten_.give_back(writes);
  if (!more && limited) {
    if (auto at = flows_.ready_at(now)) {
      worker_.wake_after(std::chrono::duration_cast<std::chrono::milliseconds>(*at - now));
    }
  }
  return more;
}

int JobProducer::claim_and_call(ProviderFlow& flow, int wanted, bool inline_calls, Timestamp now) {
  DueClaimRequest request{new_uuid_v7(now),         now,
                          now + processor_.lease(), wanted,
                          options_.pending,         options_.retries,
                          processor_.max_retries(), flow.name()};
  auto claims = store_.claim_due_jobs(request);
  if (!claims) {
    flow.release(wanted);
    log::error(
        "claiming due jobs failed",
        {{"worker", options_.name}, {"provider", flow.name()}, {"error", claims.error().message}});
    return -1;
  }
  int called = 0;
  for (ClaimResult& claim : *claims) {
    if (claim.status != ClaimStatus::kClaimed) continue;  // skipped (transfer paused): done
    ++called;
    processor_.run_claimed(
        std::move(*claim.job), std::move(*claim.transfer), request.lease_owner,
        [this](const ProcessResult&) {
          unwritten_.give_back();
          worker_.wake();
        },
        [this, inline_calls] {
          if (inline_calls) return;
          calls_.give_back();
          worker_.wake();
        });
  }
  // Skipped and cancelled jobs took a place in the claim but make no call.
  flow.release(wanted - called);
  int not_called = static_cast<int>(claims->size()) - called;
  if (!inline_calls) calls_.give_back(not_called);
  unwritten_.give_back(not_called);
  return static_cast<int>(claims->size());
}

}  // namespace rtjobs
