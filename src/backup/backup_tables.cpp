#include "backup/backup_tables.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>

#include "core/model.hpp"
#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs::backup {
namespace {

using enum ColumnKind;

// Restore's rules for text columns (ValueRule::check): nullptr when `value` is acceptable.
const char* terminal_job_status(std::string_view value) {
  auto status = parse_job_status(value);
  if (status && is_terminal(*status)) return nullptr;
  return "must be FINISHED, FAILED, SKIPPED or CANCELLED: a backup holds terminal jobs only, and "
         "a job restored in another state would be sent to the bank";
}

const char* job_result(std::string_view value) {
  return parse_job_result(value) ? nullptr : "must be SUCCEEDED, DECLINED or RETURNED";
}

const char* settlement_not_pending(std::string_view value) {
  auto status = parse_settlement_status(value);
  if (!status) return "must be settled, returned, canceled or unknown";
  if (*status == SettlementStatus::kPending) {
    return "must not be pending: a job whose settlement is still followed is never backed up "
           "(SPEC section 8)";
  }
  return nullptr;
}

const char* no_lease(std::string_view) { return "must be empty: a terminal job holds no lease"; }

constexpr int64_t kInt32Max = INT32_MAX;  // PostgreSQL's integer
constexpr ValueRule kId{.required = true, .uuid = true};
constexpr ValueRule kRequired{.required = true};
constexpr ValueRule kCount{.required = true, .min = 0, .max = kInt32Max};

constexpr std::array<Column, 25> kJobColumns{{
    {"id", kText, false, kId},
    {"recurring_transfer_id", kText, false, kId},
    {"sequence", kInteger, false, {.required = true, .min = 1}},
    {"scheduled_for", kDate, false, kRequired},
    {"due_at", kTimestamp, false, kRequired},
    {"status", kText, false, {.required = true, .check = terminal_job_status}},
    {"result", kText, false, {.check = job_result}},
    {"retries", kInteger, false, kCount},
    {"next_attempt_at", kTimestamp},
    {"provider", kText, false, kRequired},
    {"idempotency_key", kText, false, kRequired},
    {"provider_reference", kText},
    {"last_error", kText},
    {"lease_owner", kText, false, {.check = no_lease}},
    {"lease_expires_at", kTimestamp},
    {"created_at", kTimestamp, false, kRequired},
    {"updated_at", kTimestamp, false, kRequired},
    {"finished_at", kTimestamp},
    {"bank_status", kText, true},  // SQLite migration 2, PostgreSQL migration 6
    // SQLite migration 4, PostgreSQL migration 8 (settlement)
    {"settlement_status", kText, true, {.check = settlement_not_pending}},
    {"settled_at", kTimestamp, true},
    {"return_code", kText, true},
    {"presentment", kInteger, true, {.max = kInt32Max}},  // NULL: the column's default, 0
    {"settlement_check_at", kTimestamp, true},
    // SQLite migration 7, PostgreSQL migration 11. NULL: the column's default, 0; never 1 in a
    // backup, which holds terminal jobs only (only a RETRY job is in doubt).
    {"outcome_unknown", kInteger, true, {.min = 0, .max = 0}},
}};

constexpr std::array<Column, 10> kStatusColumns{{
    {"id", kText, false, kId},
    {"job_id", kText, false, kId},
    {"recurring_transfer_id", kText, false, kId},
    {"provider", kText, false, kRequired},
    {"attempt", kInteger, false, kCount},
    {"http_status", kInteger, false, {.min = 100, .max = 599}},
    {"code", kText},
    {"message", kText},
    {"response_body", kText},
    {"created_at", kTimestamp, false, kRequired},
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

bool is_digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int two_digits(std::string_view s, size_t pos) { return (s[pos] - '0') * 10 + (s[pos + 1] - '0'); }

// "YYYY-MM-DD" of digits naming a real day.
bool is_plain_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!is_digits(s.substr(0, 4)) || !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) {
    return false;
  }
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + two_digits(s, 2);
  std::chrono::year_month_day ymd{std::chrono::year{y},
                                  std::chrono::month{static_cast<unsigned>(two_digits(s, 5))},
                                  std::chrono::day{static_cast<unsigned>(two_digits(s, 8))}};
  return ymd.ok();
}

// The fast path of canonical() for an instant written with plain digits, as both databases
// print them ("2026-11-28 00:00:00.5+00", "2026-11-28T00:00:00.000Z"): the canonical text
// reuses the digits, so nothing is parsed into a time point and nothing is allocated. False
// when `s` is not of that shape (canonical() then decides).
bool append_plain_timestamp(std::string_view s, std::string& out) {
  if (s.size() < 20 || !is_plain_date(s.substr(0, 10)) || (s[10] != 'T' && s[10] != ' ') ||
      s[13] != ':' || s[16] != ':' || !is_digits(s.substr(11, 2)) || !is_digits(s.substr(14, 2)) ||
      !is_digits(s.substr(17, 2)) || two_digits(s, 11) > 23 || two_digits(s, 14) > 59 ||
      two_digits(s, 17) > 59) {
    return false;
  }
  char millis[3] = {'0', '0', '0'};
  size_t pos = 19;
  if (s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis[pos - start] = s[pos];
      ++pos;
    }
    if (pos == start) return false;
  }
  std::string_view zone = s.substr(pos);
  if (zone != "Z" && zone != "+00" && zone != "+00:00") return false;
  out.append(s.substr(0, 10)).append(1, 'T').append(s.substr(11, 8)).append(1, '.');
  out.append(millis, 3).append(1, 'Z');
  return true;
}

