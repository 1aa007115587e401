#include "maintenance/settlement_follower.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "jobs/bank_webhooks.hpp"

namespace rtjobs {
namespace {

// A transfer to look up at its bank: for an inbox event, or a pending job's next check.
struct Lookup {
  std::string provider;
  std::string reference;
  Rail rail = Rail::kAch;
  std::optional<Job> job;                // polling
  std::optional<BankEventRecord> event;  // a thin webhook event
  std::optional<Result<TransferState>> answer;
};

// What flow control learns from a look-up: the bank answered (a transfer, or "no such
// transfer"), or it did not.
TransferResult flow_answer(const Result<TransferState>& r) {
  TransferResult t;
  if (r || r.error().code == ErrorCode::kNotFound) {
    t.outcome = Outcome::kSucceeded;
    if (r) t.http_status = r->http_status;
  } else {
    t.outcome = Outcome::kUnavailable;
    t.code = "lookup_failed";
  }
  return t;
}

std::chrono::seconds backoff(int attempts) {
  int shift = std::clamp(attempts, 0, 12);
  return std::chrono::seconds(std::min<int64_t>(int64_t{1} << shift, 3600));
}

}  // namespace

struct SettlementFollower::Round {
  std::vector<SettlementUpdate> updates;
  std::vector<Lookup> lookups;
  bool full = false;
};

SettlementFollower::SettlementFollower(Store& store, const ProviderRegistry& providers,
                                       const FlowControl* flows, const Clock& clock,
                                       SettlementOptions options, SettlementMetrics* metrics)
    : store_(store),
      providers_(providers),
      flows_(flows),
      clock_(clock),
      options_(options),
      metrics_(metrics),
      worker_("settlement", options.interval, [this] {
        auto more = follow_once();
        if (!more) {
          log::error("following settlements failed", {{"error", more.error().message}});
          return false;
        }
        return *more;
      }) {}

std::chrono::milliseconds SettlementFollower::claim_lease() const {
  std::chrono::milliseconds longest{0};
  for (const std::string& name : providers_.names()) {
    if (const Provider* p = providers_.find(name)) longest = std::max(longest, p->timeout());
  }
  return 2 * longest + std::chrono::seconds(30);
}

Result<bool> SettlementFollower::follow_once() {
  const Timestamp now = clock_.now();
  Round round;
  if (auto r = claim_events(round, now); !r) return std::unexpected(r.error());
  if (auto r = claim_checks(round, now); !r) {
    // The look-ups already reserved (the inbox's, other providers') still go out and are applied.
    log::error("claiming settlement look-ups failed", {{"error", r.error().message}});
  }
  fetch_all(round, now);
  if (auto r = apply(round, clock_.now()); !r) return std::unexpected(r.error());
  purge(now);
  return round.full;
}

Result<void> SettlementFollower::claim_events(Round& round, Timestamp now) {
  auto events = store_.claim_bank_events(now, now + claim_lease(), options_.batch);
  if (!events) return std::unexpected(events.error());
  if (static_cast<int>(events->size()) == options_.batch) round.full = true;
  // Thin events need a call to their bank: as many as its flow control allows now.
  std::map<std::string, int> calls;
  for (const BankEventRecord& e : *events) {
    if (!e.payload && e.reference && providers_.find(e.provider)) ++calls[e.provider];
  }
  for (auto& [provider, n] : calls) {
    ProviderFlow* flow = flows_ ? flows_->find(provider) : nullptr;
    if (flow) n = flow->reserve(n, now);
  }
  auto finish = [&](const BankEventRecord& e, std::string_view outcome,
                    std::optional<std::string> error, std::optional<Timestamp> retry_at) {
    auto r = store_.finish_bank_event(e.id, now, outcome, std::move(error), retry_at);
    if (!r) log::error("recording a bank event failed", {{"error", r.error().message}});
  };
  for (BankEventRecord& e : *events) {
    if (e.payload) {
      // The event carries the transfer (Column): nothing to fetch.
      auto state = parse_transfer_state(*e.payload);
      if (!state) {
        finish(e, "unreadable", state.error().message, std::nullopt);
        continue;
      }
      std::string reference = state->reference;
      Rail rail = state->rail;
      round.lookups.push_back(
          Lookup{e.provider, std::move(reference), rail, std::nullopt, e, std::move(*state)});
    } else if (!e.reference) {
      finish(e, "not_a_transfer", std::nullopt, std::nullopt);
    } else if (!providers_.find(e.provider)) {
      finish(e, "unknown_provider", "no provider of that name is configured", std::nullopt);
    } else if (now - e.received_at > options_.give_up_fetching) {
      log::error("bank event given up: its transfer could not be fetched",
                 {{"provider", e.provider}, {"event_id", e.event_id}, {"reference", *e.reference}});
      finish(e, "gave_up", "its transfer could not be fetched", std::nullopt);
    } else if (calls[e.provider] > 0) {
      --calls[e.provider];
      round.lookups.push_back(
          Lookup{e.provider, *e.reference, e.rail.value_or(Rail::kAch), std::nullopt, e, {}});
    } else {
      finish(e, "deferred", "the provider's flow control allows no call now",
             now + std::chrono::seconds(1));
    }
  }
  for (const auto& [provider, unused] : calls) {
    ProviderFlow* flow = flows_ ? flows_->find(provider) : nullptr;
    if (flow) flow->release(unused);
  }
  return {};
}

Result<void> SettlementFollower::claim_checks(Round& round, Timestamp now) {
  for (const std::string& name : providers_.names()) {
    const Provider* provider = providers_.find(name);
    if (!provider || !provider->follows_settlement()) continue;
    ProviderFlow* flow = flows_ ? flows_->find(name) : nullptr;
    int allowed = flow ? flow->reserve(options_.batch, now) : options_.batch;
    if (allowed == 0) continue;
    auto jobs = store_.claim_settlement_checks(name, now, now + claim_lease(), allowed);
    if (!jobs) {
      if (flow) flow->release(allowed);
      return std::unexpected(jobs.error());
    }
    if (static_cast<int>(jobs->size()) == options_.batch) round.full = true;
    int used = 0;
    std::map<std::string, Rail> rails;
    for (Job& job : *jobs) {
      const bool expired = !job.finished_at || now - *job.finished_at > options_.follow_window;
      if (expired || !job.provider_reference) {
        SettlementUpdate u;
        u.provider = name;
        u.job_id = job.id;
        u.reference = job.provider_reference.value_or("");
        u.settlement = SettlementStatus::kUnknown;
        u.now = now;
        round.updates.push_back(std::move(u));
        continue;
      }
      auto rail = rails.find(job.recurring_transfer_id);
      if (rail == rails.end()) {
        auto transfer = store_.get_transfer(job.recurring_transfer_id);
        if (!transfer) {
          // The look-ups claimed so far still go out (follow_once goes on); the rest go back.
          if (flow) flow->release(allowed - used);
          return std::unexpected(transfer.error());
        }
        rail = rails.emplace(job.recurring_transfer_id, *transfer ? (*transfer)->rail : Rail::kAch)
                   .first;
      }
      std::string reference = *job.provider_reference;
      round.lookups.push_back(
          Lookup{name, std::move(reference), rail->second, std::move(job), std::nullopt, {}});
      ++used;
    }
    if (flow) flow->release(allowed - used);
  }
  return {};
}

void SettlementFollower::fetch_all(Round& round, Timestamp now) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done;
    size_t left = 0;  // guarded by mutex
  };
  auto shared = std::make_shared<Shared>();
  std::vector<size_t> calls;
  for (size_t i = 0; i < round.lookups.size(); ++i) {
    if (!round.lookups[i].answer) calls.push_back(i);
  }
  shared->left = calls.size();
  for (size_t i : calls) {
    Lookup& lookup = round.lookups[i];
    Provider* provider = providers_.find(lookup.provider);
    ProviderFlow* flow = flows_ ? flows_->find(lookup.provider) : nullptr;
    // The answer lands in `lookup` (round outlives the wait below); the provider calls back
    // exactly once, on its own thread.
    provider->fetch_transfer(lookup.reference, lookup.rail,
                             [this, shared, &lookup, flow, now](Result<TransferState> answer) {
                               if (flow) flow->answered(flow_answer(answer), now, clock_.now());
                               std::lock_guard lock(shared->mutex);
                               lookup.answer = std::move(answer);
                               if (--shared->left == 0) shared->done.notify_all();
                             });
  }
  std::unique_lock lock(shared->mutex);
  shared->done.wait(lock, [&] { return shared->left == 0; });
}

