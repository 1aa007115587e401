// The two tables a backup holds, column by column, and the mapping between a database row, a
// CSV record and a restore row. Each column has a kind, so values are written in one canonical
// text whichever database printed them (PostgreSQL's "2026-11-28 00:00:00+00" and SQLite's
// "2026-11-28T00:00:00.000Z" both become "2026-11-28T00:00:00.000Z"): the CSV bytes are the
// same from both backends. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backup/csv.hpp"
#include "core/error.hpp"
#include "store/backup_store.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::backup {

enum class ColumnKind { kText, kInteger, kTimestamp, kDate };

// What restore requires of a column's values beyond their kind, checked in C++ before anything
// is written, so both databases take and refuse the same files (PostgreSQL refuses a malformed
// UUID, a 33-bit integer, year 0, U+0000 or invalid UTF-8, where SQLite would store them).
// Every text must be valid UTF-8 without U+0000; every instant and date must fall in year 1 or
// later.
struct ValueRule {
  bool required = false;  // NOT NULL
  bool uuid = false;      // kText: a UUID, stored in lower case
  // kInteger: the range (within the column's SQL type: PostgreSQL's integer is 32 bits).
  int64_t min = 0;
  int64_t max = INT64_MAX;
  // kText: nullptr when the value is acceptable, else why not ("must be ...").
  const char* (*check)(std::string_view value) = nullptr;
};

struct Column {
  std::string_view name;
  ColumnKind kind;
  // Added by a later migration: a backup written before it has no such field, and restore
  // reads the column as NULL there.
  bool added_later = false;
  ValueRule rule{};
};

struct TableSpec {
  BackupTable table;
  std::string_view name;
  std::span<const Column> columns;  // in the table's column order
};

const TableSpec& table_spec(BackupTable table);

// What a backup's header row says: its table, and where each of the table's columns is in its
// records (the field's index; -1 for an added_later column the backup predates).
struct HeaderLayout {
  BackupTable table;
  std::vector<int> field_of_column;  // in the table's column order
  size_t fields = 0;                 // per record
};

// The layout of a header row naming each column of one table once, in any order (an
// added_later column may be missing); nullopt for any other header.
std::optional<HeaderLayout> layout_for_header(const csv::Record& header);

// Appends the header row of `spec` (CRLF-terminated).
void append_header(const TableSpec& spec, std::string& out);

// Appends one database row as a CSV record, each value in its canonical form. A value that does
// not parse as its column's kind is kInternal (the database holds something it should not).
Result<void> append_row(const TableSpec& spec, const store_detail::RowView& row, std::string& out);

// A CSV record laid out as `layout` says, as parameters for an insert in the table's column
// order. Every value is checked against its column's kind and rule, and a job row must be one a
// backup holds (SPEC sections 6 and 8): terminal (FINISHED, FAILED, SKIPPED, CANCELLED), its
// settlement not pending, no lease. A refusal is kInvalidArgument with `field` the column's
// name and a message starting "column <name>: ".
Result<BackupStore::Row> restore_row(const HeaderLayout& layout, const csv::Record& record);

// Where a row sits in its table's backup order (jobs by id, provider-status rows by job_id then
// id): a backup lists each row once, in that order.
std::string restore_order_key(BackupTable table, const BackupStore::Row& row);

}  // namespace rtjobs::backup
