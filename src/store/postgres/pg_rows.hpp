// Reading records out of a PgResult, and array parameters (internal to src/store/postgres).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "core/time_format.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/record_codec.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

// Every row of `result`, read with `read` from column `first` on.
template <class T>
Result<std::vector<T>> rows_of(const PgResult& result, Result<T> (*read)(const RowView&, int),
                               int first = 0) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(result.rows()));
  for (int i = 0; i < result.rows(); ++i) {
    auto v = read(PgRow(result, i), first);
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
  }
  return out;
}

// The first row of `result`, if any.
template <class T>
Result<std::optional<T>> first_of(const PgResult& result, Result<T> (*read)(const RowView&, int),
                                  int first = 0) {
  if (result.rows() == 0) return std::nullopt;
  auto v = read(PgRow(result, 0), first);
  if (!v) return std::unexpected(v.error());
  return std::move(*v);
}

// One page of a list query: the cursor bound (the next page's ids come after the cursor's, in
// the query's order: before it when the query lists the newest first), the query on a pooled
// connection, the rows read.
template <class T, class Reader>
Result<Page<T>> list_page(PgPool& pool, ListQuery& q, const std::optional<std::string>& cursor,
                          int limit, Reader read, std::string_view what,
                          bool newest_first = false) {
  if (newest_first) q.newest_first();
  if (cursor) {
    auto after = decode_cursor(*cursor);
    if (!after) return std::unexpected(after.error());
    q.where("id", newest_first ? "<" : ">", *after);
  }
  std::string sql = q.sql(limit);
  auto c = pool.acquire();
  if (!c) return std::unexpected(c.error().context(what));
  auto r = (*c)->query(sql, q.params());
  if (!r) return std::unexpected(r.error().context(what));
  auto rows = rows_of<T>(*r, read);
  if (!rows) return std::unexpected(rows.error());
  return finish_page(std::move(*rows), limit);
}

// Ids (already checked with is_uuid, so no quoting is needed) as a PostgreSQL array literal,
// for "= ANY($1::uuid[])": one parameter for any number of ids.
inline std::string uuid_array(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (const std::string& id : ids) {
    if (out.size() > 1) out += ',';
    out += id;
  }
  return out + "}";
}

// A PostgreSQL array literal built one element at a time, for a batch passed as one array
// parameter per column ("unnest($1::text[], $2::integer[], ...)"): every element is quoted,
// with '"' and '\\' escaped, and an absent value is an unquoted NULL. Works for any element
// type whose text form the server parses (text, uuid, integer, boolean, timestamptz).
class ArrayLiteral {
 public:
  void add(std::string_view value) {
    separate();
    out_ += '"';
    for (char ch : value) {
      if (ch == '"' || ch == '\\') out_ += '\\';
      out_ += ch;
    }
    out_ += '"';
  }
  void add(const std::string& value) { add(std::string_view(value)); }
  void add(const SqlValue& value) {
    if (const auto* s = std::get_if<std::string>(&value)) {
      add(std::string_view(*s));
    } else if (const auto* n = std::get_if<int64_t>(&value)) {
      separate();
      out_ += std::to_string(*n);
    } else {
      add_null();
    }
  }
  void add_null() {
    separate();
    out_ += "NULL";
  }
  std::string str() const { return out_ + "}"; }

 private:
  void separate() {
    if (out_.size() > 1) out_ += ',';
  }
  std::string out_ = "{";
};

// "Now" in a statement that decides a lease or a due time, from its parameter `param` (say
// "$6"), which PgStore::clock() fills: NULL, hence the database server's now(), except in tests
// with a manual clock; so instances whose clocks disagree judge every lease and due time on one
// clock. Cut to milliseconds, the precision of every stored instant.
// now(), the start of the transaction, rather than clock_timestamp(): each statement that
// decides (a claim, a batch claim, a rescue, a count) is a transaction of its own, so now() is
// the one instant the whole statement judges by, every row of a batch alike; it is stable, so
// "due_at <= now()" stays an index condition of the due indexes (clock_timestamp() is
// volatile: re-read per row, a filter over every job not yet due); and, read when the statement
// starts, it never judges a lease expired later than the statement began. A claim that waited
// for a row lock writes a lease that started before the wait, shorter by it: waits are on short
// transactions (the batch claims never wait, SKIP LOCKED), far below a lease's margin.
inline std::string db_now(std::string_view param) {
  return "date_trunc('milliseconds', COALESCE(" + std::string(param) + "::timestamptz, now()))";
}

