// Store conformance (conformance.hpp): webhook endpoints and deliveries (SPEC section 8, events
// to the main API). Endpoints and their secrets; fan-out to the endpoints registered at the
// event's time whose filter takes it; claims in event order per transfer and endpoint, leases
// that expire; each attempt's outcome, the endpoint's failing_since and its disabling; replays,
// the lists, the purge and the backlog. Concurrent dispatchers: webhook_concurrency_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "conformance.hpp"
#include "core/uuid.hpp"
#include "outbox_support.hpp"
#include "raw_db.hpp"

namespace rtjobs::store_conformance {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::seconds kDisableAfter = 72h;

// An endpoint (not stored) created at `created`.
WebhookEndpoint endpoint_at(Timestamp created, std::vector<std::string> types = {},
                            EndpointStatus status = EndpointStatus::kEnabled) {
  WebhookEndpoint e;
  e.id = new_uuid_v7(created);
  e.url = "https://hooks.example.com/rtjobs/" + e.id.substr(0, 8);
  e.event_types = std::move(types);
  e.secret = "whsec_" + e.id.substr(24);
  e.status = status;
  e.created_at = created;
  e.updated_at = created;
  return e;
}

WebhookEndpoint add_endpoint(Store& store, Timestamp created, std::vector<std::string> types = {},
                             EndpointStatus status = EndpointStatus::kEnabled) {
  auto r = store.create_webhook_endpoint(endpoint_at(created, std::move(types), status));
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : WebhookEndpoint{};
}

WebhookEndpoint stored_endpoint(Store& store, const std::string& id) {
  auto r = store.get_webhook_endpoint(id);
  EXPECT_TRUE(r && *r);
  return r && *r ? **r : WebhookEndpoint{};
}

void expect_same_endpoint(const WebhookEndpoint& a, const WebhookEndpoint& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.url, b.url);
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.event_types, b.event_types);
  EXPECT_EQ(a.secret, b.secret);
  EXPECT_EQ(a.previous_secret, b.previous_secret);
  EXPECT_EQ(a.previous_secret_expires_at, b.previous_secret_expires_at);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.failing_since, b.failing_since);
  EXPECT_EQ(a.disabled_at, b.disabled_at);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
}

int fan_out(Store& store, Timestamp now, int limit = 100) {
  auto r = store.fan_out_events(now, limit);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : -1;
}

std::vector<DeliveryTask> claim_deliveries(Store& store, Timestamp now,
                                           const std::string& lease = "lease-1",
                                           std::chrono::seconds lease_for = 30s, int limit = 100) {
  auto r = store.claim_webhook_deliveries(now, lease, now + lease_for, limit);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<DeliveryTask>{};
}

// The attempt of a claimed task: delivered (200), or not (503) and tried again at `next` (or
// failed for good without).
DeliveryAttempt attempt(const DeliveryTask& task, const std::string& lease, Timestamp now,
                        bool delivered, std::optional<Timestamp> next = std::nullopt) {
  DeliveryAttempt a{task.delivery.id, lease, now, delivered};
  a.http_status = delivered ? 200 : 503;
  if (!delivered) a.error = "HTTP 503";
  a.next_attempt_at = next;
  return a;
}

DeliveryOutcome finish(Store& store, const DeliveryAttempt& a,
                       std::chrono::seconds disable_after = kDisableAfter) {
  auto r = store.finish_webhook_deliveries(std::span<const DeliveryAttempt>(&a, 1), disable_after);
  EXPECT_TRUE(r && r->size() == 1) << (r ? "" : r.error().message);
  return r && r->size() == 1 ? r->front() : DeliveryOutcome{};
}

std::vector<WebhookDeliveryRecord> deliveries(Store& store, DeliveryFilter filter = {}) {
  filter.limit = 500;
  auto r = store.list_webhook_deliveries(filter);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? r->data : std::vector<WebhookDeliveryRecord>{};
}

WebhookDeliveryRecord delivery(Store& store, const std::string& id) {
  auto r = store.get_webhook_delivery(id);
  EXPECT_TRUE(r && *r);
  return r && *r ? **r : WebhookDeliveryRecord{};
}