Result<void> SettlementFollower::apply(Round& round, Timestamp now) {
  auto base = [&](const std::string& provider) {
    SettlementUpdate u;
    u.provider = provider;
    u.now = now;
    u.represent_max = options_.represent_max;
    u.represent_after = options_.represent_after;
    u.pause_on_account_return = options_.pause_on_account_return;
    return u;
  };
  auto next_check = [&](const Job& job) {
    auto age =
        std::chrono::duration_cast<std::chrono::seconds>(now - job.finished_at.value_or(now));
    return now + std::clamp(age / 2, options_.poll, options_.poll_max);
  };
  for (SettlementUpdate& u : round.updates) {  // the unknowns of claim_checks
    SettlementUpdate full = base(u.provider);
    full.job_id = std::move(u.job_id);
    full.reference = std::move(u.reference);
    full.settlement = SettlementStatus::kUnknown;
    u = std::move(full);
  }
  for (Lookup& lookup : round.lookups) {
    SettlementUpdate u = base(lookup.provider);
    u.reference = lookup.reference;
    if (lookup.job) u.job_id = lookup.job->id;
    if (lookup.event) u.bank_event_id = lookup.event->id;
    const Result<TransferState>& answer = *lookup.answer;
    if (answer) {
      u.settlement = answer->settlement;
      u.bank_status = answer->bank_status;
      u.return_code = answer->return_code;
      u.code = answer->code;
      u.message = answer->message;
      u.settled_at = answer->settled_at;
      u.http_status = answer->http_status;
      u.response_body = answer->response_body;
      if (lookup.job) {
        if (u.settlement == SettlementStatus::kPending) u.next_check_at = next_check(*lookup.job);
      } else {
        u.reference = answer->reference.empty() ? lookup.reference : answer->reference;
      }
    } else if (lookup.event) {
      const BankEventRecord& e = *lookup.event;
      const bool missing = answer.error().code == ErrorCode::kNotFound;
      if (missing) {
        log::warn("bank webhook about a transfer its bank does not have",
                  {{"provider", e.provider}, {"reference", lookup.reference}});
      }
      auto r = store_.finish_bank_event(
          e.id, now, missing ? "transfer_not_found" : "fetch_failed", answer.error().message,
          missing ? std::nullopt : std::optional<Timestamp>(now + backoff(e.attempts)));
      if (!r) return std::unexpected(r.error());
      continue;
    } else {
      // The bank did not answer, or has no such transfer yet: still pending, asked again later
      // (the follow window ends it).
      u.settlement = SettlementStatus::kPending;
      u.next_check_at = next_check(*lookup.job);
    }
    round.updates.push_back(std::move(u));
  }
  if (round.updates.empty()) return {};
  auto results = store_.apply_settlements(round.updates);
  if (!results) return std::unexpected(results.error());
  for (size_t i = 0; i < results->size(); ++i) {
    const SettlementUpdate& u = round.updates[i];
    const SettlementResult& r = (*results)[i];
    std::string_view what = to_string(r.outcome);
    if (r.outcome == SettlementOutcome::kApplied) what = to_string(u.settlement);
    if (metrics_ && !(r.outcome == SettlementOutcome::kUnchanged && !u.bank_event_id)) {
      metrics_->settlement(u.provider, what);
    }
    switch (r.outcome) {
      case SettlementOutcome::kApplied:
      case SettlementOutcome::kRepresented:
      case SettlementOutcome::kTransferPaused: {
        const std::string job_id = r.job ? r.job->id : "";
        const std::string code = u.return_code.value_or("");
        (u.settlement == SettlementStatus::kSettled ? log::info : log::warn)(
            "transfer settlement changed", {{"provider", u.provider},
                                            {"job_id", job_id},
                                            {"reference", u.reference},
                                            {"settlement", to_string(u.settlement)},
                                            {"return_code", code},
                                            {"outcome", to_string(r.outcome)}});
        break;
      }
      case SettlementOutcome::kUnknownTransfer:
        log::info("bank webhook for a transfer rtjobs does not know; nothing changed",
                  {{"provider", u.provider}, {"reference", u.reference}});
        break;
      case SettlementOutcome::kUnchanged:
      case SettlementOutcome::kNotFollowed:
        break;
    }
  }
  return {};
}

void SettlementFollower::purge(Timestamp now) {
  if (last_purge_ && now - *last_purge_ < std::chrono::minutes(10)) return;
  last_purge_ = now;
  auto purged = store_.purge_bank_events(now - options_.keep_events, 10000);
  if (!purged) log::error("purging bank events failed", {{"error", purged.error().message}});
}

}  // namespace rtjobs
