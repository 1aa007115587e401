#include "backup/backup_tables.hpp"

#include <array>
#include <charconv>

#include "core/time_format.hpp"

namespace rtjobs::backup {
namespace {

using enum ColumnKind;

constexpr std::array<Column, 18> kJobColumns{{
    {"id", kText},
    {"recurring_transfer_id", kText},
    {"sequence", kInteger},
    {"scheduled_for", kDate},
    {"due_at", kTimestamp},
    {"status", kText},
    {"result", kText},
    {"retries", kInteger},
    {"next_attempt_at", kTimestamp},
    {"provider", kText},
    {"idempotency_key", kText},
    {"provider_reference", kText},
    {"last_error", kText},
    {"lease_owner", kText},
    {"lease_expires_at", kTimestamp},
    {"created_at", kTimestamp},
    {"updated_at", kTimestamp},
    {"finished_at", kTimestamp},
}};

constexpr std::array<Column, 10> kStatusColumns{{
    {"id", kText},
    {"job_id", kText},
    {"recurring_transfer_id", kText},
    {"provider", kText},
    {"attempt", kInteger},
    {"http_status", kInteger},
    {"code", kText},
    {"message", kText},
    {"response_body", kText},
    {"created_at", kTimestamp},
}};

static_assert(kJobColumns.size() == store_detail::kJobColumnCount);
static_assert(kStatusColumns.size() == store_detail::kProviderStatusColumnCount);

const TableSpec kJobSpec{BackupTable::kJobs, "recurring_transfer_job", kJobColumns};
const TableSpec kStatusSpec{BackupTable::kProviderStatuses, "recurring_transfer_provider_status",
                            kStatusColumns};

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return v;
}

// The canonical text of a value of `kind`, or nullopt when it does not parse.
std::optional<std::string> canonical(ColumnKind kind, std::string_view text) {
  switch (kind) {
    case kText:
      return std::string(text);
    case kInteger:
      if (auto v = parse_integer(text)) return std::to_string(*v);
      return std::nullopt;
    case kTimestamp:
      if (auto t = parse_timestamp(text)) return format_timestamp(*t);
      return std::nullopt;
    case kDate:
      if (auto d = parse_date(text)) return format_date(*d);
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

const TableSpec& table_spec(BackupTable table) {
  return table == BackupTable::kJobs ? kJobSpec : kStatusSpec;
}

std::optional<BackupTable> table_for_header(const csv::Record& header) {
  for (const TableSpec* spec : {&kJobSpec, &kStatusSpec}) {
    if (header.size() != spec->columns.size()) continue;
    bool same = true;
    for (size_t i = 0; i < header.size() && same; ++i) {
      same = header[i] && *header[i] == spec->columns[i].name;
    }
    if (same) return spec->table;
  }
  return std::nullopt;
}

void append_header(const TableSpec& spec, std::string& out) {
  std::vector<std::optional<std::string_view>> names;
  for (const Column& c : spec.columns) names.emplace_back(c.name);
  csv::append_record(out, names);
}

Result<void> append_row(const TableSpec& spec, const store_detail::RowView& row, std::string& out) {
  for (size_t i = 0; i < spec.columns.size(); ++i) {
    if (i > 0) out.push_back(',');
    auto value = row.text(static_cast<int>(i));
    if (!value) continue;  // NULL
    const Column& column = spec.columns[i];
    if (column.kind == kText) {
      csv::append_field(out, *value);
      continue;
    }
    auto text = canonical(column.kind, *value);
    if (!text) {
      return fail(ErrorCode::kInternal, "exporting " + std::string(spec.name) + ": column " +
                                            std::string(column.name) + " holds \"" +
                                            std::string(*value) + "\"");
    }
    csv::append_field(out, *text);
  }
  out.append(csv::kLineEnd);
  return {};
}

Result<BackupStore::Row> restore_row(const TableSpec& spec, const csv::Record& record) {
  if (record.size() != spec.columns.size()) {
    return invalid("csv", "a record of " + std::string(spec.name) + " has " +
                              std::to_string(record.size()) + " fields, expected " +
                              std::to_string(spec.columns.size()));
  }
  BackupStore::Row row;
  row.reserve(record.size());
  for (size_t i = 0; i < record.size(); ++i) {
    const Column& column = spec.columns[i];
    if (!record[i]) {
      row.emplace_back(std::monostate{});
      continue;
    }
    if (column.kind == kText) {
      row.emplace_back(*record[i]);
      continue;
    }
    if (column.kind == kInteger) {
      auto v = parse_integer(*record[i]);
      if (!v) return invalid(std::string(column.name), "not an integer: " + *record[i]);
      row.emplace_back(*v);
      continue;
    }
    auto text = canonical(column.kind, *record[i]);
    if (!text) return invalid(std::string(column.name), "not a valid value: " + *record[i]);
    row.emplace_back(std::move(*text));
  }
  return row;
}

}  // namespace rtjobs::backup
