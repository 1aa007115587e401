// SqliteStore's outbox and deliveries (SPEC section 8, events to the main API): fanning events
// out to the endpoints, the dispatcher's claims (in order per transfer and endpoint) and
// outcomes, the operator's lists and replays, and the purge of what was sent.
//
// Each write is one BEGIN IMMEDIATE transaction on the write connection, so two dispatchers
// (threads or processes on the same file) never fan out the same event nor claim the same
// delivery, and the per-transfer order is judged against committed state only.
#include <algorithm>
#include <set>
#include <unordered_map>
#include <utility>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/events.hpp"
#include "store/outbox_codec.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::RowView;
using store_detail::SqlValue;
using namespace store_detail::sqlite;

namespace {

using Connection = store_detail::SqliteConnection;

const std::string kEventCols(store_detail::kEventColumns);
const std::string kDeliveryCols(store_detail::kDeliveryColumns);
const std::string kEndpointCols(store_detail::kEndpointColumns);

// The deliveries of one fan-out: [id, event_id, endpoint_id, event_type, transfer_id, behind,
// may_lease] per row, as one JSON parameter of a single INSERT. `behind`: an earlier event of
// the batch has a delivery of the same transfer to the same endpoint (the INSERT cannot see its
// own rows); `may_lease`: not behind, and among the first `may_lease` such.
struct NewDeliveries {
  std::string json = "[";
  int count = 0;
  std::set<std::pair<std::string, std::string>> transfers;  // (endpoint, transfer) so far

  void add(const std::string& id, std::string_view event_id, std::string_view endpoint_id,
           std::string_view event_type, std::optional<std::string_view> transfer_id) {
    bool behind = transfer_id && !transfers.emplace(endpoint_id, *transfer_id).second;
    json += count++ > 0 ? ",[" : "[";
    store_detail::append_json_text(json, id);
    json += ',';
    store_detail::append_json_text(json, event_id);
    json += ',';
    store_detail::append_json_text(json, endpoint_id);
    json += ',';
    store_detail::append_json_text(json, event_type);
    json += ',';
    store_detail::append_json_text(json, transfer_id);
    json += behind ? ",1" : ",0";
    bool leasable = !behind && may_lease > 0;
    if (leasable) --may_lease;
    json += leasable ? ",1]" : ",0]";
  }

