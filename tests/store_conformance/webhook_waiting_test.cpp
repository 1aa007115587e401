// Store conformance (conformance.hpp): deliveries that wait (kDeliveryWaiting) instead of being
// due while they cannot be sent, so a dead endpoint's backlog costs the claims nothing. A later
// event of a transfer waits behind the earlier one's pending delivery to the same endpoint and
// comes due when that one leaves pending; a disabled endpoint's deliveries all wait and enabling
// it releases the heads only; a replay never waits. Racing stores: webhook_concurrency_test.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "outbox_support.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

WebhookEndpoint add_endpoint(Store& store, std::vector<std::string> types = {}) {
  WebhookEndpoint e;
  e.id = new_uuid_v7(kT0 - 1h);
  e.url = "https://hooks.example.com/rtjobs/" + e.id.substr(0, 8);
  e.event_types = std::move(types);
  e.secret = "whsec_" + e.id.substr(24);
  e.created_at = e.updated_at = kT0 - 1h;
  auto r = store.create_webhook_endpoint(e);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return e;
}

int fan_out(Store& store, Timestamp now) {
  auto r = store.fan_out_events(now, 100);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : -1;
}

std::vector<DeliveryTask> claim_due(Store& store, Timestamp now, int limit = 100) {
  auto r = store.claim_webhook_deliveries(now, "lease", now + 30s, limit);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<DeliveryTask>{};
}

// The attempt of a claimed task: delivered, or not and tried again at `next` (failed for good
// without).
bool finish(Store& store, const DeliveryTask& task, Timestamp now, bool delivered,
            std::optional<Timestamp> next = std::nullopt,
            std::chrono::seconds disable_after = 72h) {
  DeliveryAttempt a{task.delivery.id, "lease", now, delivered};
  a.http_status = delivered ? 200 : 503;
  a.next_attempt_at = next;
  auto r = store.finish_webhook_deliveries(std::span<const DeliveryAttempt>(&a, 1), disable_after);
  EXPECT_TRUE(r && r->size() == 1) << (r ? "" : r.error().message);
  return r && r->size() == 1 && r->front().written;
}

// The delivery of `event_id` to `endpoint_id` (the first one, not a replay).
WebhookDeliveryRecord delivery_of(Store& store, const std::string& event_id,
                                  const std::string& endpoint_id) {
  DeliveryFilter filter;
  filter.endpoint_id = endpoint_id;
  filter.limit = 500;
  auto r = store.list_webhook_deliveries(filter);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (r) {
    for (const WebhookDeliveryRecord& d : r->data) {
      if (d.event_id == event_id && !d.replay_of) return d;
    }
  }
  ADD_FAILURE() << "no delivery of " << event_id << " to " << endpoint_id;
  return {};
}

std::vector<std::string> events_of(const std::vector<DeliveryTask>& tasks) {
  std::vector<std::string> out;
  out.reserve(tasks.size());
  for (const DeliveryTask& t : tasks) out.push_back(t.event.id);
  return out;
}

// Two transfers' first events in the outbox: t created (t1) and paused (t2), then u created
// (u1). `new_transfer` stores a transfer and returns its id.
struct TwoTransfers {
  std::string t, t1, t2, u1;
};

template <typename NewTransfer>
TwoTransfers two_transfers(Store& store, NewTransfer new_transfer) {
  TwoTransfers out;
  out.t = new_transfer();
  EXPECT_TRUE(store.change_transfer_status(out.t, TransferAction::kPause, kT0 + 1s));
  new_transfer();
  std::vector<Event> events = events_after(store);
  EXPECT_EQ(events.size(), 3u);
  if (events.size() == 3) {
    out.t1 = events[0].id;
    out.t2 = events[1].id;
    out.u1 = events[2].id;
  }
  return out;
}

}  // namespace