// (event, endpoint) of each task, in order.
std::vector<std::pair<std::string, std::string>> pairs_of(const std::vector<DeliveryTask>& tasks) {
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(tasks.size());
  for (const DeliveryTask& t : tasks) out.emplace_back(t.event.id, t.delivery.endpoint_id);
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// --- Endpoints ---

TEST_P(StoreConformance, EndpointsRoundTripPageRotateAndDelete) {
  WebhookEndpoint a = endpoint_at(kT0, {"job.failed", "transfer.paused"});
  a.description = kAwkward;
  auto created = store_->create_webhook_endpoint(a);
  ASSERT_TRUE(created) << created.error().message;
  expect_same_endpoint(*created, a);
  expect_same_endpoint(stored_endpoint(*store_, normalize_upper(a.id)), a);
  WebhookEndpoint b = add_endpoint(*store_, kT0 + 1s);
  WebhookEndpoint c = add_endpoint(*store_, kT0 + 2s);
  EXPECT_TRUE(b.event_types.empty() && !b.description);

  // Creation order, in pages.
  auto first = store_->list_webhook_endpoints(2, std::nullopt);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->data.size(), 2u);
  EXPECT_EQ(first->data[0].id, a.id);
  EXPECT_EQ(first->data[1].id, b.id);
  ASSERT_TRUE(first->next_cursor);
  auto second = store_->list_webhook_endpoints(2, first->next_cursor);
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_EQ(second->data.size(), 1u);
  expect_same_endpoint(second->data[0], c);
  EXPECT_FALSE(second->next_cursor);

  // The current secret becomes the previous one until its expiry; a second rotation replaces it.
  auto rotated = store_->rotate_webhook_secret(a.id, "whsec_second", kT0 + 24h, kT0 + 1h);
  ASSERT_TRUE(rotated) << rotated.error().message;
  EXPECT_EQ(rotated->secret, "whsec_second");
  EXPECT_EQ(rotated->previous_secret, a.secret);
  EXPECT_EQ(rotated->previous_secret_expires_at, kT0 + 24h);
  EXPECT_EQ(rotated->updated_at, kT0 + 1h);
  EXPECT_EQ(rotated->created_at, kT0);
  expect_same_endpoint(stored_endpoint(*store_, a.id), *rotated);
  rotated = store_->rotate_webhook_secret(a.id, "whsec_third", kT0 + 48h, kT0 + 2h);
  ASSERT_TRUE(rotated) << rotated.error().message;
  EXPECT_EQ(rotated->secret, "whsec_third");
  EXPECT_EQ(rotated->previous_secret, "whsec_second");
  EXPECT_EQ(rotated->previous_secret_expires_at, kT0 + 48h);

  // Deleted: gone from reads and lists; unknown ids are kNotFound.
  ASSERT_TRUE(store_->delete_webhook_endpoint(b.id));
  EXPECT_FALSE(store_->get_webhook_endpoint(b.id).value());
  auto all = store_->list_webhook_endpoints(10, std::nullopt);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->data.size(), 2u);
  EXPECT_EQ(all->data[1].id, c.id);
  EXPECT_EQ(store_->delete_webhook_endpoint(b.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store_->rotate_webhook_secret(b.id, "whsec_x", kT0, kT0).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(store_->enable_webhook_endpoint(b.id, kT0).error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, DeletingAnEndpointDeletesItsDeliveries) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  WebhookEndpoint b = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0);
  ASSERT_EQ(tasks.size(), 2u);
  const DeliveryTask& to_a = tasks[0].delivery.endpoint_id == a.id ? tasks[0] : tasks[1];

  ASSERT_TRUE(store_->delete_webhook_endpoint(a.id));
  EXPECT_FALSE(store_->get_webhook_delivery(to_a.delivery.id).value());
  DeliveryFilter of_a;
  of_a.endpoint_id = a.id;
  EXPECT_TRUE(deliveries(*store_, of_a).empty());
  std::vector<WebhookDeliveryRecord> left = deliveries(*store_);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].endpoint_id, b.id);
  // The attempt in flight to the deleted endpoint writes nothing.
  EXPECT_FALSE(finish(*store_, attempt(to_a, "lease-1", kT0 + 1s, true)).written);
}

// --- Fan-out ---