  int may_lease = 0;  // how many more (not behind) may be born leased
};

// The claimed deliveries (ids) with their events and their endpoints' url and secrets, oldest
// event first: read_task's columns.
const std::string kTasksSql =
    "SELECT " + store_detail::qualified(store_detail::kDeliveryColumns, "d") + ", " +
    store_detail::qualified(store_detail::kEventColumns, "e") +
    ", w.url, w.secret, w.previous_secret, w.previous_secret_expires_at"
    " FROM webhook_delivery AS d JOIN event AS e ON e.id = d.event_id"
    " JOIN webhook_endpoint AS w ON w.id = d.endpoint_id"
    " WHERE d.id IN (SELECT value FROM json_each(?1)) ORDER BY d.event_id, d.id";

// A claimed delivery read with its event and its endpoint's url and secrets.
Result<DeliveryTask> read_task(const RowView& row, int first, Timestamp now) {
  auto delivery = store_detail::read_delivery(row, first);
  if (!delivery) return std::unexpected(delivery.error());
  int next = first + store_detail::kDeliveryColumnCount;
  auto event = store_detail::read_event(row, next);
  if (!event) return std::unexpected(event.error());
  next += store_detail::kEventColumnCount;
  DeliveryTask task{std::move(*delivery), std::move(*event), {}, {}};
  task.url = std::string(row.text(next).value_or(""));
  task.secrets.emplace_back(row.text(next + 1).value_or(""));
  auto previous = row.text(next + 2);
  auto expires = row.text(next + 3);
  if (previous && expires) {
    auto at = parse_timestamp(*expires);
    if (!at) return fail(ErrorCode::kInternal, "reading webhook_endpoint: bad expiry");
    if (*at > now) task.secrets.emplace_back(*previous);
  }
  return task;
}

// The tasks of the deliveries `ids` (claimed or born leased), oldest event first.
Result<std::vector<DeliveryTask>> read_tasks(Connection& c, const std::vector<std::string>& ids,
                                             Timestamp now) {
  std::vector<DeliveryTask> tasks;
  if (ids.empty()) return tasks;
  tasks.reserve(ids.size());
  auto read = c.run(kTasksSql, {json_array(ids)}, [&](const RowView& row) -> Result<void> {
    auto task = read_task(row, 0, now);
    if (!task) return std::unexpected(task.error());
    tasks.push_back(std::move(*task));
    return {};
  });
  if (!read) return std::unexpected(read.error());
  return tasks;
}

// Writes one attempt's outcome under its lease, and what it says of the endpoint; adds the
// endpoint's disabled event to `events` when the attempt disabled it. A delivery leaving pending
// releases the next one of its transfer to an enabled endpoint; a disabled endpoint's pending
// deliveries wait (see Store::finish_webhook_deliveries).
Result<DeliveryOutcome> finish_one(Connection& c, const DeliveryAttempt& a,
                                   std::chrono::seconds disable_after, std::vector<Event>& events) {
  static const std::string delivery_sql =
      "UPDATE webhook_delivery SET status = ?4, lease = NULL, lease_expires_at = NULL,"
      " last_attempt_at = ?3, last_http_status = ?5, last_error = ?6,"
      " next_attempt_at = IIF(?4 = 'pending', ?7, next_attempt_at),"
      " finished_at = IIF(?4 = 'pending', NULL, ?3)"
      " WHERE id = ?1 AND lease = ?2 AND status = 'pending'"
      " RETURNING endpoint_id, recurring_transfer_id, event_id";
  static const std::string recovered_sql =
      "UPDATE webhook_endpoint SET failing_since = NULL WHERE id = ?1 RETURNING status";
  static const std::string failing_sql =
      "UPDATE webhook_endpoint SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1"
      " RETURNING status";
  static const std::string disable_sql =
      "UPDATE webhook_endpoint SET status = 'disabled', disabled_at = ?2, updated_at = ?2"
      " WHERE id = ?1 AND status = 'enabled' AND failing_since <= ?3 RETURNING " +
      kEndpointCols;
  // The next pending delivery of the transfer to the endpoint (every one of that event: a
  // replay may share it), if it waits.
  static const std::string release_sql =
      "UPDATE webhook_delivery SET next_attempt_at = ?4 WHERE status = 'pending'"
      " AND endpoint_id = ?1 AND recurring_transfer_id = ?2 AND next_attempt_at = ?5"
      " AND event_id = (SELECT min(event_id) FROM webhook_delivery"
      " INDEXED BY webhook_delivery_order_idx WHERE status = 'pending' AND endpoint_id = ?1"
      " AND recurring_transfer_id = ?2 AND event_id > ?3)";
  static const std::string park_sql =
      "UPDATE webhook_delivery SET next_attempt_at = ?2 WHERE status = 'pending'"
      " AND endpoint_id = ?1 AND next_attempt_at <> ?2";
  DeliveryStatus status = a.delivered         ? DeliveryStatus::kDelivered
                          : a.next_attempt_at ? DeliveryStatus::kPending
                                              : DeliveryStatus::kFailed;
  std::string now = format_timestamp(a.now);
  std::optional<std::string> endpoint_id;
  std::optional<std::string> transfer_id;
  std::string event_id;
  auto up = c.run(delivery_sql,
                  {store_detail::normalize_id(a.delivery_id), a.lease, now,
                   std::string(to_string(status)), store_detail::opt_int(a.http_status),
                   store_detail::opt_text(a.error), store_detail::opt_time(a.next_attempt_at)},
                  [&](const RowView& row) -> Result<void> {
                    endpoint_id = std::string(row.text(0).value_or(""));
                    if (auto t = row.text(1)) transfer_id = std::string(*t);
                    event_id = std::string(row.text(2).value_or(""));
                    return {};
                  });
  if (!up) return std::unexpected(up.error());
  DeliveryOutcome out;
  if (!endpoint_id) return out;  // the lease was lost
  out.written = true;
  std::string endpoint_status;
  auto read_status = [&](const RowView& row) -> Result<void> {
    endpoint_status = std::string(row.text(0).value_or(""));
    return {};
  };
  if (a.delivered) {
    auto recovered = c.run(recovered_sql, {*endpoint_id}, read_status);
    if (!recovered) return std::unexpected(recovered.error());
  } else {
    auto failing = c.run(failing_sql, {*endpoint_id, now}, read_status);
    if (!failing) return std::unexpected(failing.error());
    auto disabled = query_one<WebhookEndpoint>(
        c, disable_sql, {*endpoint_id, now, format_timestamp(a.now - disable_after)},
        store_detail::read_endpoint);
    if (!disabled) return std::unexpected(disabled.error());
    if (*disabled) {
      out.endpoint_disabled = true;
      endpoint_status = "disabled";
      events.push_back(store_detail::endpoint_disabled_event(**disabled, a.now));
    }
  }
  const std::string waiting = format_timestamp(kDeliveryWaiting);
  if (endpoint_status != "enabled") {
    // Disabled (now or earlier, this attempt being one in flight then): nothing is due until
    // it is enabled again, which releases the heads.
    auto parked = c.run(park_sql, {*endpoint_id, waiting});
    if (!parked) return std::unexpected(parked.error());
  } else if (status != DeliveryStatus::kPending && transfer_id) {
    auto released = c.run(release_sql, {*endpoint_id, *transfer_id, event_id, now, waiting});
    if (!released) return std::unexpected(released.error());
  }
  return out;
}

int64_t count_of(std::optional<std::string_view> text) {
  return text ? std::stoll(std::string(*text)) : 0;
}

}  // namespace

