// PgStore's events to the main API: the endpoints, fanning the outbox's events out to them, and
// the dispatcher's claims and outcomes of deliveries (see Store, "Events to the main API").
//
// Whose clock: the callers' `now` throughout. These times decide when a delivery is tried
// (again) and when a dispatcher's claim runs out, never whether money moves; a delivery claimed
// twice after a claim ran out is a duplicate the receiver recognises by its webhook-id.
//
// Lock order: an endpoint's row before its deliveries' rows (finish_webhook_deliveries locks
// the endpoints first, as enabling one and deleting one do before their deliveries); the
// fan-out locks the events (SKIP LOCKED), then shares the endpoints (FOR SHARE, in id order: a
// finish, an enable or a delete of one of them waits for the fan-out's inserts, or the fan-out
// for them; see fan_out_and_lease). The claims lock only deliveries, with SKIP LOCKED: they never
// wait.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/outbox_codec.hpp"
#include "store/postgres/pg_outbox.hpp"
#include "store/postgres/pg_rows.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

using store_detail::ArrayLiteral;
using store_detail::first_of;
using store_detail::PgResult;
using store_detail::PgRow;
using store_detail::PgStatement;
using store_detail::SqlValue;

namespace {

const std::string kEndpointCols(store_detail::kEndpointColumns);
const std::string kDeliveryCols(store_detail::kDeliveryColumns);
const std::string kEventCols(store_detail::kEventColumns);
const std::string kBegin = "BEGIN";

Result<WebhookEndpoint> endpoint_or_not_found(Result<PgResult> r, std::string_view id) {
  if (!r) return std::unexpected(r.error());
  auto e = first_of<WebhookEndpoint>(*r, store_detail::read_endpoint);
  if (!e) return std::unexpected(e.error());
  if (!*e) return fail(ErrorCode::kNotFound, "no webhook endpoint " + std::string(id));
  return std::move(**e);
}

// Whether `endpoint` takes `event`: it existed when the event was written, and its filter is
// empty or names the event's type.
bool takes(const WebhookEndpoint& endpoint, const Event& event) {
  if (endpoint.created_at > event.created_at) return false;
  return endpoint.event_types.empty() ||
         std::find(endpoint.event_types.begin(), endpoint.event_types.end(), event.type) !=
             endpoint.event_types.end();
}

// The deliveries a fan-out created leased (`rows`: kDeliveryColumns) as the claim returns
// them: with their event, their endpoint's url and secrets (the previous one while it has not
// expired), oldest event first. A row that does not read, or whose event or endpoint is not in
// hand, is left out (the caller checks the count).
std::vector<DeliveryTask> leased_tasks(const PgResult& rows, const std::vector<Event>& events,
                                       const std::vector<WebhookEndpoint>& endpoints,
                                       Timestamp now) {
  std::vector<DeliveryTask> out;
  out.reserve(static_cast<size_t>(rows.rows()));
  for (int i = 0; i < rows.rows(); ++i) {
    auto delivery = store_detail::read_delivery(PgRow(rows, i), 0);
    if (!delivery) continue;
    auto event = std::find_if(events.begin(), events.end(),
                              [&](const Event& e) { return e.id == delivery->event_id; });
    auto endpoint = std::find_if(endpoints.begin(), endpoints.end(), [&](const WebhookEndpoint& w) {
      return w.id == delivery->endpoint_id;
    });
    if (event == events.end() || endpoint == endpoints.end()) continue;
    DeliveryTask task{std::move(*delivery), *event, endpoint->url, {endpoint->secret}};
    if (endpoint->previous_secret && endpoint->previous_secret_expires_at &&
        *endpoint->previous_secret_expires_at > now) {
      task.secrets.push_back(*endpoint->previous_secret);
    }
    out.push_back(std::move(task));
  }
  std::sort(out.begin(), out.end(), [](const DeliveryTask& a, const DeliveryTask& b) {
    return std::tie(a.delivery.event_id, a.delivery.id) <
           std::tie(b.delivery.event_id, b.delivery.id);
  });
  return out;
}

}  // namespace

Result<WebhookEndpoint> PgStore::create_webhook_endpoint(const WebhookEndpoint& endpoint) {
  static const std::string sql =
      "INSERT INTO webhook_endpoint (" + kEndpointCols + ") VALUES (" +
      store_detail::placeholders('$', store_detail::kEndpointColumnCount) + ") RETURNING " +
      kEndpointCols;
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("creating webhook endpoint"));
  auto r =
      endpoint_or_not_found((*c)->query(sql, store_detail::endpoint_values(endpoint)), endpoint.id);
  if (!r) return std::unexpected(r.error().context("creating webhook endpoint " + endpoint.id));
  return r;
}