TEST_P(StoreConformance, ALaterEventToAFailingEndpointWaitsUntilTheEarlierOneLeavesPending) {
  WebhookEndpoint a = add_endpoint(*store_);
  auto new_transfer = [&]() {
    RecurringTransfer t = transfer();
    create(t, {kT0});
    return t.id;
  };
  auto [t, t1, t2, u1] = two_transfers(*store_, new_transfer);

  // One fan-out: t's second event waits behind its first, in the same batch; u's is due.
  ASSERT_EQ(fan_out(*store_, kT0 + 2s), 3);
  EXPECT_EQ(delivery_of(*store_, t1, a.id).next_attempt_at, kT0 + 2s);
  EXPECT_EQ(delivery_of(*store_, t2, a.id).next_attempt_at, kDeliveryWaiting);
  EXPECT_EQ(delivery_of(*store_, u1, a.id).next_attempt_at, kT0 + 2s);
  std::vector<DeliveryTask> first = claim_due(*store_, kT0 + 2s);
  ASSERT_EQ(events_of(first), (std::vector<std::string>{t1, u1}));
  ASSERT_TRUE(finish(*store_, first[1], kT0 + 2s, true));

  // t1 fails, to be tried again in an hour: pending still, so t2 keeps waiting, and a third
  // event fanned out later waits behind the stored pending ones.
  ASSERT_TRUE(finish(*store_, first[0], kT0 + 3s, false, kT0 + 1h));
  ASSERT_TRUE(store_->change_transfer_status(t, TransferAction::kResume, kT0 + 4s));
  const std::string t3 = events_after(*store_, u1).at(0).id;
  ASSERT_EQ(fan_out(*store_, kT0 + 5s), 1);
  EXPECT_EQ(delivery_of(*store_, t2, a.id).next_attempt_at, kDeliveryWaiting);
  EXPECT_EQ(delivery_of(*store_, t3, a.id).next_attempt_at, kDeliveryWaiting);
  EXPECT_TRUE(claim_due(*store_, kT0 + 59min).empty());

  // t1 delivered: t2 comes due at that attempt's time, t3 still waits.
  std::vector<DeliveryTask> retry = claim_due(*store_, kT0 + 1h);
  ASSERT_EQ(events_of(retry), std::vector<std::string>{t1});
  ASSERT_TRUE(finish(*store_, retry[0], kT0 + 1h + 1s, true));
  EXPECT_EQ(delivery_of(*store_, t2, a.id).next_attempt_at, kT0 + 1h + 1s);
  EXPECT_EQ(delivery_of(*store_, t3, a.id).next_attempt_at, kDeliveryWaiting);

  // t2 failed for good: t3 comes due.
  std::vector<DeliveryTask> second = claim_due(*store_, kT0 + 1h + 1s);
  ASSERT_EQ(events_of(second), std::vector<std::string>{t2});
  ASSERT_TRUE(finish(*store_, second[0], kT0 + 2h, false));
  EXPECT_EQ(delivery_of(*store_, t3, a.id).next_attempt_at, kT0 + 2h);
  EXPECT_EQ(events_of(claim_due(*store_, kT0 + 2h)), std::vector<std::string>{t3});
}

TEST_P(StoreConformance, DisablingAnEndpointParksItsPendingDeliveriesAndEnablingReleasesHeads) {
  WebhookEndpoint failing = add_endpoint(*store_);
  WebhookEndpoint watcher = add_endpoint(*store_, {"webhook_endpoint.disabled"});
  auto new_transfer = [&]() {
    RecurringTransfer t = transfer();
    create(t, {kT0});
    return t.id;
  };
  auto [t, t1, t2, u1] = two_transfers(*store_, new_transfer);
  ASSERT_EQ(fan_out(*store_, kT0), 3);
  std::vector<DeliveryTask> tasks = claim_due(*store_, kT0);
  ASSERT_EQ(events_of(tasks), (std::vector<std::string>{t1, u1}));

  // t1's failure disables the endpoint while u1 is in flight: every pending delivery waits,
  // u1's too when its failure comes back pending again.
  ASSERT_TRUE(finish(*store_, tasks[0], kT0 + 1s, false, kT0 + 1min, 0s));
  ASSERT_EQ(store_->get_webhook_endpoint(failing.id)->value().status, EndpointStatus::kDisabled);
  ASSERT_TRUE(finish(*store_, tasks[1], kT0 + 2s, false, kT0 + 1min, 0s));
  for (const std::string& e : {t1, t2, u1}) {
    EXPECT_EQ(delivery_of(*store_, e, failing.id).next_attempt_at, kDeliveryWaiting) << e;
  }

  // The disabled event has no transfer: its delivery never waits.
  const std::string disabled_event = events_after(*store_, u1).at(0).id;
  ASSERT_EQ(fan_out(*store_, kT0 + 3s), 1);
  EXPECT_EQ(delivery_of(*store_, disabled_event, watcher.id).next_attempt_at, kT0 + 3s);
  std::vector<DeliveryTask> other = claim_due(*store_, kT0 + 24h);
  ASSERT_EQ(events_of(other), std::vector<std::string>{disabled_event});
  ASSERT_TRUE(finish(*store_, other[0], kT0 + 24h, true));

  // Enabled: the head of each transfer comes due, t2 waits behind t1.
  ASSERT_TRUE(store_->enable_webhook_endpoint(failing.id, kT0 + 48h));
  EXPECT_EQ(delivery_of(*store_, t1, failing.id).next_attempt_at, kT0 + 48h);
  EXPECT_EQ(delivery_of(*store_, u1, failing.id).next_attempt_at, kT0 + 48h);
  EXPECT_EQ(delivery_of(*store_, t2, failing.id).next_attempt_at, kDeliveryWaiting);
  std::vector<DeliveryTask> resumed = claim_due(*store_, kT0 + 48h);
  ASSERT_EQ(events_of(resumed), (std::vector<std::string>{t1, u1}));
  ASSERT_TRUE(finish(*store_, resumed[0], kT0 + 48h, true));
  EXPECT_EQ(events_of(claim_due(*store_, kT0 + 48h)), std::vector<std::string>{t2});
}