Result<FanOut> SqliteStore::fan_out_and_lease(Timestamp now, int limit, const FanOutLease& lease) {
  // The oldest events not fanned out (those written while no endpoint was enabled are born
  // fanned out: insert_events), each with every endpoint that takes it (none: one row with a
  // NULL endpoint, so the event is still marked). A delivery behind a pending one of an
  // earlier event of its transfer to its endpoint waits (kDeliveryWaiting): in this batch, or
  // already stored; the one write transaction sees every finish before or after it whole, so
  // the earlier one's finish releases it. One allowed a lease (not behind, within lease.limit)
  // is born leased when the claim would take it now: it does not wait and no earlier event of
  // its transfer is left not fanned out (the events are marked before the insert).
  static const std::string select_sql =
      "SELECT e.id, e.type, e.recurring_transfer_id, w.id FROM (SELECT id, type,"
      " recurring_transfer_id, created_at FROM event INDEXED BY event_unfanned_idx"
      " WHERE fanned_out = 0 ORDER BY id LIMIT ?1) AS e"
      " LEFT JOIN webhook_endpoint AS w ON w.status = 'enabled' AND w.created_at <= e.created_at"
      " AND (w.event_types = '' OR instr(',' || w.event_types || ',', ',' || e.type || ',') > 0)"
      " ORDER BY e.id, w.id";
  static const std::string mark_sql =
      "UPDATE event SET fanned_out = 1 WHERE id IN (SELECT value FROM json_each(?1))";
  static const std::string insert_sql =
      "INSERT INTO webhook_delivery (id, event_id, endpoint_id, event_type,"
      " recurring_transfer_id, status, attempts, next_attempt_at, lease, lease_expires_at,"
      " created_at) SELECT id, event_id, endpoint_id, event_type, recurring_transfer_id,"
      " 'pending', leased, IIF(waits, ?3, IIF(leased, ?5, ?2)), IIF(leased, ?4, NULL),"
      " IIF(leased, ?5, NULL), ?2 FROM (SELECT *, NOT waits AND may_lease AND NOT EXISTS"
      " (SELECT 1 FROM event AS e WHERE e.fanned_out = 0"
      " AND e.recurring_transfer_id = d.recurring_transfer_id AND e.id < d.event_id) AS leased"
      " FROM (SELECT value ->> 0 AS id, value ->> 1 AS event_id, value ->> 2 AS endpoint_id,"
      " value ->> 3 AS event_type, value ->> 4 AS recurring_transfer_id,"
      " value ->> 6 AS may_lease, value ->> 5 OR EXISTS (SELECT 1 FROM webhook_delivery AS p"
      " INDEXED BY webhook_delivery_order_idx WHERE p.status = 'pending'"
      " AND p.endpoint_id = value ->> 2 AND p.recurring_transfer_id = value ->> 4"
      " AND p.event_id < value ->> 1) AS waits FROM json_each(?1)) AS d) RETURNING id, lease";
  auto r = write<FanOut>([&](Connection& c) -> Result<FanOut> {
    FanOut out;
    std::vector<std::string> event_ids;
    NewDeliveries deliveries;
    deliveries.may_lease = lease.lease.empty() ? 0 : lease.limit;
    auto selected =
        c.run(select_sql, {int64_t{std::max(limit, 0)}}, [&](const RowView& row) -> Result<void> {
          std::string_view event_id = row.text(0).value_or("");
          if (event_ids.empty() || event_ids.back() != event_id) event_ids.emplace_back(event_id);
          if (auto endpoint_id = row.text(3)) {
            // Ids in event order, so the newest delivery is the newest event's.
            deliveries.add(new_uuid_v7(now), event_id, *endpoint_id, row.text(1).value_or(""),
                           row.text(2));
          }
          return {};
        });
    if (!selected) return std::unexpected(selected.error());
    if (event_ids.empty()) return out;
    auto marked = c.run(mark_sql, {json_array(event_ids)});
    if (!marked) return std::unexpected(marked.error());
    out.events = static_cast<int>(event_ids.size());
    if (deliveries.count == 0) return out;
    std::vector<std::string> leased;
    auto ins =
        c.run(insert_sql,
              {deliveries.json + "]", format_timestamp(now), format_timestamp(kDeliveryWaiting),
               lease.lease, format_timestamp(lease.until)},
              [&](const RowView& row) -> Result<void> {
                if (row.text(1)) {  // (`lease IS NOT NULL` here reads 1 on SQLite 3.40)
                  leased.emplace_back(row.text(0).value_or(""));
                }
                return {};
              });
    if (!ins) return std::unexpected(ins.error().context("inserting deliveries"));
    auto tasks = read_tasks(c, leased, now);
    if (!tasks) return std::unexpected(tasks.error());
    out.leased = std::move(*tasks);
    return out;
  });
  if (!r) return std::unexpected(r.error().context("fanning out events"));
  return r;
}