Result<std::optional<WebhookEndpoint>> PgStore::get_webhook_endpoint(std::string_view id) {
  static const std::string sql = "SELECT " + kEndpointCols + " FROM webhook_endpoint WHERE id = $1";
  if (!is_uuid(id)) return std::nullopt;
  std::string key = store_detail::normalize_id(id);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading webhook endpoint " + key));
  auto r = (*c)->query(sql, {key});
  if (!r) return std::unexpected(r.error().context("reading webhook endpoint " + key));
  return first_of<WebhookEndpoint>(*r, store_detail::read_endpoint);
}

Result<Page<WebhookEndpoint>> PgStore::list_webhook_endpoints(int limit,
                                                              std::optional<std::string> cursor) {
  store_detail::ListQuery q('$', store_detail::kEndpointColumns, "webhook_endpoint");
  return store_detail::list_page<WebhookEndpoint>(
      pool_, q, cursor, limit, store_detail::read_endpoint, "listing webhook endpoints");
}

Result<void> PgStore::delete_webhook_endpoint(std::string_view id) {
  // Its deliveries go with it (ON DELETE CASCADE).
  static const std::string sql = "DELETE FROM webhook_endpoint WHERE id = $1 RETURNING id";
  std::string key = store_detail::normalize_id(id);
  if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no webhook endpoint " + key);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("deleting webhook endpoint " + key));
  auto r = (*c)->query(sql, {key});
  if (!r) return std::unexpected(r.error().context("deleting webhook endpoint " + key));
  if (r->rows() == 0) return fail(ErrorCode::kNotFound, "no webhook endpoint " + key);
  return {};
}

Result<WebhookEndpoint> PgStore::rotate_webhook_secret(std::string_view id, std::string secret,
                                                       Timestamp previous_expires_at,
                                                       Timestamp now) {
  // SET reads the row as it was: the current secret becomes the previous one.
  static const std::string sql =
      "UPDATE webhook_endpoint SET previous_secret = secret, secret = $2,"
      " previous_secret_expires_at = $3::timestamptz, updated_at = $4::timestamptz"
      " WHERE id = $1 RETURNING " +
      kEndpointCols;
  std::string key = store_detail::normalize_id(id);
  if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no webhook endpoint " + key);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("rotating the secret of " + key));
  auto r = endpoint_or_not_found(
      (*c)->query(sql, {key, std::move(secret), format_timestamp(previous_expires_at),
                        format_timestamp(now)}),
      key);
  if (!r) return std::unexpected(r.error().context("rotating the secret of " + key));
  return r;
}

Result<WebhookEndpoint> PgStore::enable_webhook_endpoint(std::string_view id, Timestamp now) {
  // The endpoint's row first (locked until COMMIT), then, in a statement of its own so that it
  // reads what a finish or a fan-out that held the row committed, the waiting deliveries no
  // earlier pending one of their transfer holds back: due now.
  static const std::string sql =
      "UPDATE webhook_endpoint SET status = 'enabled', failing_since = NULL, disabled_at = NULL,"
      " updated_at = $2::timestamptz WHERE id = $1 RETURNING " +
      kEndpointCols;
  static const std::string heads_sql =
      "UPDATE webhook_delivery d SET next_attempt_at = $2::timestamptz WHERE d.status = 'pending'"
      " AND d.endpoint_id = $1 AND d.next_attempt_at = $3::timestamptz AND NOT EXISTS (SELECT 1"
      " FROM webhook_delivery p WHERE p.status = 'pending' AND p.endpoint_id = d.endpoint_id"
      " AND p.recurring_transfer_id = d.recurring_transfer_id AND p.event_id < d.event_id)";
  static const std::string commit_sql = "COMMIT";
  std::string key = store_detail::normalize_id(id);
  if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no webhook endpoint " + key);
  auto run = [&]() -> Result<WebhookEndpoint> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    std::string at = format_timestamp(now);
    auto done =
        store_detail::run_checked(**c, {{&kBegin, {}},
                                        {&sql, {key, at}},
                                        {&heads_sql, {key, at, format_timestamp(kDeliveryWaiting)}},
                                        {&commit_sql, {}}});
    if (!done) return std::unexpected(done.error());
    return endpoint_or_not_found(std::move((*done)[1]), key);
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("enabling webhook endpoint " + key));
  return r;
}