TEST_P(StoreConformance, FanOutDeliversToEveryEnabledEndpointThatTakesTheEventAndExistedThen) {
  WebhookEndpoint all = add_endpoint(*store_, kT0 - 1h);
  add_endpoint(*store_, kT0 - 1h, {"job.succeeded", "job.failed"});
  WebhookEndpoint created_only =
      add_endpoint(*store_, kT0 - 1h, {"job.failed", "transfer.created"});
  add_endpoint(*store_, kT0 - 1h, {}, EndpointStatus::kDisabled);
  WebhookEndpoint same_instant = add_endpoint(*store_, kT0);  // created with the event: takes it
  WebhookEndpoint later = add_endpoint(*store_, kT0 + 1ms);   // after the event
  RecurringTransfer t = transfer();
  create(t, {kT0});
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 1u);

  EXPECT_EQ(fan_out(*store_, kT0 + 1s), 1);
  EXPECT_EQ(fan_out(*store_, kT0 + 2s), 0);  // fanned out once
  std::vector<WebhookDeliveryRecord> got = deliveries(*store_);
  ASSERT_EQ(got.size(), 3u);
  std::vector<std::string> endpoints;
  for (const WebhookDeliveryRecord& d : got) {
    endpoints.push_back(d.endpoint_id);
    EXPECT_EQ(d.event_id, events[0].id);
    EXPECT_EQ(d.event_type, "transfer.created");
    EXPECT_EQ(d.transfer_id, t.id);
    EXPECT_EQ(d.status, DeliveryStatus::kPending);
    EXPECT_EQ(d.attempts, 0);
    EXPECT_EQ(d.next_attempt_at, kT0 + 1s);
    EXPECT_EQ(d.created_at, kT0 + 1s);
    EXPECT_FALSE(d.last_attempt_at || d.last_http_status || d.last_error || d.replay_of ||
                 d.finished_at);
  }
  std::sort(endpoints.begin(), endpoints.end());
  std::vector<std::string> expected{all.id, created_only.id, same_instant.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(endpoints, expected);

  // A later event reaches the endpoint created since; the filters still apply.
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1h));
  EXPECT_EQ(fan_out(*store_, kT0 + 1h), 1);
  DeliveryFilter of_later;
  of_later.endpoint_id = later.id;
  EXPECT_EQ(deliveries(*store_, of_later).size(), 1u);
  EXPECT_EQ(deliveries(*store_).size(), 6u);  // all, same_instant, later

  // Oldest first, `limit` at a time.
  for (int i = 0; i < 3; ++i) {
    RecurringTransfer more = transfer();
    create(more, {kT0});
  }
  EXPECT_EQ(fan_out(*store_, kT0 + 2h, 2), 2);
  EXPECT_EQ(fan_out(*store_, kT0 + 2h, 2), 1);
  EXPECT_EQ(fan_out(*store_, kT0 + 2h, 2), 0);
}

// An event written while no endpoint is enabled is born fanned out (no fan-out writes it): an
// endpoint created or enabled later receives the events written after it, not those before,
// and those before hold none of the later ones back.
TEST_P(StoreConformance, EventsWrittenWhileNoEndpointIsEnabledAreBornFannedOut) {
  RecurringTransfer t = transfer();
  create(t, {kT0 + 24h});  // transfer.created, no endpoint at all
  WebhookEndpoint was_off = add_endpoint(*store_, kT0 - 1h, {}, EndpointStatus::kDisabled);
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  ASSERT_EQ(events_after(*store_).size(), 2u);
  EXPECT_EQ(fan_out(*store_, kT0 + 2s), 0);  // nothing left to fan out
  auto backlog = store_->event_backlog(100);
  ASSERT_TRUE(backlog) << backlog.error().message;
  EXPECT_EQ(backlog->pending, 0);
  EXPECT_FALSE(backlog->oldest);

  WebhookEndpoint created = add_endpoint(*store_, kT0 + 2s);
  ASSERT_TRUE(store_->enable_webhook_endpoint(was_off.id, kT0 + 3s));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 4s));
  EXPECT_EQ(fan_out(*store_, kT0 + 5s), 1);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0 + 5s);
  ASSERT_EQ(tasks.size(), 2u);
  std::vector<std::string> endpoints;
  for (const DeliveryTask& task : tasks) {
    EXPECT_EQ(task.event.type, "transfer.resumed");
    endpoints.push_back(task.delivery.endpoint_id);
  }
  std::sort(endpoints.begin(), endpoints.end());
  std::vector<std::string> expected{was_off.id, created.id};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(endpoints, expected);
  EXPECT_EQ(deliveries(*store_).size(), 2u);
}

// --- Claims ---