Result<std::vector<DeliveryTask>> SqliteStore::claim_webhook_deliveries(Timestamp now,
                                                                        std::string_view lease,
                                                                        Timestamp lease_until,
                                                                        int limit) {
  // Due pending deliveries of enabled endpoints whose lease is free or expired, the longest due
  // first (then the oldest event), held back while an earlier event of their transfer is not
  // fanned out yet or has a pending delivery to the same endpoint (a NULL transfer matches
  // neither: no order to keep). A claimed delivery is due again when its lease runs out
  // (next_attempt_at = the lease's end), so the due index holds only deliveries to send: the
  // scan in its order stops at the limit, whatever the number in flight or the backlog.
  static const std::string claim_sql =
      "UPDATE webhook_delivery SET lease = ?2, lease_expires_at = ?3, next_attempt_at = ?3,"
      " attempts = attempts + 1"
      " WHERE id IN (SELECT d.id FROM webhook_delivery AS d"
      " INDEXED BY webhook_delivery_due_idx JOIN webhook_endpoint AS w ON w.id = d.endpoint_id"
      " WHERE d.status = 'pending' AND d.next_attempt_at <= ?1"
      " AND (d.lease IS NULL OR d.lease_expires_at <= ?1) AND w.status = 'enabled'"
      " AND NOT EXISTS (SELECT 1 FROM event AS e WHERE e.fanned_out = 0"
      " AND e.recurring_transfer_id = d.recurring_transfer_id AND e.id < d.event_id)"
      " AND NOT EXISTS (SELECT 1 FROM webhook_delivery AS p WHERE p.status = 'pending'"
      " AND p.endpoint_id = d.endpoint_id AND p.recurring_transfer_id = d.recurring_transfer_id"
      " AND p.event_id < d.event_id)"
      " ORDER BY d.next_attempt_at, d.event_id LIMIT ?4) RETURNING id";
  auto r =
      write<std::vector<DeliveryTask>>([&](Connection& c) -> Result<std::vector<DeliveryTask>> {
        std::vector<std::string> ids;
        auto claimed = c.run(claim_sql,
                             {format_timestamp(now), std::string(lease),
                              format_timestamp(lease_until), int64_t{std::max(limit, 0)}},
                             [&](const RowView& row) -> Result<void> {
                               ids.emplace_back(row.text(0).value_or(""));
                               return {};
                             });
        if (!claimed) return std::unexpected(claimed.error());
        return read_tasks(c, ids, now);
      });
  if (!r) return std::unexpected(r.error().context("claiming webhook deliveries"));
  return r;
}