Result<FanOut> PgStore::fan_out_and_lease(Timestamp now, int limit, const FanOutLease& lease) {
  // Two round trips: the events (locked, SKIP LOCKED: concurrent fan-outs take disjoint events)
  // and the enabled endpoints (shared); then, matched here, the events marked, the deliveries,
  // COMMIT. Events written while no endpoint was enabled are born fanned out and never come
  // here (migration 13 says why none an endpoint should get is among them).
  //
  // A delivery waits (kDeliveryWaiting) behind a pending one of an earlier event of its transfer
  // to its endpoint: one of this batch (`behind`, decided here: the INSERT cannot see its own
  // rows) or one committed before the INSERT's statement began. It must never wait with no
  // pending earlier one left to release it (READ COMMITTED, two instances):
  // - Two fan-outs of E1 < E2 of one transfer: the one inserting E2's delivery sees E1's only
  //   if E1's fan-out committed, and E1's then waits for nothing; unseen, E2's is due at once
  //   and the claims' NOT EXISTS holds it back (a missed wait costs a scanned row, no more).
  // - A finish of the earlier delivery P racing this insert of W: both hold P's endpoint row
  //   (FOR SHARE here, FOR NO KEY UPDATE there) from their first round trip to COMMIT, so one
  //   commits before the other's next statement begins. The finish first: this INSERT, a later
  //   statement, reads P as delivered or failed, and W waits only behind another pending one,
  //   whose finish releases it. The fan-out first: the finish's release, a later statement,
  //   reads W. Likewise a disable (W parked with the rest, or the endpoint no longer enabled
  //   when this read locks it) and an enable (its heads read after W committed, or W inserted
  //   after its releases committed).
  // A delivery allowed a lease (`may_lease`: not behind, within lease.limit) is born leased when
  // the claim would take it now: it does not wait, and no earlier event of its transfer is
  // still not fanned out. The latter is judged for the batch as a whole: no event up to the
  // batch's last is left not fanned out (the events are marked before the INSERT, so its one
  // snapshot reads this batch's as fanned out and those another open fan-out holds, skipped
  // above, as not). In the two fan-outs above, E2's delivery is leased only if E1's fan-out had
  // committed (then it waits behind E1's pending delivery, or that one has left pending).
  //
  // The batch's test is one statement-wide read of event_unfanned_idx, not one per delivery:
  // in steady state nearly every event is fanned out, so the statistics make that partial index
  // look empty, and a plan made then scanned the whole of it (every event not fanned out yet,
  // tens of thousands in a burst) for each delivery. MATERIALIZED: each test runs once a row
  // (flattened, every mention of `waits` or `leased` ran it again).
  static const std::string events_sql = "SELECT " + kEventCols +
                                        " FROM event WHERE NOT fanned_out ORDER BY id LIMIT $1"
                                        " FOR UPDATE SKIP LOCKED";
  static const std::string endpoints_sql = "SELECT " + kEndpointCols +
                                           " FROM webhook_endpoint WHERE status = 'enabled'"
                                           " ORDER BY id FOR SHARE";
  static const std::string fanned_sql =
      "UPDATE event SET fanned_out = true WHERE id = ANY($1::uuid[])";
  static const std::string deliveries_sql =
      "WITH d AS MATERIALIZED (SELECT d.*, d.behind OR EXISTS (SELECT 1 FROM webhook_delivery p"
      " WHERE p.status = 'pending' AND p.endpoint_id = d.endpoint_id"
      " AND p.recurring_transfer_id = d.recurring_transfer_id AND p.event_id < d.event_id)"
      " AS waits FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[],"
      " $6::boolean[], $11::boolean[]) AS d(id, event_id, endpoint_id, event_type,"
      " recurring_transfer_id, behind, may_lease)),"
      " l AS MATERIALIZED (SELECT d.*, NOT d.waits AND d.may_lease AND NOT EXISTS (SELECT 1"
      " FROM event e WHERE NOT e.fanned_out AND e.id <= $12::uuid) AS leased FROM d),"
      " i AS (INSERT INTO webhook_delivery (id, event_id, endpoint_id, event_type,"
      " recurring_transfer_id, status, attempts, next_attempt_at, lease, lease_expires_at,"
      " created_at) SELECT id, event_id, endpoint_id, event_type, recurring_transfer_id,"
      " 'pending', CASE WHEN leased THEN 1 ELSE 0 END, CASE WHEN waits THEN $8::timestamptz"
      " WHEN leased THEN $10::timestamptz ELSE $7::timestamptz END, CASE WHEN leased THEN $9"
      " END, CASE WHEN leased THEN $10::timestamptz END, $7::timestamptz FROM l RETURNING " +
      kDeliveryCols + ", lease) SELECT " + kDeliveryCols + " FROM i WHERE lease IS NOT NULL";
  static const std::string commit_sql = "COMMIT";
  auto run = [&]() -> Result<FanOut> {
    FanOut out;
    if (limit <= 0) return out;
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto read = store_detail::run_checked(
        **c, {{&kBegin, {}}, {&events_sql, {int64_t{limit}}}, {&endpoints_sql, {}}});
    if (!read) return std::unexpected(read.error());
    auto events = store_detail::rows_of<Event>((*read)[1], store_detail::read_event);
    if (!events) return std::unexpected(events.error());
    auto endpoints =
        store_detail::rows_of<WebhookEndpoint>((*read)[2], store_detail::read_endpoint);
    if (!endpoints) return std::unexpected(endpoints.error());
    if (events->empty()) {
      if (auto r = (*c)->exec("COMMIT"); !r) return std::unexpected(r.error());
      return out;
    }
    std::vector<ArrayLiteral> columns(7);
    std::vector<std::string> ids;
    ids.reserve(events->size());
    std::set<std::pair<std::string, std::string>> transfers;  // (endpoint, transfer) so far
    int may_lease = lease.lease.empty() ? 0 : lease.limit;
    for (const Event& e : *events) {  // in id order: earlier events get the smaller delivery ids
      ids.push_back(e.id);
      for (const WebhookEndpoint& endpoint : *endpoints) {
        if (!takes(endpoint, e)) continue;
        bool behind = e.transfer_id && !transfers.emplace(endpoint.id, *e.transfer_id).second;
        bool leasable = !behind && may_lease > 0;
        if (leasable) --may_lease;
        columns[0].add(new_uuid_v7(now));
        columns[1].add(e.id);
        columns[2].add(endpoint.id);
        columns[3].add(e.type);
        columns[4].add(store_detail::opt_text(e.transfer_id));
        columns[5].add(std::string(behind ? "t" : "f"));
        columns[6].add(std::string(leasable ? "t" : "f"));
      }
    }
    std::vector<SqlValue> params;
    params.reserve(columns.size() + 4);
    for (size_t i = 0; i < 6; ++i) params.emplace_back(columns[i].str());
    params.emplace_back(format_timestamp(now));
    params.emplace_back(format_timestamp(kDeliveryWaiting));
    params.emplace_back(lease.lease);
    params.emplace_back(format_timestamp(lease.until));
    params.emplace_back(columns[6].str());
    params.emplace_back(ids.back());
    auto written = store_detail::run_checked(**c, {{&fanned_sql, {store_detail::uuid_array(ids)}},
                                                   {&deliveries_sql, std::move(params)},
                                                   {&commit_sql, {}}});
    if (!written) return std::unexpected(written.error());
    out.events = static_cast<int>(events->size());
    out.leased = leased_tasks((*written)[1], *events, *endpoints, now);
    if (out.leased.size() != static_cast<size_t>((*written)[1].rows())) {
      return fail(ErrorCode::kInternal, "a leased delivery without its event or endpoint");
    }
    return out;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("fanning out events"));
  return r;
}

