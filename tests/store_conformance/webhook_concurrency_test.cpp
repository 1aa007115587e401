// Store conformance (conformance.hpp): events to the main API from two stores on one database at
// once, as two rtjobs instances run their dispatchers. Fan-outs racing each other fan each
// event out once; claims racing each other never take the same delivery; a transfer's events
// reach an endpoint in order across claimers: a later event is not claimed while an earlier one
// is pending, whichever store holds it; and a fan-out racing the finish of the delivery its new
// one waits behind never leaves that one waiting for good.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "raw_db.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_schema.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

const Timestamp kNow = kT0 + 1h;

WebhookEndpoint endpoint(const std::string& url) {
  WebhookEndpoint e;
  e.id = new_uuid_v7(kT0 - 1h);
  e.url = url;
  e.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  e.created_at = e.updated_at = kT0 - 1h;
  return e;
}

// Every delivery of the store, oldest first.
std::vector<WebhookDeliveryRecord> all_deliveries(Store& store) {
  std::vector<WebhookDeliveryRecord> out;
  DeliveryFilter filter;
  filter.limit = 500;
  for (;;) {
    auto page = store.list_webhook_deliveries(filter);
    EXPECT_TRUE(page) << page.error().message;
    if (!page) return out;
    out.insert(out.end(), page->data.begin(), page->data.end());
    if (!page->next_cursor) break;
    filter.cursor = page->next_cursor;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<Event> all_events(Store& store) {
  auto events = store.list_events(std::nullopt, 100000);
  EXPECT_TRUE(events) << events.error().message;
  return events ? *events : std::vector<Event>{};
}

// Until `done` or a session waits for the events' lock (migration 13); true when one was seen
// waiting.
bool waits_for_events_lock(RawDb& watcher, const std::atomic<bool>& done) {
  for (;;) {
    auto waiting = watcher.text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND (classid::bigint << 32 | objid::bigint) = $1",
        {store_detail::kEventsLockKey});
    EXPECT_TRUE(waiting) << waiting.error().message;
    if (!waiting || done.load()) return false;
    if (waiting->value_or("0") != "0") return true;
    std::this_thread::yield();
  }
}

DeliveryAttempt delivered(const DeliveryTask& task, const std::string& lease) {
  return DeliveryAttempt{task.delivery.id, lease, kNow, true, 200, std::nullopt, std::nullopt};
}

}  // namespace