Result<std::vector<DeliveryOutcome>> SqliteStore::finish_webhook_deliveries(
    std::span<const DeliveryAttempt> attempts, std::chrono::seconds disable_after) {
  if (attempts.empty()) return std::vector<DeliveryOutcome>{};
  auto r = write<std::vector<DeliveryOutcome>>(
      [&](Connection& c) -> Result<std::vector<DeliveryOutcome>> {
        std::vector<DeliveryOutcome> out;
        out.reserve(attempts.size());
        std::vector<Event> events;
        for (const DeliveryAttempt& a : attempts) {
          auto written = finish_one(c, a, disable_after, events);
          if (!written)
            return std::unexpected(written.error().context("delivery " + a.delivery_id));
          out.push_back(*written);
        }
        if (auto ins = insert_events(c, events); !ins) return std::unexpected(ins.error());
        return out;
      });
  if (!r) return std::unexpected(r.error().context("finishing webhook deliveries"));
  return r;
}

Result<Page<WebhookDeliveryRecord>> SqliteStore::list_webhook_deliveries(
    const DeliveryFilter& filter) {
  store_detail::ListQuery q('?', store_detail::kDeliveryColumns, "webhook_delivery");
  q.newest_first();
  if (filter.endpoint_id)
    q.where("endpoint_id", "=", store_detail::normalize_id(*filter.endpoint_id));
  if (filter.status) q.where("status", "=", std::string(to_string(*filter.status)));
  if (filter.cursor) {
    auto before = store_detail::decode_cursor(*filter.cursor);
    if (!before) return std::unexpected(before.error());
    q.where("id", "<", *before);
  }
  std::string sql = q.sql(filter.limit);
  auto rows = read<std::vector<WebhookDeliveryRecord>>([&](Connection& c) {
    return query<WebhookDeliveryRecord>(c, sql, q.params(), store_detail::read_delivery);
  });
  if (!rows) return std::unexpected(rows.error().context("listing webhook deliveries"));
  return store_detail::finish_page(std::move(*rows), filter.limit);
}

Result<std::optional<WebhookDeliveryRecord>> SqliteStore::get_webhook_delivery(
    std::string_view id) {
  static const std::string sql = "SELECT " + kDeliveryCols + " FROM webhook_delivery WHERE id = ?1";
  std::string key = store_detail::normalize_id(id);
  auto r = read<std::optional<WebhookDeliveryRecord>>([&](Connection& c) {
    return query_one<WebhookDeliveryRecord>(c, sql, {key}, store_detail::read_delivery);
  });
  if (!r) return std::unexpected(r.error().context("reading webhook delivery " + key));
  return r;
}