TEST_P(StoreConformance, ClaimsGoInEventOrderPerTransferAndEndpoint) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  WebhookEndpoint b = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kResume, kT0 + 2s));
  RecurringTransfer u = transfer();
  create(u, {kT0});
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(types_of(events), (std::vector<std::string>{"transfer.created", "transfer.paused",
                                                        "transfer.resumed", "transfer.created"}));
  const std::string &e1 = events[0].id, &e2 = events[1].id, &e3 = events[2].id, &u1 = events[3].id;
  ASSERT_EQ(fan_out(*store_, kT0 + 3s), 4);
  auto ordered = [](Pairs p) {  // one event's endpoints in id order, as claims give them
    std::sort(p.begin(), p.end());
    return p;
  };

  // The first event of each transfer, to each endpoint; t's later ones wait for them.
  std::vector<DeliveryTask> first = claim_deliveries(*store_, kT0 + 3s);
  EXPECT_EQ(pairs_of(first), ordered({{e1, a.id}, {e1, b.id}, {u1, a.id}, {u1, b.id}}));
  ASSERT_EQ(first.size(), 4u);
  const DeliveryTask& e1_a = first[0].delivery.endpoint_id == a.id ? first[0] : first[1];
  const DeliveryTask& e1_b = first[0].delivery.endpoint_id == a.id ? first[1] : first[0];
  EXPECT_EQ(e1_a.delivery.attempts, 1);
  EXPECT_EQ(e1_a.event.id, events[0].id);
  EXPECT_EQ(e1_a.event.type, events[0].type);
  EXPECT_EQ(e1_a.event.transfer_id, t.id);
  EXPECT_EQ(e1_a.event.created_at, events[0].created_at);
  EXPECT_EQ(e1_a.event.data, events[0].data);
  EXPECT_EQ(e1_a.url, a.url);
  EXPECT_EQ(e1_a.secrets, std::vector<std::string>{a.secret});
  EXPECT_TRUE(claim_deliveries(*store_, kT0 + 3s, "lease-2").empty());
  for (const DeliveryTask& task : first) {  // u's, out of the way
    if (task.event.id != u1) continue;
    ASSERT_TRUE(finish(*store_, attempt(task, "lease-1", kT0 + 3s, true)).written);
  }

  // Delivered to a: the next event goes to a; b's waits for b's first, in flight.
  EXPECT_TRUE(finish(*store_, attempt(e1_a, "lease-1", kT0 + 4s, true)).written);
  std::vector<DeliveryTask> second = claim_deliveries(*store_, kT0 + 4s, "lease-2");
  EXPECT_EQ(pairs_of(second), (Pairs{{e2, a.id}}));
  // Failed for good at b: it holds nothing back.
  EXPECT_TRUE(finish(*store_, attempt(e1_b, "lease-1", kT0 + 5s, false)).written);
  std::vector<DeliveryTask> third = claim_deliveries(*store_, kT0 + 5s, "lease-3");
  EXPECT_EQ(pairs_of(third), (Pairs{{e2, b.id}}));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_TRUE(finish(*store_, attempt(third[0], "lease-3", kT0 + 5s, true)).written);

  // To be tried again later at a: pending, so a's e3 still waits behind it; b's goes.
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(finish(*store_, attempt(second[0], "lease-2", kT0 + 6s, false, kT0 + 1h)).written);
  std::vector<DeliveryTask> e3_b = claim_deliveries(*store_, kT0 + 6s, "lease-4");
  EXPECT_EQ(pairs_of(e3_b), (Pairs{{e3, b.id}}));
  ASSERT_EQ(e3_b.size(), 1u);
  EXPECT_TRUE(finish(*store_, attempt(e3_b[0], "lease-4", kT0 + 6s, true)).written);
  EXPECT_TRUE(claim_deliveries(*store_, kT0 + 7s, "lease-4").empty());
  std::vector<DeliveryTask> again = claim_deliveries(*store_, kT0 + 1h, "lease-4");
  EXPECT_EQ(pairs_of(again), (Pairs{{e2, a.id}}));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].delivery.attempts, 2);
  EXPECT_TRUE(finish(*store_, attempt(again[0], "lease-4", kT0 + 1h, true)).written);
  EXPECT_EQ(pairs_of(claim_deliveries(*store_, kT0 + 1h, "lease-5")), (Pairs{{e3, a.id}}));
}

TEST_P(StoreConformance, ALaterEventWaitsForAnEarlierOneOfItsTransferNotFannedOutYet) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1s));
  std::vector<Event> events = events_after(*store_);
  ASSERT_EQ(events.size(), 2u);
  ASSERT_EQ(fan_out(*store_, kT0 + 2s), 2);
  std::vector<DeliveryTask> first = claim_deliveries(*store_, kT0 + 2s);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(finish(*store_, attempt(first[0], "lease-1", kT0 + 2s, true)).written);

  // An event ordered before the pause commits only now (another instance's transaction on
  // PostgreSQL): the pause's delivery waits until it is fanned out and delivered.
  std::string earlier = events[1].id.substr(0, 24) + "000000000000";
  ASSERT_LT(earlier, events[1].id);
  {
    RawDb db(url_);
    const char p = db.style();
    std::string sql = std::string(
                          "INSERT INTO event (id, type, recurring_transfer_id, created_at,"
                          " data) VALUES (") +
                      p + "1, " + p + "2, " + p + "3, " + p + "4, " + p + "5)";
    ASSERT_TRUE(db.run(sql, {earlier, std::string("transfer.resumed"), t.id,
                             format_timestamp(kT0 + 1s), std::string("{}")}));
  }
  EXPECT_TRUE(claim_deliveries(*store_, kT0 + 3s).empty());
  ASSERT_EQ(fan_out(*store_, kT0 + 3s), 1);
  std::vector<DeliveryTask> mid = claim_deliveries(*store_, kT0 + 3s);
  EXPECT_EQ(pairs_of(mid), (Pairs{{earlier, a.id}}));
  ASSERT_EQ(mid.size(), 1u);
  ASSERT_TRUE(finish(*store_, attempt(mid[0], "lease-1", kT0 + 4s, true)).written);
  EXPECT_EQ(pairs_of(claim_deliveries(*store_, kT0 + 4s)), (Pairs{{events[1].id, a.id}}));
}