Result<std::vector<DeliveryTask>> PgStore::claim_webhook_deliveries(Timestamp now,
                                                                    std::string_view lease,
                                                                    Timestamp lease_until,
                                                                    int limit) {
  // One statement. A delivery is claimable when due ($1, the caller's clock: see the top),
  // unleased or its lease run out, its endpoint enabled, and it is next of its transfer for its
  // endpoint: no pending delivery of an earlier event of the transfer to the same endpoint
  // (claimed by another dispatcher or not: pending until delivered or failed), and no earlier
  // event of the transfer still waiting for its fan-out (its deliveries do not exist yet).
  // FOR UPDATE re-checks a row another claimer changed and committed meanwhile (its new lease
  // excludes it); SKIP LOCKED passes over the rows one holds. MATERIALIZED: the selection runs
  // once (see rescue_expired_leases). The previous secret signs too until it expires.
  // Its cost follows the limit, whatever the backlog, the deliveries in flight and the
  // delivered history, and whatever the planner believes of the tables (new ones have no
  // statistics until autoanalyze: a plan made then walked every pending delivery for each
  // candidate, 267 ms a claim at 7,000 pending):
  // - `due` reads a bounded slice of the due index in its order (the longest due first, then
  //   the oldest event). A claimed delivery is due again only when its lease runs out
  //   (next_attempt_at = the lease's end) and a held-back one waits (kDeliveryWaiting), so the
  //   due deliveries are those to send; the slice's margin over the limit covers the few held
  //   back by a race or locked by another claimer.
  // - The candidates' rows are then reached by primary key (= ANY of an array), never by a
  //   join the planner could turn around; the earlier-event test compares (transfer, id) as a
  //   row so only the index on (recurring_transfer_id, id) of the events not fanned out serves
  //   it.
  static const std::string sql =
      "WITH due AS MATERIALIZED (SELECT id, endpoint_id, recurring_transfer_id, event_id"
      " FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at <= $1::timestamptz"
      " ORDER BY next_attempt_at, event_id LIMIT $4 + 256),"
      " picked AS MATERIALIZED (SELECT d.id FROM webhook_delivery d"
      " WHERE d.id = ANY(ARRAY(SELECT c.id FROM due c JOIN webhook_endpoint w"
      " ON w.id = c.endpoint_id AND w.status = 'enabled'"
      " WHERE NOT EXISTS (SELECT 1 FROM webhook_delivery p WHERE p.status = 'pending'"
      " AND p.endpoint_id = c.endpoint_id AND p.recurring_transfer_id = c.recurring_transfer_id"
      " AND p.event_id < c.event_id)"
      " AND NOT EXISTS (SELECT 1 FROM event e WHERE NOT e.fanned_out"
      " AND e.recurring_transfer_id = c.recurring_transfer_id"
      " AND (e.recurring_transfer_id, e.id) < (c.recurring_transfer_id, c.event_id))))"
      " AND d.status = 'pending' AND d.next_attempt_at <= $1::timestamptz"
      " AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1::timestamptz)"
      " ORDER BY d.next_attempt_at, d.event_id LIMIT $4 FOR UPDATE OF d SKIP LOCKED)"
      " UPDATE webhook_delivery d SET lease = $2, lease_expires_at = $3::timestamptz,"
      " next_attempt_at = $3::timestamptz, attempts = d.attempts + 1"
      " FROM event e, webhook_endpoint w"
      " WHERE d.id = ANY(ARRAY(SELECT id FROM picked)) AND e.id = d.event_id"
      " AND w.id = d.endpoint_id RETURNING " +
      store_detail::qualified(store_detail::kDeliveryColumns, "d") + ", " +
      store_detail::qualified(store_detail::kEventColumns, "e") +
      ", w.url, w.secret, CASE WHEN w.previous_secret_expires_at > $1::timestamptz"
      " THEN w.previous_secret END";
  // Whether any delivery is due: the claim is planned afresh each time (below), and planning
  // it costs several times running it on an empty due set, which is what most rounds find once
  // the fan-out leases the new deliveries. Only a hint: the claim re-checks everything, and one
  // coming due just after this read is as one coming due just after a claim.
  static const std::string due_sql =
      "SELECT 1 FROM webhook_delivery WHERE status = 'pending'"
      " AND next_attempt_at <= $1::timestamptz ORDER BY next_attempt_at LIMIT 1";
  static const std::string custom_plans_sql = "SET LOCAL plan_cache_mode = force_custom_plan";
  static const std::string commit_sql = "COMMIT";
  auto run = [&]() -> Result<std::vector<DeliveryTask>> {
    std::vector<DeliveryTask> out;
    if (limit <= 0) return out;
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto due = (*c)->query(due_sql, {format_timestamp(now)});
    if (!due) return std::unexpected(due.error());
    if (due->rows() == 0) return out;
    // Planned for each claim with its parameters, in one round trip: a plan cached on the
    // connection (generic, after five runs) is made from the tables as they were then, and
    // one made while the outbox was empty walked every delivery per candidate until the next
    // ANALYZE (a minute of 0.2-0.4 s claims after a fresh migration).
    std::vector<PgStatement> batch{{&kBegin, {}},
                                   {&custom_plans_sql, {}},
                                   {&sql,
                                    {format_timestamp(now), std::string(lease),
                                     format_timestamp(lease_until), int64_t{limit}}},
                                   {&commit_sql, {}}};
    auto results = store_detail::run_checked(**c, batch);
    if (!results) return std::unexpected(results.error());
    const PgResult* r = &(*results)[2];
    constexpr int kEventAt = store_detail::kDeliveryColumnCount;
    constexpr int kUrlAt = kEventAt + store_detail::kEventColumnCount;
    out.reserve(static_cast<size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
      PgRow row(*r, i);
      auto delivery = store_detail::read_delivery(row, 0);
      if (!delivery) return std::unexpected(delivery.error());
      auto event = store_detail::read_event(row, kEventAt);
      if (!event) return std::unexpected(event.error());
      DeliveryTask task{std::move(*delivery),
                        std::move(*event),
                        std::string(row.text(kUrlAt).value_or("")),
                        {std::string(row.text(kUrlAt + 1).value_or(""))}};
      if (auto previous = row.text(kUrlAt + 2)) task.secrets.emplace_back(*previous);
      out.push_back(std::move(task));
    }
    // RETURNING has no defined order: the oldest event first.
    std::sort(out.begin(), out.end(), [](const DeliveryTask& a, const DeliveryTask& b) {
      return std::tie(a.delivery.event_id, a.delivery.id) <
             std::tie(b.delivery.event_id, b.delivery.id);
    });
    return out;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("claiming webhook deliveries"));
  return r;
}