// The lease a claim writes: db_now(`clock`) plus `lease_ms` (a bigint parameter, the request's
// lease_expires_at - now), so the lease is measured on the clock that judges it.
// Appended, not "(" + ...: GCC 12 warns falsely there at -O3 (-Wrestrict, GCC bug 105329).
inline std::string lease_expiry(std::string_view clock, std::string_view lease_ms) {
  std::string sql = "(";
  sql.append(db_now(clock)).append(" + ").append(lease_ms);
  sql.append("::bigint * interval '1 millisecond')");
  return sql;
}

// The request's lease length (lease_expires_at - now), the parameter of lease_expiry.
inline int64_t lease_ms(Timestamp now, Timestamp lease_expires_at) {
  return (lease_expires_at - now).count();
}

// SPEC section 3: a transfer whose last occurrence is terminal becomes COMPLETED, paused or not
// (a PAUSED transfer's last occurrence ends SKIPPED). Exhausted as the row has it: no next
// occurrence is left to create (next_occurrence_at NULL), whatever a plan made before a change
// of the schedule's end said. $1 the transfers (uuid[]), $2 now. Returns the transfers it
// completed, for their transfer.completed events. Where an earlier statement locked the
// transfers, the NOT EXISTS sees every job written before; the row lock this UPDATE takes
// itself re-checks the row, not the jobs, so every caller locks the transfers first
// (kLockTransfersSql).
inline const std::string kCompleteIfDoneSql =
    "UPDATE recurring_transfer t SET status = 'COMPLETED', updated_at = $2::timestamptz,"
    " version = t.version + 1 WHERE t.id = ANY($1::uuid[]) AND t.status IN ('ACTIVE', 'PAUSED')"
    " AND t.next_occurrence_at IS NULL AND NOT EXISTS (SELECT 1 FROM recurring_transfer_job o"
    " WHERE o.recurring_transfer_id = t.id"
    " AND o.status NOT IN ('FINISHED', 'FAILED', 'SKIPPED', 'CANCELLED')) RETURNING " +
    qualified(kTransferColumns, "t");

// The transfers ($1, uuid[]) locked in id order, for a later kCompleteIfDoneSql: a transaction
// that holds none of their jobs' rows (pg_maintenance.cpp's lock order: transfer, then jobs).
inline const std::string kLockTransfersSql =
    "SELECT id FROM recurring_transfer WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE";
// The same for a transaction that already holds some of their jobs' rows (a claim's skips): it
// never waits, hence never deadlocks, and answers the transfers it locked.
inline const std::string kTryLockTransfersSql = kLockTransfersSql + " SKIP LOCKED";

// A planned schedule end (Completion::planned_end, Extension::planned_end) as one element of
// each of two array parameters, date[] and integer[] (NULL where the schedule has none).
inline void add_planned_end(const ScheduleEnd& end, ArrayLiteral& end_dates, ArrayLiteral& counts) {
  end_dates.add(end.end_date ? SqlValue(format_date(*end.end_date)) : SqlValue());
  counts.add(end.count ? SqlValue(int64_t{*end.count}) : SqlValue());
}

// Job rows as one array parameter per column, in kJobColumns order: the server reads arrays far
// faster than JSON (json_populate_recordset was a third of a batch completion's time).
inline std::vector<SqlValue> job_arrays(const std::vector<Job>& jobs) {
  std::vector<ArrayLiteral> columns(kJobColumnCount);
  for (const Job& job : jobs) {
    std::vector<SqlValue> values = job_values(job);
    for (int i = 0; i < kJobColumnCount; ++i) columns[i].add(values[i]);
  }
  std::vector<SqlValue> out;
  out.reserve(columns.size());
  for (const ArrayLiteral& column : columns) out.emplace_back(column.str());
  return out;
}

// The arguments of "unnest(...) AS n(<kJobColumns>)" for the arrays of job_arrays, passed as
// parameters $first, $first + 1, ...
inline std::string job_unnest_args(int first) {
  static constexpr std::array<std::string_view, kJobColumnCount> kTypes{
      "uuid",        "uuid",        "bigint",      "date",        "timestamptz",
      "text",        "text",        "integer",     "timestamptz", "text",
      "text",        "text",        "text",        "text",        "timestamptz",
      "timestamptz", "timestamptz", "timestamptz", "text",        "text",
      "timestamptz", "text",        "integer",     "timestamptz", "integer"};
  std::string out;
  for (int i = 0; i < kJobColumnCount; ++i) {
    if (i > 0) out += ", ";
    out.append("$").append(std::to_string(first + i)).append("::").append(kTypes[i]).append("[]");
  }
  return out;
}

}  // namespace rtjobs::store_detail
