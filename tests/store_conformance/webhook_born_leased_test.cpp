// Store conformance (conformance.hpp): fan-outs that lease their new deliveries to the caller
// (Store::fan_out_and_lease), so the deliveries a claim would take at once skip the claim. Only
// those: not one behind a pending earlier delivery of its transfer to its endpoint, nor one
// whose transfer has an earlier event another fan-out holds; never more than the lease's
// limit. A born-leased delivery is claimed in every way: its lease writes its outcome, other
// claims pass it over, and it comes back through them when the lease runs out.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "outbox_support.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

WebhookEndpoint add_endpoint(Store& store) {
  WebhookEndpoint e;
  e.id = new_uuid_v7(kT0 - 1h);
  e.url = "https://hooks.example.com/rtjobs/" + e.id.substr(0, 8);
  e.secret = "whsec_" + e.id.substr(24);
  e.created_at = e.updated_at = kT0 - 1h;
  auto r = store.create_webhook_endpoint(e);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return e;
}

FanOut fan_out(Store& store, Timestamp now, const std::string& lease, int limit) {
  auto r = store.fan_out_and_lease(now, 100, FanOutLease{lease, now + 30s, limit});
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? std::move(*r) : FanOut{};
}

std::vector<DeliveryTask> claim_due(Store& store, Timestamp now, const std::string& lease) {
  auto r = store.claim_webhook_deliveries(now, lease, now + 30s, 100);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<DeliveryTask>{};
}

bool delivered(Store& store, const DeliveryTask& task, const std::string& lease, Timestamp now) {
  DeliveryAttempt a{task.delivery.id, lease, now, true, 200, std::nullopt, std::nullopt};
  auto r = store.finish_webhook_deliveries(std::span<const DeliveryAttempt>(&a, 1), 72h);
  EXPECT_TRUE(r && r->size() == 1) << (r ? "" : r.error().message);
  return r && r->size() == 1 && r->front().written;
}

std::vector<std::string> event_ids(const std::vector<DeliveryTask>& tasks) {
  std::vector<std::string> out;
  out.reserve(tasks.size());
  for (const DeliveryTask& t : tasks) out.push_back(t.event.id);
  return out;
}

}  // namespace

TEST_P(StoreConformance, AFanOutLeasesTheDeliveriesAClaimWouldTakeAtOnce) {
  WebhookEndpoint a = add_endpoint(*store_);
  ASSERT_TRUE(store_->rotate_webhook_secret(a.id, "whsec_new", kT0 + 1h, kT0));
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  RecurringTransfer u = transfer();
  create(u, {kT0});
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 3u);  // t created, t paused, u created
  const Timestamp now = kT0 + 2s;

  // t's pause waits behind t's creation (same batch); the other two are leased, as claimed.
  FanOut out = fan_out(*store_, now, "fan-1", 10);
  EXPECT_EQ(out.events, 3);
  ASSERT_EQ(event_ids(out.leased), (std::vector<std::string>{events[0].id, events[2].id}));
  const DeliveryTask& first = out.leased[0];
  EXPECT_EQ(first.delivery.endpoint_id, a.id);
  EXPECT_EQ(first.delivery.event_type, "transfer.created");
  EXPECT_EQ(first.delivery.transfer_id, t.id);
  EXPECT_EQ(first.delivery.status, DeliveryStatus::kPending);
  EXPECT_EQ(first.delivery.attempts, 1);
  EXPECT_EQ(first.delivery.next_attempt_at, now + 30s);
  EXPECT_EQ(first.delivery.created_at, now);
  EXPECT_EQ(first.event.type, events[0].type);
  EXPECT_EQ(first.event.created_at, events[0].created_at);
  EXPECT_EQ(first.event.data, events[0].data);
  EXPECT_EQ(first.url, a.url);
  EXPECT_EQ(first.secrets, (std::vector<std::string>{"whsec_new", a.secret}));
  auto stored = store_->get_webhook_delivery(first.delivery.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->attempts, 1);
  EXPECT_EQ((*stored)->next_attempt_at, now + 30s);

  // Leased: no claim takes them, nor the pause behind t's creation.
  EXPECT_TRUE(claim_due(*store_, now, "claim-1").empty());
  // The fan-out's lease writes the outcome; that releases the pause to the claims.
  EXPECT_TRUE(delivered(*store_, first, "fan-1", now + 1s));
  std::vector<DeliveryTask> next = claim_due(*store_, now + 1s, "claim-2");
  EXPECT_EQ(event_ids(next), (std::vector<std::string>{events[1].id}));

  // u's, its answer never written (a crash): claimed again when the lease runs out, and the
  // fan-out's late answer writes nothing.
  EXPECT_TRUE(claim_due(*store_, now + 29s, "claim-3").empty());
  std::vector<DeliveryTask> again = claim_due(*store_, now + 30s, "claim-3");
  ASSERT_EQ(event_ids(again), (std::vector<std::string>{events[2].id}));
  EXPECT_EQ(again[0].delivery.id, out.leased[1].delivery.id);
  EXPECT_EQ(again[0].delivery.attempts, 2);
  EXPECT_FALSE(delivered(*store_, out.leased[1], "fan-1", now + 31s));
  EXPECT_TRUE(delivered(*store_, again[0], "claim-3", now + 31s));
}