Result<std::vector<DeliveryOutcome>> PgStore::finish_webhook_deliveries(
    std::span<const DeliveryAttempt> attempts, std::chrono::seconds disable_after) {
  // Two round trips for the batch: the endpoints locked and read, and the attempts written, each
  // under its own lease (one set-based statement); then the endpoints' new state, decided here
  // attempt by attempt in input order, the releases of the deliveries next after those that
  // left pending, the disabled endpoints' pending deliveries made to wait, their disabled
  // events, and COMMIT. The releases run after the endpoints' locks were taken, so they read
  // every delivery a fan-out sharing those endpoints inserted (see fan_out_and_lease).
  static const std::string endpoints_sql =
      "SELECT " + kEndpointCols +
      " FROM webhook_endpoint WHERE id IN (SELECT endpoint_id FROM webhook_delivery"
      " WHERE id = ANY($1::uuid[])) ORDER BY id FOR NO KEY UPDATE";
  // A delivery named twice under the same lease (a duplicate outcome) is written once, by the
  // first (DISTINCT ON).
  static const std::string attempts_sql =
      "UPDATE webhook_delivery d SET status = CASE WHEN a.delivered THEN 'delivered'"
      " WHEN a.next_attempt_at IS NULL THEN 'failed' ELSE 'pending' END,"
      " next_attempt_at = COALESCE(a.next_attempt_at, d.next_attempt_at), lease = NULL,"
      " lease_expires_at = NULL, last_attempt_at = a.at, last_http_status = a.http_status,"
      " last_error = a.error, finished_at = CASE WHEN a.delivered OR a.next_attempt_at IS NULL"
      " THEN a.at END FROM (SELECT DISTINCT ON (id, lease) * FROM unnest($1::uuid[], $2::text[],"
      " $3::timestamptz[], $4::boolean[], $5::integer[], $6::text[], $7::timestamptz[])"
      " WITH ORDINALITY AS a(id, lease, at, delivered, http_status, error, next_attempt_at, ord)"
      " ORDER BY id, lease, ord) a WHERE d.id = a.id AND d.lease = a.lease"
      " AND d.status = 'pending' RETURNING a.ord, d.endpoint_id, d.recurring_transfer_id,"
      " d.event_id";
  // For each (endpoint, transfer, event) that left pending: the next pending deliveries of the
  // transfer to the endpoint (every one of that event: a replay may share it), if they wait
  // and the endpoint is enabled (as this transaction left it).
  static const std::string release_sql =
      "UPDATE webhook_delivery d SET next_attempt_at = r.at FROM (SELECT r.endpoint_id,"
      " r.transfer_id, r.at, (SELECT p.event_id FROM webhook_delivery p"
      " WHERE p.status = 'pending' AND p.endpoint_id = r.endpoint_id"
      " AND p.recurring_transfer_id = r.transfer_id AND p.event_id > r.event_id"
      " ORDER BY p.event_id LIMIT 1) AS next_event"
      " FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[])"
      " AS r(endpoint_id, transfer_id, event_id, at)) r JOIN webhook_endpoint w"
      " ON w.id = r.endpoint_id AND w.status = 'enabled' WHERE d.status = 'pending'"
      " AND d.endpoint_id = r.endpoint_id AND d.recurring_transfer_id = r.transfer_id"
      " AND d.event_id = r.next_event AND d.next_attempt_at = $5::timestamptz";
  // A disabled endpoint's pending deliveries wait until it is enabled again (which releases
  // the heads); also those in flight when it was disabled, as they come back pending.
  static const std::string park_sql =
      "UPDATE webhook_delivery SET next_attempt_at = $2::timestamptz WHERE status = 'pending'"
      " AND endpoint_id = ANY($1::uuid[]) AND next_attempt_at <> $2::timestamptz";
  static const std::string endpoint_update_sql =
      "UPDATE webhook_endpoint w SET failing_since = u.failing_since, status = u.status,"
      " disabled_at = u.disabled_at, updated_at = u.updated_at FROM unnest($1::uuid[],"
      " $2::timestamptz[], $3::text[], $4::timestamptz[], $5::timestamptz[])"
      " AS u(id, failing_since, status, disabled_at, updated_at) WHERE w.id = u.id";
  static const std::string commit_sql = "COMMIT";
  auto run = [&]() -> Result<std::vector<DeliveryOutcome>> {
    std::vector<DeliveryOutcome> out(attempts.size());
    std::vector<ArrayLiteral> columns(7);
    std::vector<std::string> ids;
    for (const DeliveryAttempt& a : attempts) {
      std::string id = store_detail::normalize_id(a.delivery_id);
      if (!is_uuid(id)) id = "00000000-0000-0000-0000-000000000000";  // matches no delivery
      columns[0].add(id);
      columns[1].add(a.lease);
      columns[2].add(format_timestamp(a.now));
      columns[3].add(std::string(a.delivered ? "t" : "f"));
      columns[4].add(store_detail::opt_int(a.http_status));
      columns[5].add(store_detail::opt_text(a.error));
      columns[6].add(store_detail::opt_time(a.next_attempt_at));
      ids.push_back(std::move(id));
    }
    std::vector<SqlValue> params;
    params.reserve(columns.size());
    for (const ArrayLiteral& column : columns) params.emplace_back(column.str());
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto read = store_detail::run_checked(**c, {{&kBegin, {}},
                                                {&endpoints_sql, {store_detail::uuid_array(ids)}},
                                                {&attempts_sql, std::move(params)}});
    if (!read) return std::unexpected(read.error());
    auto endpoints =
        store_detail::rows_of<WebhookEndpoint>((*read)[1], store_detail::read_endpoint);
    if (!endpoints) return std::unexpected(endpoints.error());
    std::map<std::string, WebhookEndpoint> by_id;
    for (WebhookEndpoint& e : *endpoints) {
      std::string id = e.id;
      by_id.emplace(std::move(id), std::move(e));
    }
    std::vector<std::string> endpoint_of(attempts.size());
    std::vector<ArrayLiteral> released(4);  // endpoint, transfer, event, at
    int releases = 0;
    const PgResult& written = (*read)[2];
    for (int row = 0; row < written.rows(); ++row) {
      auto ord = written.text(row, 0);
      size_t n = 0;
      if (ord) std::from_chars(ord->data(), ord->data() + ord->size(), n);
      if (n < 1 || n > attempts.size()) return fail(ErrorCode::kInternal, "bad attempt index");
      out[n - 1].written = true;
      endpoint_of[n - 1] = std::string(written.text(row, 1).value_or(""));
      const DeliveryAttempt& a = attempts[n - 1];
      auto transfer_id = written.text(row, 2);
      if ((a.delivered || !a.next_attempt_at) && transfer_id) {
        released[0].add(endpoint_of[n - 1]);
        released[1].add(*transfer_id);
        released[2].add(written.text(row, 3).value_or(""));
        released[3].add(format_timestamp(a.now));
        ++releases;
      }
    }
    // The endpoints' failing_since and status, attempt by attempt.
    std::map<std::string, bool> changed;
    std::vector<Event> events;
    for (size_t i = 0; i < attempts.size(); ++i) {
      if (!out[i].written) continue;
      auto it = by_id.find(endpoint_of[i]);
      if (it == by_id.end()) continue;
      WebhookEndpoint& e = it->second;
      const DeliveryAttempt& a = attempts[i];
      if (a.delivered) {
        if (e.failing_since) changed[e.id] = true;
        e.failing_since.reset();
        continue;
      }
      if (!e.failing_since) {
        e.failing_since = a.now;
        changed[e.id] = true;
      }
      if (e.status == EndpointStatus::kEnabled && *e.failing_since <= a.now - disable_after) {
        e.status = EndpointStatus::kDisabled;
        e.disabled_at = a.now;
        e.updated_at = a.now;
        changed[e.id] = true;
        out[i].endpoint_disabled = true;
        events.push_back(store_detail::endpoint_disabled_event(e, a.now));
      }
    }
    std::vector<PgStatement> finish;
    if (!changed.empty()) {
      std::vector<ArrayLiteral> update(5);
      for (const auto& [id, yes] : changed) {
        const WebhookEndpoint& e = by_id.at(id);
        update[0].add(e.id);
        update[1].add(store_detail::opt_time(e.failing_since));
        update[2].add(to_string(e.status));
        update[3].add(store_detail::opt_time(e.disabled_at));
        update[4].add(format_timestamp(e.updated_at));
      }
      std::vector<SqlValue> values;
      values.reserve(update.size());
      for (const ArrayLiteral& column : update) values.emplace_back(column.str());
      finish.push_back({&endpoint_update_sql, std::move(values)});
    }
    const std::string waiting = format_timestamp(kDeliveryWaiting);
    if (releases > 0) {
      std::vector<SqlValue> values;
      values.reserve(released.size() + 1);
      for (const ArrayLiteral& column : released) values.emplace_back(column.str());
      values.emplace_back(waiting);
      finish.push_back({&release_sql, std::move(values)});
    }
    std::vector<std::string> disabled;
    for (size_t i = 0; i < attempts.size(); ++i) {
      auto it = out[i].written ? by_id.find(endpoint_of[i]) : by_id.end();
      if (it != by_id.end() && it->second.status == EndpointStatus::kDisabled &&
          std::find(disabled.begin(), disabled.end(), it->first) == disabled.end()) {
        disabled.push_back(it->first);
      }
    }
    if (!disabled.empty()) {
      finish.push_back({&park_sql, {store_detail::uuid_array(disabled), waiting}});
    }
    store_detail::add_events(finish, events);
    finish.push_back({&commit_sql, {}});
    auto done = store_detail::run_checked(**c, finish);
    if (!done) return std::unexpected(done.error());
    return out;
  };
  if (attempts.empty()) return std::vector<DeliveryOutcome>{};
  auto r = run();
  if (!r) return std::unexpected(r.error().context("finishing webhook deliveries"));
  return r;
}