// Two stores fan out and claim at once, round after round (a barrier lines them up before each
// step), until every delivery is delivered. Each event is fanned out once (one delivery per
// endpoint), no delivery is claimed twice, and each claim is the next event of its transfer for
// its endpoint: the earlier ones were delivered, by either store, before it was claimed. The
// first store's fan-outs lease what the claim would take at once (fan_out_and_lease), the
// second's do not (as a release before that does): a born-leased delivery counts as claimed.
TEST_P(StoreConformance, WebhooksTwoStoresFanOutAndClaimOnceInTransferOrder) {
  std::vector<WebhookEndpoint> endpoints{endpoint("https://a.example/hook"),
                                         endpoint("https://b.example/hook")};
  for (const WebhookEndpoint& e : endpoints) ASSERT_TRUE(store_->create_webhook_endpoint(e));
  // Ten transfers with five events each: created, then paused and resumed twice.
  constexpr int kTransfers = 10;
  for (int i = 0; i < kTransfers; ++i) {
    RecurringTransfer t = transfer();
    create(t, {kT0 + 24h});
    for (int k = 0; k < 4; ++k) {
      auto action = k % 2 == 0 ? TransferAction::kPause : TransferAction::kResume;
      ASSERT_TRUE(store_->change_transfer_status(t.id, action, kT0 + std::chrono::seconds(k + 1)));
    }
  }
  const std::vector<Event> events = all_events(*store_);
  ASSERT_EQ(events.size(), static_cast<size_t>(kTransfers * 5));
  // Each transfer's events in id order: the order they must be delivered in.
  std::map<std::string, std::vector<std::string>> per_transfer;
  for (const Event& e : events) per_transfer[*e.transfer_id].push_back(e.id);
  const int expected = static_cast<int>(events.size() * endpoints.size());

  std::vector<std::unique_ptr<Store>> stores;
  stores.push_back(open());
  stores.push_back(open());
  std::mutex mutex;
  std::set<std::string> claimed;                               // guarded by mutex
  std::map<std::pair<std::string, std::string>, size_t> next;  // (endpoint, transfer) -> index
  std::vector<std::string> violations;                         // guarded by mutex
  std::atomic<int> fanned{0};
  std::atomic<int> finished{0};
  std::atomic<bool> done{false};
  int rounds = 0;
  std::barrier step(2, [&]() noexcept { done = finished.load() >= expected || ++rounds > 400; });

  auto dispatcher = [&](int which) {
    Store& store = *stores[which];
    for (int round = 0; !done; ++round) {
      const std::string lease = "store-" + std::to_string(which) + "-" + std::to_string(round);
      step.arrive_and_wait();  // fan out together
      auto n =
          store.fan_out_and_lease(kNow, 7, FanOutLease{lease, kNow + 10min, which == 0 ? 3 : 0});
      EXPECT_TRUE(n) << n.error().message;
      std::vector<DeliveryTask> tasks;
      if (n) {
        fanned += n->events;
        tasks = std::move(n->leased);
      }
      step.arrive_and_wait();  // claim together
      auto claimed_now = store.claim_webhook_deliveries(kNow, lease, kNow + 10min, 6);
      EXPECT_TRUE(claimed_now) << claimed_now.error().message;
      if (claimed_now) tasks.insert(tasks.end(), claimed_now->begin(), claimed_now->end());
      std::vector<DeliveryAttempt> attempts;
      {
        // Recorded before the delivery is finished: the other store cannot claim the next event
        // of the transfer until the finish below commits.
        std::lock_guard lock(mutex);
        for (const DeliveryTask& task : tasks) {
          if (!claimed.insert(task.delivery.id).second) {
            violations.push_back("claimed twice: " + task.delivery.id);
          }
          size_t& index = next[{task.delivery.endpoint_id, *task.delivery.transfer_id}];
          const auto& order = per_transfer[*task.delivery.transfer_id];
          if (index >= order.size() || order[index] != task.event.id) {
            violations.push_back("out of order: event " + task.event.id + " to " +
                                 task.delivery.endpoint_id);
          }
          ++index;
          attempts.push_back(delivered(task, lease));
        }
      }
      auto outcomes = store.finish_webhook_deliveries(attempts, std::chrono::hours(24));
      EXPECT_TRUE(outcomes) << outcomes.error().message;
      if (!outcomes) continue;
      for (const DeliveryOutcome& o : *outcomes) {
        EXPECT_TRUE(o.written);
        ++finished;
      }
    }
  };
  std::thread first(dispatcher, 0);
  std::thread second(dispatcher, 1);
  first.join();
  second.join();

  EXPECT_TRUE(violations.empty()) << violations.front();
  EXPECT_EQ(fanned.load(), static_cast<int>(events.size()));
  EXPECT_EQ(finished.load(), expected);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(expected));
  std::map<std::pair<std::string, std::string>, int> per_pair;
  for (const WebhookDeliveryRecord& d : all_deliveries(*store_)) {
    ++per_pair[{d.event_id, d.endpoint_id}];
    EXPECT_EQ(d.status, DeliveryStatus::kDelivered) << d.id;
    EXPECT_EQ(d.attempts, 1) << d.id;
  }
  EXPECT_EQ(per_pair.size(), static_cast<size_t>(expected));
  for (const auto& [pair, count] : per_pair) EXPECT_EQ(count, 1) << pair.first;
  auto backlog = store_->event_backlog(1000);
  ASSERT_TRUE(backlog) << backlog.error().message;
  EXPECT_EQ(backlog->pending, 0);
  EXPECT_FALSE(backlog->oldest);
}