TEST_P(StoreConformance, AnExpiredLeaseIsClaimedAgainAndTheLostOneWritesNothing) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> first = claim_deliveries(*store_, kT0, "lease-1", 30s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(claim_deliveries(*store_, kT0 + 29s, "lease-2").empty());
  std::vector<DeliveryTask> second = claim_deliveries(*store_, kT0 + 30s, "lease-2", 30s);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].delivery.id, first[0].delivery.id);
  EXPECT_EQ(second[0].delivery.attempts, 2);
  EXPECT_EQ(second[0].event.id, first[0].event.id);  // the same webhook-id

  // The first claimer's outcomes, late: nothing is written, the endpoint is not marked.
  EXPECT_FALSE(finish(*store_, attempt(first[0], "lease-1", kT0 + 31s, true)).written);
  EXPECT_FALSE(finish(*store_, attempt(first[0], "lease-1", kT0 + 31s, false), 0s).written);
  WebhookDeliveryRecord d = delivery(*store_, first[0].delivery.id);
  EXPECT_EQ(d.status, DeliveryStatus::kPending);
  EXPECT_EQ(d.attempts, 2);
  EXPECT_FALSE(d.last_attempt_at || d.last_http_status);
  WebhookEndpoint still = stored_endpoint(*store_, a.id);
  EXPECT_EQ(still.status, EndpointStatus::kEnabled);
  EXPECT_FALSE(still.failing_since);

  EXPECT_TRUE(finish(*store_, attempt(second[0], "lease-2", kT0 + 32s, true)).written);
  d = delivery(*store_, first[0].delivery.id);
  EXPECT_EQ(d.status, DeliveryStatus::kDelivered);
  EXPECT_EQ(d.finished_at, kT0 + 32s);
  // Once finished, its lease writes nothing more.
  EXPECT_FALSE(finish(*store_, attempt(second[0], "lease-2", kT0 + 33s, false)).written);
  EXPECT_EQ(delivery(*store_, first[0].delivery.id).status, DeliveryStatus::kDelivered);
}

TEST_P(StoreConformance, AClaimCarriesTheCurrentSecretAndThePreviousOneUntilItExpires) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  ASSERT_TRUE(store_->rotate_webhook_secret(a.id, "whsec_new", kT0 + 1h, kT0));
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> before = claim_deliveries(*store_, kT0 + 1s);
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].secrets, (std::vector<std::string>{"whsec_new", a.secret}));
  std::vector<DeliveryTask> after = claim_deliveries(*store_, kT0 + 1h, "lease-2");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].secrets, (std::vector<std::string>{"whsec_new"}));
}

// --- Outcomes ---

TEST_P(StoreConformance, AnAttemptEndsDeliveredPendingAgainOrFailedAndMarksTheEndpoint) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  for (int i = 0; i < 3; ++i) {
    RecurringTransfer t = transfer();
    create(t, {kT0});
  }
  ASSERT_EQ(fan_out(*store_, kT0), 3);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0);
  ASSERT_EQ(tasks.size(), 3u);
  DeliveryAttempt delivered = attempt(tasks[0], "lease-1", kT0 + 1s, true);
  delivered.http_status = 204;
  DeliveryAttempt again = attempt(tasks[1], "lease-1", kT0 + 1s, false, kT0 + 1min);
  DeliveryAttempt failed = attempt(tasks[2], "lease-1", kT0 + 1s, false);
  failed.http_status.reset();
  failed.error = "timeout";
  std::vector<DeliveryAttempt> batch{delivered, again, failed};
  auto r = store_->finish_webhook_deliveries(batch, kDisableAfter);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 3u);
  for (const DeliveryOutcome& o : *r) EXPECT_TRUE(o.written && !o.endpoint_disabled);

  WebhookDeliveryRecord d = delivery(*store_, tasks[0].delivery.id);
  EXPECT_EQ(d.status, DeliveryStatus::kDelivered);
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.last_attempt_at, kT0 + 1s);
  EXPECT_EQ(d.last_http_status, 204);
  EXPECT_FALSE(d.last_error);
  EXPECT_EQ(d.finished_at, kT0 + 1s);
  d = delivery(*store_, tasks[1].delivery.id);
  EXPECT_EQ(d.status, DeliveryStatus::kPending);
  EXPECT_EQ(d.next_attempt_at, kT0 + 1min);
  EXPECT_EQ(d.last_attempt_at, kT0 + 1s);
  EXPECT_EQ(d.last_http_status, 503);
  EXPECT_EQ(d.last_error, "HTTP 503");
  EXPECT_FALSE(d.finished_at);
  d = delivery(*store_, tasks[2].delivery.id);
  EXPECT_EQ(d.status, DeliveryStatus::kFailed);
  EXPECT_FALSE(d.last_http_status);
  EXPECT_EQ(d.last_error, "timeout");
  EXPECT_EQ(d.finished_at, kT0 + 1s);
  // Failing since the first failure after the last delivery.
  EXPECT_EQ(stored_endpoint(*store_, a.id).failing_since, kT0 + 1s);

  // Pending again: claimable from its next attempt, its lease free.
  EXPECT_TRUE(claim_deliveries(*store_, kT0 + 59s, "lease-2").empty());
  std::vector<DeliveryTask> retry = claim_deliveries(*store_, kT0 + 1min, "lease-2");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_EQ(retry[0].delivery.id, tasks[1].delivery.id);
  EXPECT_EQ(retry[0].delivery.attempts, 2);
  EXPECT_TRUE(finish(*store_, attempt(retry[0], "lease-2", kT0 + 2min, false, kT0 + 1h)).written);
  EXPECT_EQ(stored_endpoint(*store_, a.id).failing_since, kT0 + 1s);  // kept
  retry = claim_deliveries(*store_, kT0 + 1h, "lease-3");
  ASSERT_EQ(retry.size(), 1u);
  EXPECT_TRUE(finish(*store_, attempt(retry[0], "lease-3", kT0 + 1h, true)).written);
  WebhookEndpoint recovered = stored_endpoint(*store_, a.id);
  EXPECT_FALSE(recovered.failing_since);
  EXPECT_EQ(recovered.status, EndpointStatus::kEnabled);
}