Result<WebhookDeliveryRecord> SqliteStore::replay_webhook_delivery(std::string_view id,
                                                                   Timestamp now) {
  static const std::string sql =
      "INSERT INTO webhook_delivery (id, event_id, endpoint_id, event_type,"
      " recurring_transfer_id, status, attempts, next_attempt_at, replay_of, created_at)"
      " SELECT ?2, event_id, endpoint_id, event_type, recurring_transfer_id, 'pending', 0, ?3,"
      " id, ?3 FROM webhook_delivery WHERE id = ?1 RETURNING " +
      kDeliveryCols;
  std::string key = store_detail::normalize_id(id);
  auto r = write<WebhookDeliveryRecord>([&](Connection& c) -> Result<WebhookDeliveryRecord> {
    auto replay = query_one<WebhookDeliveryRecord>(
        c, sql, {key, new_uuid_v7(now), format_timestamp(now)}, store_detail::read_delivery);
    if (!replay) return std::unexpected(replay.error());
    if (!*replay) return fail(ErrorCode::kNotFound, "no webhook delivery " + key);
    return std::move(**replay);
  });
  if (!r) return std::unexpected(r.error().context("replaying webhook delivery " + key));
  return r;
}

Result<int> SqliteStore::purge_events(Timestamp before, int limit) {
  // Their deliveries go with them (ON DELETE CASCADE).
  static const std::string sql =
      "DELETE FROM event WHERE id IN (SELECT e.id FROM event AS e INDEXED BY event_created_idx"
      " WHERE e.created_at < ?1 AND e.fanned_out = 1 AND NOT EXISTS (SELECT 1"
      " FROM webhook_delivery AS d WHERE d.event_id = e.id AND d.status = 'pending')"
      " ORDER BY e.created_at LIMIT ?2)";
  auto r = write<int>([&](Connection& c) {
    return c.run(sql, {format_timestamp(before), int64_t{std::max(limit, 0)}});
  });
  if (!r) return std::unexpected(r.error().context("purging events"));
  return r;
}

Result<EventBacklog> SqliteStore::event_backlog(int64_t cap) {
  // The oldest event not yet delivered: the first not fanned out, or the first with a pending
  // delivery (ids are in creation order).
  static const std::string sql =
      "SELECT (SELECT count(*) FROM (SELECT 1 FROM webhook_delivery"
      " INDEXED BY webhook_delivery_due_idx WHERE status = 'pending' LIMIT ?1)),"
      " (SELECT count(*) FROM (SELECT 1 FROM event INDEXED BY event_unfanned_idx"
      " WHERE fanned_out = 0 LIMIT ?1)),"
      " (SELECT created_at FROM event WHERE id = (SELECT min(id) FROM event"
      " INDEXED BY event_unfanned_idx WHERE fanned_out = 0)),"
      " (SELECT created_at FROM event WHERE id = (SELECT min(event_id) FROM webhook_delivery"
      " INDEXED BY webhook_delivery_due_idx WHERE status = 'pending'))";
  EventBacklog backlog;
  auto r = read<int>([&](Connection& c) {
    return c.run(sql, {std::max<int64_t>(cap, 0)}, [&](const RowView& row) -> Result<void> {
      backlog.pending = count_of(row.text(0)) + count_of(row.text(1));
      for (int column : {2, 3}) {
        auto text = row.text(column);
        if (!text) continue;
        auto at = parse_timestamp(*text);
        if (!at) return fail(ErrorCode::kInternal, "reading event: bad created_at");
        if (!backlog.oldest || *at < *backlog.oldest) backlog.oldest = *at;
      }
      return {};
    });
  });
  if (!r) return std::unexpected(r.error().context("measuring the event backlog"));
  return backlog;
}

Result<std::vector<Event>> SqliteStore::list_events(std::optional<std::string> after, int limit) {
  static const std::string sql =
      "SELECT " + kEventCols + " FROM event WHERE id > ?1 ORDER BY id LIMIT ?2";
  std::string from = after ? store_detail::normalize_id(*after) : std::string();
  auto r = read<std::vector<Event>>([&](Connection& c) {
    return query<Event>(c, sql, {from, int64_t{std::max(limit, 0)}}, store_detail::read_event);
  });
  if (!r) return std::unexpected(r.error().context("listing events"));
  return r;
}

}  // namespace rtjobs