// The order across claimers, step by step: while one store holds a transfer's first event (and
// after it failed an attempt, pending again), the other store claims none of the transfer's
// later events to that endpoint, though they are due; it claims the next one once the first is
// delivered.
TEST_P(StoreConformance, WebhooksLaterEventWaitsForEarlierOneHeldByTheOtherStore) {
  WebhookEndpoint e = endpoint("https://a.example/hook");
  ASSERT_TRUE(store_->create_webhook_endpoint(e));
  RecurringTransfer t = transfer();
  create(t, {kT0 + 24h});
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 2s));
  const std::vector<Event> events = all_events(*store_);
  ASSERT_EQ(events.size(), 3u);

  auto a = open();
  auto b = open();
  ASSERT_EQ(a->fan_out_events(kNow, 100).value_or(-1), 3);
  EXPECT_EQ(b->fan_out_events(kNow, 100).value_or(-1), 0);  // nothing left to fan out

  auto held = a->claim_webhook_deliveries(kNow, "lease-a", kNow + 10min, 1);
  ASSERT_TRUE(held);
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ(held->front().event.id, events[0].id);
  EXPECT_EQ(held->front().event.type, "transfer.created");
  EXPECT_EQ(held->front().url, e.url);
  EXPECT_EQ(held->front().secrets, std::vector<std::string>{e.secret});

  auto other = b->claim_webhook_deliveries(kNow, "lease-b", kNow + 10min, 10);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty());

  // A failed attempt: pending again, due at once; still the transfer's first.
  DeliveryAttempt failed{
      held->front().delivery.id, "lease-a", kNow, false, 503, "unavailable", kNow};
  auto outcome = a->finish_webhook_deliveries(std::vector<DeliveryAttempt>{failed}, 24h);
  ASSERT_TRUE(outcome);
  EXPECT_TRUE(outcome->front().written);
  other = b->claim_webhook_deliveries(kNow, "lease-b", kNow + 10min, 10);
  ASSERT_TRUE(other);
  ASSERT_EQ(other->size(), 1u);  // the first event again, now b's; never the second
  EXPECT_EQ(other->front().event.id, events[0].id);
  EXPECT_EQ(other->front().delivery.attempts, 2);
  // a's lease is gone: its late outcome writes nothing.
  auto late = a->finish_webhook_deliveries(
      std::vector<DeliveryAttempt>{delivered(held->front(), "lease-a")}, 24h);
  ASSERT_TRUE(late);
  EXPECT_FALSE(late->front().written);
  EXPECT_TRUE(a->claim_webhook_deliveries(kNow, "lease-a2", kNow + 10min, 10)->empty());

  ASSERT_TRUE(b->finish_webhook_deliveries(
      std::vector<DeliveryAttempt>{delivered(other->front(), "lease-b")}, 24h));
  auto next = a->claim_webhook_deliveries(kNow, "lease-a3", kNow + 10min, 10);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ(next->front().event.id, events[1].id);
  EXPECT_EQ(next->front().event.type, "transfer.paused");
}