// Appends the canonical text of a value of `kind` (never empty and never needing CSV quotes);
// false when it does not parse.
bool append_canonical(ColumnKind kind, std::string_view text, std::string& out) {
  switch (kind) {
    case kText:
      break;
    case kInteger: {
      auto v = parse_integer(text);
      if (!v) return false;
      char buf[24];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *v);
      out.append(buf, end);
      return true;
    }
    case kTimestamp:
      if (append_plain_timestamp(text, out)) return true;
      break;
    case kDate:
      if (is_plain_date(text)) {
        out.append(text);
        return true;
      }
      break;
  }
  auto slow = canonical(kind, text);
  if (!slow) return false;
  out.append(*slow);
  return true;
}

}  // namespace

const TableSpec& table_spec(BackupTable table) {
  return table == BackupTable::kJobs ? kJobSpec : kStatusSpec;
}

std::optional<HeaderLayout> layout_for_header(const csv::Record& header) {
  for (const TableSpec* spec : {&kJobSpec, &kStatusSpec}) {
    HeaderLayout layout{spec->table, std::vector<int>(spec->columns.size(), -1), header.size()};
    bool fits = true;
    for (size_t field = 0; field < header.size() && fits; ++field) {
      auto column = std::find_if(spec->columns.begin(), spec->columns.end(),
                                 [&](const Column& c) { return header[field] == c.name; });
      fits = column != spec->columns.end();
      if (!fits) break;
      int& slot = layout.field_of_column[static_cast<size_t>(column - spec->columns.begin())];
      fits = slot < 0;  // named once
      slot = static_cast<int>(field);
    }
    for (size_t i = 0; i < spec->columns.size() && fits; ++i) {
      fits = layout.field_of_column[i] >= 0 || spec->columns[i].added_later;
    }
    if (fits) return layout;
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
      csv::append_field(out, value);
      continue;
    }
    if (!append_canonical(column.kind, *value, out)) {
      return fail(ErrorCode::kInternal, "exporting " + std::string(spec.name) + ": column " +
                                            std::string(column.name) + " holds \"" +
                                            std::string(*value) + "\"");
    }
  }
  out.append(csv::kLineEnd);
  return {};
}