TEST_P(StoreConformance, AnEndpointFailingForDisableAfterIsDisabledWithAnEventAndEnabledAgain) {
  WebhookEndpoint failing = add_endpoint(*store_, kT0 - 1h);
  WebhookEndpoint healthy = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0);
  ASSERT_EQ(tasks.size(), 2u);
  const DeliveryTask& to_failing =
      tasks[0].delivery.endpoint_id == failing.id ? tasks[0] : tasks[1];
  const DeliveryTask& to_healthy =
      tasks[0].delivery.endpoint_id == failing.id ? tasks[1] : tasks[0];
  ASSERT_TRUE(finish(*store_, attempt(to_healthy, "lease-1", kT0, true)).written);

  // Failing since kT0; disabled by the first failure at least 3h after it.
  DeliveryOutcome o = finish(*store_, attempt(to_failing, "lease-1", kT0, false, kT0 + 1h), 3h);
  EXPECT_TRUE(o.written && !o.endpoint_disabled);
  std::vector<DeliveryTask> retry = claim_deliveries(*store_, kT0 + 1h, "lease-2");
  ASSERT_EQ(retry.size(), 1u);
  o = finish(*store_, attempt(retry[0], "lease-2", kT0 + 1h, false, kT0 + 3h), 3h);
  EXPECT_TRUE(o.written && !o.endpoint_disabled);
  auto mark = last_event_id(*store_);
  retry = claim_deliveries(*store_, kT0 + 3h, "lease-3");
  ASSERT_EQ(retry.size(), 1u);
  o = finish(*store_, attempt(retry[0], "lease-3", kT0 + 3h, false, kT0 + 6h), 3h);
  EXPECT_TRUE(o.written && o.endpoint_disabled);

  WebhookEndpoint disabled = stored_endpoint(*store_, failing.id);
  EXPECT_EQ(disabled.status, EndpointStatus::kDisabled);
  EXPECT_EQ(disabled.disabled_at, kT0 + 3h);
  EXPECT_EQ(disabled.failing_since, kT0);
  EXPECT_EQ(disabled.updated_at, kT0 + 3h);
  std::vector<Event> events = events_after(*store_, mark);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "webhook_endpoint.disabled");
  EXPECT_FALSE(events[0].transfer_id || events[0].job_id);
  EXPECT_EQ(events[0].created_at, kT0 + 3h);
  auto data = nlohmann::json::parse(events[0].data);
  EXPECT_EQ(data["id"], failing.id);
  EXPECT_EQ(data["status"], "disabled");
  EXPECT_EQ(data["url"], failing.url);
  EXPECT_EQ(events[0].data.find(failing.secret), std::string::npos);  // never a secret

  // The event goes to the endpoints still enabled; the disabled one's delivery waits.
  ASSERT_EQ(fan_out(*store_, kT0 + 6h), 1);
  std::vector<DeliveryTask> later = claim_deliveries(*store_, kT0 + 6h, "lease-4");
  EXPECT_EQ(pairs_of(later), (Pairs{{events[0].id, healthy.id}}));
  ASSERT_EQ(later.size(), 1u);
  ASSERT_TRUE(finish(*store_, attempt(later[0], "lease-4", kT0 + 6h, true)).written);

  auto enabled = store_->enable_webhook_endpoint(failing.id, kT0 + 7h);
  ASSERT_TRUE(enabled) << enabled.error().message;
  EXPECT_EQ(enabled->status, EndpointStatus::kEnabled);
  EXPECT_FALSE(enabled->failing_since || enabled->disabled_at);
  EXPECT_EQ(enabled->updated_at, kT0 + 7h);
  expect_same_endpoint(stored_endpoint(*store_, failing.id), *enabled);
  std::vector<DeliveryTask> resumed = claim_deliveries(*store_, kT0 + 7h, "lease-5");
  EXPECT_EQ(pairs_of(resumed), (Pairs{{events_after(*store_).front().id, failing.id}}));
}

