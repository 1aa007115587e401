// SqliteStore's webhook endpoints (SPEC section 8, events to the main API): an operator's
// registrations, their secrets' rotation and re-enabling after the dispatcher disabled one
// (its waiting deliveries released in the same transaction).
#include "core/time_format.hpp"
#include "store/outbox_codec.hpp"
#include "store/sqlite/sqlite_queries.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::SqlValue;
using namespace store_detail::sqlite;

namespace {

using Connection = store_detail::SqliteConnection;

const std::string kEndpointCols(store_detail::kEndpointColumns);

// An UPDATE of one endpoint (?1 its id) returning it; kNotFound when there is none.
Result<WebhookEndpoint> update_endpoint(Connection& c, const std::string& sql,
                                        const std::vector<SqlValue>& params) {
  auto updated = query_one<WebhookEndpoint>(c, sql, params, store_detail::read_endpoint);
  if (!updated) return std::unexpected(updated.error());
  if (!*updated) {
    return fail(ErrorCode::kNotFound, "no webhook endpoint " + std::get<std::string>(params[0]));
  }
  return std::move(**updated);
}

}  // namespace

Result<WebhookEndpoint> SqliteStore::create_webhook_endpoint(const WebhookEndpoint& endpoint) {
  static const std::string sql =
      "INSERT INTO webhook_endpoint (" + kEndpointCols + ") VALUES (" +
      store_detail::placeholders('?', store_detail::kEndpointColumnCount) + ") RETURNING " +
      kEndpointCols;
  WebhookEndpoint e = endpoint;
  e.id = store_detail::normalize_id(e.id);
  auto r = write<WebhookEndpoint>(
      [&](Connection& c) { return update_endpoint(c, sql, store_detail::endpoint_values(e)); });
  if (!r) return std::unexpected(r.error().context("creating webhook endpoint " + e.id));
  return r;
}

Result<std::optional<WebhookEndpoint>> SqliteStore::get_webhook_endpoint(std::string_view id) {
  static const std::string sql = "SELECT " + kEndpointCols + " FROM webhook_endpoint WHERE id = ?1";
  std::string key = store_detail::normalize_id(id);
  auto r = read<std::optional<WebhookEndpoint>>([&](Connection& c) {
    return query_one<WebhookEndpoint>(c, sql, {key}, store_detail::read_endpoint);
  });
  if (!r) return std::unexpected(r.error().context("reading webhook endpoint " + key));
  return r;
}

Result<Page<WebhookEndpoint>> SqliteStore::list_webhook_endpoints(
    int limit, std::optional<std::string> cursor) {
  store_detail::ListQuery q('?', store_detail::kEndpointColumns, "webhook_endpoint");
  if (cursor) {
    auto after = store_detail::decode_cursor(*cursor);
    if (!after) return std::unexpected(after.error());
    q.where("id", ">", *after);
  }
  std::string sql = q.sql(limit);
  auto rows = read<std::vector<WebhookEndpoint>>([&](Connection& c) {
    return query<WebhookEndpoint>(c, sql, q.params(), store_detail::read_endpoint);
  });
  if (!rows) return std::unexpected(rows.error().context("listing webhook endpoints"));
  return store_detail::finish_page(std::move(*rows), limit);
}

Result<void> SqliteStore::delete_webhook_endpoint(std::string_view id) {
  // Its deliveries go with it (ON DELETE CASCADE; the connections enforce foreign keys).
  static const std::string sql = "DELETE FROM webhook_endpoint WHERE id = ?1";
  std::string key = store_detail::normalize_id(id);
  auto r = write<void>([&](Connection& c) -> Result<void> {
    auto deleted = c.run(sql, {key});
    if (!deleted) return std::unexpected(deleted.error());
    if (*deleted == 0) return fail(ErrorCode::kNotFound, "no webhook endpoint " + key);
    return {};
  });
  if (!r) return std::unexpected(r.error().context("deleting webhook endpoint " + key));
  return r;
}

Result<WebhookEndpoint> SqliteStore::rotate_webhook_secret(std::string_view id, std::string secret,
                                                           Timestamp previous_expires_at,
                                                           Timestamp now) {
  static const std::string sql =
      "UPDATE webhook_endpoint SET previous_secret = secret, previous_secret_expires_at = ?3,"
      " secret = ?2, updated_at = ?4 WHERE id = ?1 RETURNING " +
      kEndpointCols;
  std::string key = store_detail::normalize_id(id);
  auto r = write<WebhookEndpoint>([&](Connection& c) {
    return update_endpoint(
        c, sql,
        {key, std::move(secret), format_timestamp(previous_expires_at), format_timestamp(now)});
  });
  if (!r)
    return std::unexpected(r.error().context("rotating the secret of webhook endpoint " + key));
  return r;
}

Result<WebhookEndpoint> SqliteStore::enable_webhook_endpoint(std::string_view id, Timestamp now) {
  static const std::string sql =
      "UPDATE webhook_endpoint SET status = 'enabled', failing_since = NULL, disabled_at = NULL,"
      " updated_at = ?2 WHERE id = ?1 RETURNING " +
      kEndpointCols;
  // The waiting deliveries no earlier pending one of their transfer holds back: due now.
  static const std::string heads_sql =
      "UPDATE webhook_delivery SET next_attempt_at = ?2 WHERE status = 'pending'"
      " AND endpoint_id = ?1 AND next_attempt_at = ?3 AND NOT EXISTS (SELECT 1"
      " FROM webhook_delivery AS p INDEXED BY webhook_delivery_order_idx"
      " WHERE p.status = 'pending' AND p.endpoint_id = ?1"
      " AND p.recurring_transfer_id = webhook_delivery.recurring_transfer_id"
      " AND p.event_id < webhook_delivery.event_id)";
  std::string key = store_detail::normalize_id(id);
  auto r = write<WebhookEndpoint>([&](Connection& c) -> Result<WebhookEndpoint> {
    std::string at = format_timestamp(now);
    auto enabled = update_endpoint(c, sql, {key, at});
    if (!enabled) return enabled;
    auto heads = c.run(heads_sql, {key, at, format_timestamp(kDeliveryWaiting)});
    if (!heads) return std::unexpected(heads.error().context("releasing its deliveries"));
    return enabled;
  });
  if (!r) return std::unexpected(r.error().context("enabling webhook endpoint " + key));
  return r;
}

}  // namespace rtjobs