Result<Page<WebhookDeliveryRecord>> PgStore::list_webhook_deliveries(const DeliveryFilter& filter) {
  store_detail::ListQuery q('$', store_detail::kDeliveryColumns, "webhook_delivery");
  if (filter.endpoint_id) {
    if (!is_uuid(*filter.endpoint_id)) return Page<WebhookDeliveryRecord>{};  // no match
    q.where("endpoint_id", "=", store_detail::normalize_id(*filter.endpoint_id));
  }
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  return store_detail::list_page<WebhookDeliveryRecord>(pool_, q, filter.cursor, filter.limit,
                                                        store_detail::read_delivery,
                                                        "listing webhook deliveries", true);
}

Result<std::optional<WebhookDeliveryRecord>> PgStore::get_webhook_delivery(std::string_view id) {
  static const std::string sql = "SELECT " + kDeliveryCols + " FROM webhook_delivery WHERE id = $1";
  if (!is_uuid(id)) return std::nullopt;
  std::string key = store_detail::normalize_id(id);
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading webhook delivery " + key));
  auto r = (*c)->query(sql, {key});
  if (!r) return std::unexpected(r.error().context("reading webhook delivery " + key));
  return first_of<WebhookDeliveryRecord>(*r, store_detail::read_delivery);
}