// --- Replays and lists ---

TEST_P(StoreConformance, AReplaySendsTheEventAgainBeforeLaterOnes) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer t = transfer();
  create(t, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);
  std::vector<DeliveryTask> first = claim_deliveries(*store_, kT0);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_TRUE(finish(*store_, attempt(first[0], "lease-1", kT0, true)).written);
  ASSERT_TRUE(store_->change_transfer_status(t.id, TransferAction::kPause, kT0 + 1min));
  ASSERT_EQ(fan_out(*store_, kT0 + 1min), 1);

  auto replay = store_->replay_webhook_delivery(normalize_upper(first[0].delivery.id), kT0 + 1h);
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_NE(replay->id, first[0].delivery.id);
  EXPECT_EQ(replay->replay_of, first[0].delivery.id);
  EXPECT_EQ(replay->event_id, first[0].event.id);
  EXPECT_EQ(replay->event_type, "transfer.created");
  EXPECT_EQ(replay->endpoint_id, a.id);
  EXPECT_EQ(replay->transfer_id, t.id);
  EXPECT_EQ(replay->status, DeliveryStatus::kPending);
  EXPECT_EQ(replay->attempts, 0);
  EXPECT_EQ(replay->next_attempt_at, kT0 + 1h);
  EXPECT_EQ(replay->created_at, kT0 + 1h);
  EXPECT_FALSE(replay->last_attempt_at || replay->finished_at);
  EXPECT_EQ(delivery(*store_, first[0].delivery.id).status, DeliveryStatus::kDelivered);

  // The replayed event comes first: the pause waits behind it.
  std::vector<DeliveryTask> got = claim_deliveries(*store_, kT0 + 1h);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].delivery.id, replay->id);
  EXPECT_EQ(got[0].event.id, first[0].event.id);  // the same webhook-id
  ASSERT_TRUE(finish(*store_, attempt(got[0], "lease-1", kT0 + 1h, true)).written);
  got = claim_deliveries(*store_, kT0 + 1h);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].event.type, "transfer.paused");

  EXPECT_EQ(store_->replay_webhook_delivery(new_uuid_v7(kT0), kT0).error().code,
            ErrorCode::kNotFound);
}

TEST_P(StoreConformance, DeliveriesListNewestFirstByEndpointAndStatusInPages) {
  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  WebhookEndpoint b = add_endpoint(*store_, kT0 - 1h);
  for (int i = 0; i < 3; ++i) {
    RecurringTransfer t = transfer();
    create(t, {kT0});
  }
  ASSERT_EQ(fan_out(*store_, kT0), 3);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0);
  ASSERT_EQ(tasks.size(), 6u);
  for (const DeliveryTask& task : tasks) {
    bool to_a = task.delivery.endpoint_id == a.id;
    ASSERT_TRUE(finish(*store_, attempt(task, "lease-1", kT0 + 1s, to_a, kT0 + 1h)).written);
  }

  std::vector<WebhookDeliveryRecord> all = deliveries(*store_);
  ASSERT_EQ(all.size(), 6u);
  for (size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i - 1].id, all[i].id);  // newest first
  EXPECT_EQ(all.front().event_id, tasks.back().event.id);

  DeliveryFilter page;
  page.limit = 4;
  auto first = store_->list_webhook_deliveries(page);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->data.size(), 4u);
  ASSERT_TRUE(first->next_cursor);
  page.cursor = first->next_cursor;
  auto second = store_->list_webhook_deliveries(page);
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_EQ(second->data.size(), 2u);
  EXPECT_FALSE(second->next_cursor);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ((i < 4 ? first->data[i] : second->data[i - 4]).id, all[i].id);
  }

  DeliveryFilter of_a;
  of_a.endpoint_id = normalize_upper(a.id);
  std::vector<WebhookDeliveryRecord> got = deliveries(*store_, of_a);
  ASSERT_EQ(got.size(), 3u);
  for (const auto& d : got)
    EXPECT_TRUE(d.endpoint_id == a.id && d.status == DeliveryStatus::kDelivered);
  DeliveryFilter pending_of_b;
  pending_of_b.endpoint_id = b.id;
  pending_of_b.status = DeliveryStatus::kPending;
  EXPECT_EQ(deliveries(*store_, pending_of_b).size(), 3u);
  pending_of_b.endpoint_id = a.id;
  EXPECT_TRUE(deliveries(*store_, pending_of_b).empty());

  WebhookDeliveryRecord one = delivery(*store_, all[2].id);
  EXPECT_EQ(one.id, all[2].id);
  EXPECT_EQ(one.status, all[2].status);
  EXPECT_EQ(one.last_attempt_at, kT0 + 1s);
  EXPECT_FALSE(store_->get_webhook_delivery(new_uuid_v7(kT0)).value());
}