namespace {

// Well-formed UTF-8 (RFC 3629, as PostgreSQL checks it): no overlong forms, no surrogates, no
// code point past U+10FFFF.
bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // past U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return false;
    }
    i += n + 1;
  }
  return true;
}

// A value as an error message shows it: quoted, at most 40 bytes, bytes outside printable ASCII
// as '?'.
std::string shown(std::string_view value) {
  std::string out = "\"";
  for (char c : value.substr(0, 40)) out.push_back(c >= 0x20 && c < 0x7F ? c : '?');
  if (value.size() > 40) out += "...";
  return out + "\"";
}

Error refused(const Column& column, std::string_view why) {
  return Error{ErrorCode::kInvalidArgument,
               "column " + std::string(column.name) + ": " + std::string(why),
               std::string(column.name),
               {}};
}

// One present value of `column`, checked and in the form it is stored in.
Result<store_detail::SqlValue> restore_value(const Column& column, const std::string& value) {
  const ValueRule& rule = column.rule;
  switch (column.kind) {
    case kText:
      if (value.find('\0') != std::string::npos) {
        return std::unexpected(refused(column, "holds U+0000"));
      }
      if (!is_utf8(value)) return std::unexpected(refused(column, "is not valid UTF-8"));
      if (rule.uuid) {
        if (!is_uuid(value)) {
          return std::unexpected(refused(column, "must be a UUID, got " + shown(value)));
        }
        return store_detail::normalize_id(value);
      }
      if (rule.check) {
        if (const char* why = rule.check(value)) {
          return std::unexpected(refused(column, std::string(why) + ", got " + shown(value)));
        }
      }
      return value;
    case kInteger: {
      auto v = parse_integer(value);
      if (!v || *v < rule.min || *v > rule.max) {
        return std::unexpected(
            refused(column, "must be an integer from " + std::to_string(rule.min) + " to " +
                                std::to_string(rule.max) + ", got " + shown(value)));
      }
      return *v;
    }
    case kTimestamp:
    case kDate: {
      auto text = canonical(column.kind, value);
      // PostgreSQL has no year 0 (canonical texts start with four digits of year).
      if (!text || text->starts_with("0000")) {
        return std::unexpected(
            refused(column, std::string(column.kind == kDate ? "must be a date YYYY-MM-DD"
                                                             : "must be an instant like "
                                                               "2026-11-28T00:00:00.000Z") +
                                " from year 1, got " + shown(value)));
      }
      return std::move(*text);
    }
  }
  return std::unexpected(refused(column, "has no kind"));
}

}  // namespace

Result<BackupStore::Row> restore_row(const HeaderLayout& layout, const csv::Record& record) {
  const TableSpec& spec = table_spec(layout.table);
  if (record.size() != layout.fields) {
    return invalid("csv", "a record of " + std::string(spec.name) + " has " +
                              std::to_string(record.size()) + " fields, expected " +
                              std::to_string(layout.fields));
  }
  BackupStore::Row row;
  row.reserve(spec.columns.size());
  for (size_t i = 0; i < spec.columns.size(); ++i) {
    const Column& column = spec.columns[i];
    int field = layout.field_of_column[i];
    if (field < 0 || !record[static_cast<size_t>(field)]) {
      if (column.rule.required) return std::unexpected(refused(column, "is required (empty)"));
      row.emplace_back(std::monostate{});
      continue;
    }
    auto value = restore_value(column, *record[static_cast<size_t>(field)]);
    if (!value) return std::unexpected(value.error());
    row.push_back(std::move(*value));
  }
  return row;
}

std::string restore_order_key(BackupTable table, const BackupStore::Row& row) {
  // Both ids are UUIDs of one length, so the concatenation orders as the pair does.
  if (table == BackupTable::kJobs) return std::get<std::string>(row[0]);
  return std::get<std::string>(row[1]) + std::get<std::string>(row[0]);
}

}  // namespace rtjobs::backup