// One store fans out each transfer's next event while the other finishes the deliveries of the
// earlier ones at the same moment (a barrier lines them up), round after round: whichever
// commits first, the new delivery that waits behind a finished one is released (or never
// waits). Afterwards everything is delivered, in order, once; no delivery is left waiting.
TEST_P(StoreConformance, WebhooksAFinishRacingAFanOutNeverLeavesADeliveryWaiting) {
  std::vector<WebhookEndpoint> endpoints{endpoint("https://a.example/hook"),
                                         endpoint("https://b.example/hook")};
  for (const WebhookEndpoint& e : endpoints) ASSERT_TRUE(store_->create_webhook_endpoint(e));
  constexpr int kTransfers = 8;
  constexpr int kRounds = 30;
  std::vector<std::string> transfer_ids;
  for (int i = 0; i < kTransfers; ++i) {
    RecurringTransfer t = transfer();
    create(t, {kT0 + 24h});
    transfer_ids.push_back(t.id);
  }
  auto fanner = open();
  auto finisher = open();
  ASSERT_EQ(fanner->fan_out_events(kNow, 100).value_or(-1), kTransfers);

  std::map<std::pair<std::string, std::string>, std::string> last;  // (endpoint, transfer)
  std::vector<std::string> violations;
  // Checks that each claim is the next event of its transfer for its endpoint (event ids grow).
  auto check_order = [&](const std::vector<DeliveryTask>& tasks) {
    for (const DeliveryTask& task : tasks) {
      std::string& before = last[{task.delivery.endpoint_id, *task.delivery.transfer_id}];
      if (task.event.id <= before) violations.push_back("out of order: " + task.event.id);
      before = task.event.id;
    }
  };
  auto finish_all = [&](Store& store, const std::vector<DeliveryTask>& tasks,
                        const std::string& lease) {
    std::vector<DeliveryAttempt> attempts;
    attempts.reserve(tasks.size());
    for (const DeliveryTask& task : tasks) attempts.push_back(delivered(task, lease));
    auto outcomes = store.finish_webhook_deliveries(attempts, std::chrono::hours(24));
    EXPECT_TRUE(outcomes) << outcomes.error().message;
  };

  std::barrier step(2);
  std::thread fanning([&]() {
    for (int round = 0; round < kRounds; ++round) {
      for (const std::string& id : transfer_ids) {  // one more event of each transfer
        auto action = round % 2 == 0 ? TransferAction::kPause : TransferAction::kResume;
        EXPECT_TRUE(fanner->change_transfer_status(id, action, kT0 + std::chrono::seconds(round)));
      }
      step.arrive_and_wait();  // fan out while the other store finishes
      auto n = fanner->fan_out_events(kNow, 100);
      EXPECT_TRUE(n) << n.error().message;
      step.arrive_and_wait();
    }
  });
  for (int round = 0; round < kRounds; ++round) {
    const std::string lease = "finisher-" + std::to_string(round);
    auto tasks = finisher->claim_webhook_deliveries(kNow, lease, kNow + 10min, 100);
    EXPECT_TRUE(tasks) << tasks.error().message;
    if (tasks) check_order(*tasks);
    step.arrive_and_wait();  // finish while the other store fans out
    if (tasks) finish_all(*finisher, *tasks, lease);
    step.arrive_and_wait();
  }
  fanning.join();

  // Whatever is left comes due in turn: a delivery left waiting would never be claimed.
  for (int round = 0; round < kRounds * 2 + 2; ++round) {
    ASSERT_TRUE(finisher->fan_out_events(kNow, 1000));
    const std::string lease = "drain-" + std::to_string(round);
    auto tasks = finisher->claim_webhook_deliveries(kNow, lease, kNow + 10min, 1000);
    ASSERT_TRUE(tasks) << tasks.error().message;
    if (tasks->empty()) break;
    check_order(*tasks);
    finish_all(*finisher, *tasks, lease);
  }
  EXPECT_TRUE(violations.empty()) << violations.front();
  const size_t events = all_events(*store_).size();
  EXPECT_EQ(events, static_cast<size_t>(kTransfers * (kRounds + 1)));
  std::vector<WebhookDeliveryRecord> all = all_deliveries(*store_);
  EXPECT_EQ(all.size(), events * endpoints.size());
  for (const WebhookDeliveryRecord& d : all) {
    EXPECT_EQ(d.status, DeliveryStatus::kDelivered)
        << d.id << " due " << format_timestamp(d.next_attempt_at);
  }
  auto backlog = store_->event_backlog(1000);
  ASSERT_TRUE(backlog) << backlog.error().message;
  EXPECT_EQ(backlog->pending, 0);
}