// --- Purge and backlog ---

TEST_P(StoreConformance, PurgeDeletesOldSentEventsWithTheirDeliveriesAndKeepsTheRest) {
  add_endpoint(*store_, kT0 - 1h);
  std::vector<RecurringTransfer> ts;
  for (int i = 0; i < 3; ++i) {
    ts.push_back(transfer());
    create(ts.back(), {kT0});
  }
  ASSERT_EQ(fan_out(*store_, kT0), 3);
  std::vector<DeliveryTask> tasks = claim_deliveries(*store_, kT0);
  ASSERT_EQ(tasks.size(), 3u);
  ASSERT_TRUE(finish(*store_, attempt(tasks[0], "lease-1", kT0, true)).written);
  ASSERT_TRUE(finish(*store_, attempt(tasks[1], "lease-1", kT0, false)).written);  // failed
  ASSERT_TRUE(finish(*store_, attempt(tasks[2], "lease-1", kT0, false, kT0 + 1h)).written);
  RecurringTransfer not_fanned = transfer();
  create(not_fanned, {kT0});
  RecurringTransfer recent = transfer();
  recent.created_at = kT0 + 2h;
  create(recent, {kT0});

  EXPECT_EQ(store_->purge_events(kT0 + 1h, 1).value(), 1);  // the limit holds
  EXPECT_EQ(store_->purge_events(kT0 + 1h, 10).value(), 1);
  EXPECT_EQ(store_->purge_events(kT0 + 1h, 10).value(), 0);
  EXPECT_FALSE(store_->get_webhook_delivery(tasks[0].delivery.id).value());
  EXPECT_FALSE(store_->get_webhook_delivery(tasks[1].delivery.id).value());
  EXPECT_TRUE(store_->get_webhook_delivery(tasks[2].delivery.id).value());
  std::vector<Event> left = events_after(*store_);
  ASSERT_EQ(left.size(), 3u);
  EXPECT_EQ(left[0].id, tasks[2].event.id);  // still to deliver
  EXPECT_EQ(left[1].transfer_id, not_fanned.id);
  EXPECT_EQ(left[2].transfer_id, recent.id);
}

TEST_P(StoreConformance, TheBacklogCountsWhatIsLeftToSendUpToTheCapAndItsOldestEvent) {
  auto backlog = [&](int64_t cap) {
    auto r = store_->event_backlog(cap);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : EventBacklog{-1, std::nullopt};
  };
  EXPECT_EQ(backlog(100).pending, 0);
  EXPECT_FALSE(backlog(100).oldest);

  WebhookEndpoint a = add_endpoint(*store_, kT0 - 1h);
  WebhookEndpoint b = add_endpoint(*store_, kT0 - 1h);
  RecurringTransfer first = transfer();
  create(first, {kT0});
  ASSERT_EQ(fan_out(*store_, kT0), 1);  // two pending deliveries
  for (Timestamp at : {kT0 + 1h, kT0 + 2h}) {
    RecurringTransfer t = transfer();
    t.created_at = at;
    create(t, {kT0});  // not fanned out
  }
  EventBacklog now = backlog(100);
  EXPECT_EQ(now.pending, 4);
  EXPECT_EQ(now.oldest, kT0);
  EXPECT_EQ(backlog(1).pending, 2);  // each counted up to the cap

  // Delivered: the oldest is the first event not fanned out.
  for (const DeliveryTask& task : claim_deliveries(*store_, kT0)) {
    ASSERT_TRUE(finish(*store_, attempt(task, "lease-1", kT0, true)).written);
  }
  now = backlog(100);
  EXPECT_EQ(now.pending, 2);
  EXPECT_EQ(now.oldest, kT0 + 1h);

  // An event no endpoint takes is fanned out all the same, and leaves nothing behind.
  ASSERT_TRUE(store_->delete_webhook_endpoint(a.id));
  ASSERT_TRUE(store_->delete_webhook_endpoint(b.id));
  EXPECT_EQ(fan_out(*store_, kT0 + 3h), 2);
  EXPECT_TRUE(deliveries(*store_).empty());
  now = backlog(100);
  EXPECT_EQ(now.pending, 0);
  EXPECT_FALSE(now.oldest);
}

}  // namespace
}  // namespace rtjobs::store_conformance