Result<WebhookDeliveryRecord> PgStore::replay_webhook_delivery(std::string_view id, Timestamp now) {
  static const std::string sql =
      "INSERT INTO webhook_delivery (id, event_id, endpoint_id, event_type, recurring_transfer_id,"
      " status, attempts, next_attempt_at, replay_of, created_at) SELECT $2, event_id,"
      " endpoint_id, event_type, recurring_transfer_id, 'pending', 0, $3::timestamptz, id,"
      " $3::timestamptz FROM webhook_delivery WHERE id = $1 RETURNING " +
      kDeliveryCols;
  std::string key = store_detail::normalize_id(id);
  auto run = [&]() -> Result<WebhookDeliveryRecord> {
    if (!is_uuid(key)) return fail(ErrorCode::kNotFound, "no webhook delivery " + key);
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {key, new_uuid_v7(now), format_timestamp(now)});
    if (!r) return std::unexpected(r.error());
    auto d = first_of<WebhookDeliveryRecord>(*r, store_detail::read_delivery);
    if (!d) return std::unexpected(d.error());
    if (!*d) return fail(ErrorCode::kNotFound, "no webhook delivery " + key);
    return std::move(**d);
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("replaying webhook delivery " + key));
  return r;
}

Result<int> PgStore::purge_events(Timestamp before, int limit) {
  // The events' deliveries go with them (ON DELETE CASCADE).
  static const std::string sql =
      "WITH d AS (DELETE FROM event WHERE id IN (SELECT e.id FROM event e"
      " WHERE e.created_at < $1::timestamptz AND e.fanned_out AND NOT EXISTS (SELECT 1"
      " FROM webhook_delivery w WHERE w.event_id = e.id AND w.status = 'pending')"
      " ORDER BY e.created_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1)"
      " SELECT count(*) FROM d";
  if (limit <= 0) return 0;
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("purging events"));
  auto r = (*c)->query(sql, {format_timestamp(before), int64_t{limit}});
  if (!r) return std::unexpected(r.error().context("purging events"));
  return std::stoi(std::string(r->text(0, 0).value_or("0")));
}