namespace {

// An event of `transfer_id` (not stored) at `at`.
Event event_at(const std::string& transfer_id, Timestamp at) {
  return Event{new_uuid_v7(at), "transfer.paused", transfer_id, std::nullopt, at, "{}"};
}

std::vector<WebhookDeliveryRecord> deliveries_of(Store& store, const std::string& event_id) {
  std::vector<WebhookDeliveryRecord> out;
  for (WebhookDeliveryRecord& d : all_deliveries(store)) {
    if (d.event_id == event_id) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

// PostgreSQL, an endpoint created while a writer has inserted its event (having seen no
// endpoint enabled) but not committed: the creation waits for the writer's commit, so the
// event committed before the endpoint and is not promised to it. Were the creation to return
// first, the event would commit after it with nobody marked to receive it. (SQLite's one
// writer orders the two whole.)
TEST_P(StoreConformance, WebhooksAnEndpointCreatedWhileAWriterLooksWaitsForItsCommit) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer: no interleaving";
  RecurringTransfer t = transfer();
  create(t, {kT0 + 24h});  // born fanned out: no endpoint
  RawDb writer(url_);
  RawDb watcher(url_);
  Event e = event_at(t.id, kT0 + 1s);
  ASSERT_TRUE(writer.script("BEGIN"));
  ASSERT_TRUE(writer.run(store_detail::kInsertEventsSql, store_detail::event_arrays({e})));

  std::atomic<bool> done{false};
  WebhookEndpoint created = endpoint("https://a.example/hook");
  std::thread creator([&] {
    EXPECT_TRUE(store_->create_webhook_endpoint(created));
    done = true;
  });
  bool waited = waits_for_events_lock(watcher, done);
  bool returned_first = done.load();
  ASSERT_TRUE(writer.script("COMMIT"));
  creator.join();

  EXPECT_TRUE(waited);
  ASSERT_EQ(store_->fan_out_events(kNow, 100).value_or(-1), 0);
  if (returned_first) {
    EXPECT_EQ(deliveries_of(*store_, e.id).size(), 1u)
        << "the event committed after the endpoint's creation returned, without a delivery";
  }
  // The next change's event goes to it.
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 2s));
  EXPECT_EQ(store_->fan_out_events(kNow, 100).value_or(-1), 1);
  EXPECT_EQ(all_deliveries(*store_).size(), returned_first ? 2u : 1u);
}

// PostgreSQL, a change made while an endpoint's enabling has not committed: the change's event
// waits for it, then sees the endpoint enabled, and is delivered to it.
TEST_P(StoreConformance, WebhooksAChangeWhileAnEndpointIsBeingEnabledWaitsAndReachesIt) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer: no interleaving";
  WebhookEndpoint off = endpoint("https://a.example/hook");
  off.status = EndpointStatus::kDisabled;
  ASSERT_TRUE(store_->create_webhook_endpoint(off));
  RecurringTransfer t = transfer();
  create(t, {kT0 + 24h});  // born fanned out: the endpoint is disabled
  RawDb enabler(url_);
  RawDb watcher(url_);
  ASSERT_TRUE(enabler.script("BEGIN"));
  ASSERT_TRUE(
      enabler.run("UPDATE webhook_endpoint SET status = 'enabled' WHERE id = $1::uuid", {off.id}));

  std::atomic<bool> done{false};
  std::thread changer([&] {
    EXPECT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
    done = true;
  });
  bool waited = waits_for_events_lock(watcher, done);
  ASSERT_TRUE(enabler.script("COMMIT"));
  changer.join();

  EXPECT_TRUE(waited);
  std::vector<Event> events = all_events(*store_);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].type, "transfer.paused");
  ASSERT_EQ(store_->fan_out_events(kNow, 100).value_or(-1), 1);
  std::vector<WebhookDeliveryRecord> got = deliveries_of(*store_, events[1].id);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].endpoint_id, off.id);
}

}  // namespace rtjobs::store_conformance