TEST_P(StoreConformance, AFanOutLeasesNoMoreThanItsLimitAndNoneBehindAPendingDelivery) {
  add_endpoint(*store_);
  std::vector<RecurringTransfer> transfers;
  for (int i = 0; i < 3; ++i) {
    transfers.push_back(transfer());
    create(transfers.back(), {kT0});
  }
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 3u);

  // Two of three leased; the third is due for the claims.
  FanOut out = fan_out(*store_, kT0, "fan-1", 2);
  EXPECT_EQ(out.events, 3);
  EXPECT_EQ(event_ids(out.leased), (std::vector<std::string>{events[0].id, events[1].id}));
  EXPECT_EQ(event_ids(claim_due(*store_, kT0, "claim-1")),
            (std::vector<std::string>{events[2].id}));

  // A later event of the first transfer, its earlier delivery still pending (leased): it waits.
  ASSERT_TRUE(store_->change_transfer_status(transfers[0].id, TransferAction::kPause, kT0 + 1s));
  FanOut later = fan_out(*store_, kT0 + 1s, "fan-2", 10);
  EXPECT_EQ(later.events, 1);
  EXPECT_TRUE(later.leased.empty());
  EXPECT_TRUE(claim_due(*store_, kT0 + 1s, "claim-2").empty());
  EXPECT_TRUE(delivered(*store_, out.leased[0], "fan-1", kT0 + 2s));
  std::vector<Event> now_events = events_after(*store_, events.back().id);
  ASSERT_EQ(now_events.size(), 1u);
  EXPECT_EQ(event_ids(claim_due(*store_, kT0 + 2s, "claim-3")),
            (std::vector<std::string>{now_events[0].id}));

  // No lease asked (limit 0, or no lease): none leased, each due for the claims.
  RecurringTransfer v = transfer();
  create(v, {kT0});
  FanOut none = fan_out(*store_, kT0 + 3s, "fan-3", 0);
  EXPECT_EQ(none.events, 1);
  EXPECT_TRUE(none.leased.empty());
  RecurringTransfer w = transfer();
  create(w, {kT0});
  FanOut unnamed = fan_out(*store_, kT0 + 3s, "", 10);
  EXPECT_EQ(unnamed.events, 1);
  EXPECT_TRUE(unnamed.leased.empty());
  EXPECT_EQ(claim_due(*store_, kT0 + 3s, "claim-4").size(), 2u);
}

// PostgreSQL, two fan-outs at once: another one holds the transfer's earlier event (locked,
// not committed: SKIP LOCKED passes it over), so the later event's delivery is not leased; it
// waits in the claims until the earlier one is fanned out and delivered. (SQLite's one writer
// fans out the oldest event first, whole.)
TEST_P(StoreConformance, ADeliveryIsNotBornLeasedWhileAnEarlierEventIsHeldByAnotherFanOut) {
  if (GetParam() == "sqlite") GTEST_SKIP() << "one writer: no interleaving";
  add_endpoint(*store_);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 2u);

  RawDb other(url_);  // the other fan-out, between its read of the events and its commit
  ASSERT_TRUE(other.script("BEGIN"));
  ASSERT_TRUE(other.run("SELECT id FROM event WHERE id = $1 FOR UPDATE", {events[0].id}));
  FanOut out = fan_out(*store_, kT0 + 2s, "fan-1", 10);
  EXPECT_EQ(out.events, 1);  // the pause only
  EXPECT_TRUE(out.leased.empty());
  EXPECT_TRUE(claim_due(*store_, kT0 + 2s, "claim-1").empty());
  ASSERT_TRUE(other.script("ROLLBACK"));

  FanOut earlier = fan_out(*store_, kT0 + 3s, "fan-2", 10);
  EXPECT_EQ(event_ids(earlier.leased), (std::vector<std::string>{events[0].id}));
  EXPECT_TRUE(claim_due(*store_, kT0 + 3s, "claim-2").empty());  // behind it
  ASSERT_EQ(earlier.leased.size(), 1u);
  EXPECT_TRUE(delivered(*store_, earlier.leased[0], "fan-2", kT0 + 4s));
  EXPECT_EQ(event_ids(claim_due(*store_, kT0 + 4s, "claim-3")),
            (std::vector<std::string>{events[1].id}));
}

}  // namespace rtjobs::store_conformance