Result<EventBacklog> PgStore::event_backlog(int64_t cap) {
  // Each count reads a partial index up to the cap. The oldest event not yet delivered: the
  // first not fanned out, or the first with a pending delivery.
  static const std::string sql =
      "SELECT LEAST($1::bigint, (SELECT count(*) FROM (SELECT 1 FROM webhook_delivery"
      " WHERE status = 'pending' LIMIT $1::bigint) p)) + LEAST($1::bigint, (SELECT count(*)"
      " FROM (SELECT 1 FROM event WHERE NOT fanned_out LIMIT $1::bigint) e)),"
      " LEAST((SELECT created_at FROM event WHERE NOT fanned_out ORDER BY id LIMIT 1),"
      " (SELECT created_at FROM event WHERE id = (SELECT event_id FROM webhook_delivery"
      " WHERE status = 'pending' ORDER BY event_id LIMIT 1)))";
  auto run = [&]() -> Result<EventBacklog> {
    auto c = pool_.acquire();
    if (!c) return std::unexpected(c.error());
    auto r = (*c)->query(sql, {std::max<int64_t>(cap, 0)});
    if (!r) return std::unexpected(r.error());
    EventBacklog out;
    out.pending = std::stoll(std::string(r->text(0, 0).value_or("0")));
    if (auto oldest = r->text(0, 1)) {
      auto t = parse_timestamp(*oldest);
      if (!t) return fail(ErrorCode::kInternal, "bad event time");
      out.oldest = *t;
    }
    return out;
  };
  auto r = run();
  if (!r) return std::unexpected(r.error().context("counting the event backlog"));
  return r;
}

Result<std::vector<Event>> PgStore::list_events(std::optional<std::string> after, int limit) {
  static const std::string sql = "SELECT " + kEventCols +
                                 " FROM event WHERE $1::uuid IS NULL OR id > $1::uuid"
                                 " ORDER BY id LIMIT $2";
  SqlValue from = std::monostate{};
  if (after) {
    if (!is_uuid(*after)) {
      return std::unexpected(
          Error{ErrorCode::kInvalidArgument, "after: not an event id", "after", {}});
    }
    from = store_detail::normalize_id(*after);
  }
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("listing events"));
  auto r = (*c)->query(sql, {from, int64_t{std::max(limit, 0)}});
  if (!r) return std::unexpected(r.error().context("listing events"));
  return store_detail::rows_of<Event>(*r, store_detail::read_event);
}

}  // namespace rtjobs