TEST_P(StoreConformance, AReplayNeverWaitsAndWhicheverEarlierDeliveryFinishesLastReleases) {
  WebhookEndpoint a = add_endpoint(*store_);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> first = claim_due(*store_, kT0);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(finish(*store_, first[0], kT0, true));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  ASSERT_EQ(fan_out(*store_, kT0 + 1s), 1);
  std::vector<DeliveryTask> second = claim_due(*store_, kT0 + 1s);  // t2, in flight
  ASSERT_EQ(second.size(), 1u);

  // A replay of t1: due at once though t2 is pending. t3 waits behind both.
  auto replay = store_->replay_webhook_delivery(first[0].delivery.id, kT0 + 2s);
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->next_attempt_at, kT0 + 2s);
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 3s));
  const std::string t3 = events_after(*store_, second[0].event.id).at(0).id;
  ASSERT_EQ(fan_out(*store_, kT0 + 3s), 1);
  EXPECT_EQ(delivery_of(*store_, t3, a.id).next_attempt_at, kDeliveryWaiting);

  // t2 delivered releases t3, which the pending replay of t1 still holds back.
  ASSERT_TRUE(finish(*store_, second[0], kT0 + 4s, true));
  EXPECT_EQ(delivery_of(*store_, t3, a.id).next_attempt_at, kT0 + 4s);
  std::vector<DeliveryTask> got = claim_due(*store_, kT0 + 4s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].delivery.id, replay->id);
  ASSERT_TRUE(finish(*store_, got[0], kT0 + 5s, true));
  EXPECT_EQ(events_of(claim_due(*store_, kT0 + 5s)), std::vector<std::string>{t3});
}

// Many transfers' events to an endpoint failing now and then, in rounds: whatever the order of
// failures, retries and successes, every delivery is eventually sent, none left waiting.
TEST_P(StoreConformance, NoDeliveryIsLeftWaitingWhateverTheOutcomes) {
  WebhookEndpoint a = add_endpoint(*store_);
  std::vector<RecurringTransfer> transfers(4);
  for (RecurringTransfer& t : transfers) {
    t = transfer();
    create(t, {kT0 + 24h});
  }
  Timestamp now = kT0;
  int outcome = 0;
  for (int round = 0; round < 12; ++round) {
    now += 1s;
    for (size_t i = 0; i < transfers.size(); ++i) {
      if ((round + i) % 3 == 0) continue;  // not every transfer every round
      auto action = round % 2 == 0 ? TransferAction::kPause : TransferAction::kResume;
      (void)store_->change_transfer_status(transfers[i].id, action, now);
    }
    ASSERT_GE(fan_out(*store_, now), 0);
    for (const DeliveryTask& task : claim_due(*store_, now, 3)) {
      switch (outcome++ % 4) {  // delivered, again at once, failed for good, again later
        case 0:
          ASSERT_TRUE(finish(*store_, task, now, true));
          break;
        case 1:
          ASSERT_TRUE(finish(*store_, task, now, false, now));
          break;
        case 2:
          ASSERT_TRUE(finish(*store_, task, now, false));
          break;
        default:
          ASSERT_TRUE(finish(*store_, task, now, false, now + 2s));
          break;
      }
    }
  }
  for (int drain = 0; drain < 30; ++drain) {  // delivered from now on, the retries come due
    now += 1s;
    for (const DeliveryTask& task : claim_due(*store_, now)) {
      ASSERT_TRUE(finish(*store_, task, now, true));
    }
  }
  auto backlog = store_->event_backlog(1000);
  ASSERT_TRUE(backlog) << backlog.error().message;
  EXPECT_EQ(backlog->pending, 0);
}

}  // namespace rtjobs::store_conformance
