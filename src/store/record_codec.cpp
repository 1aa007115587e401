#include "store/record_codec.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "store/column_reader.hpp"

namespace rtjobs::store_detail {

const std::string_view kTransferColumns =
    "id, external_id, provider, source_account, destination_account, amount, currency, "
    "description, frequency, \"interval\", day_of_week, day_of_month, \"month\", start_date, "
    "end_date, \"count\", timezone, execution_time, business_day, calendar, status, "
    "last_sequence, next_occurrence_at, idempotency_key, request_hash, created_at, updated_at, "
    "rail, provider_options, status_reason, version";
const std::string_view kJobColumns =
    "id, recurring_transfer_id, sequence, scheduled_for, due_at, status, result, retries, "
    "next_attempt_at, provider, idempotency_key, provider_reference, last_error, lease_owner, "
    "lease_expires_at, created_at, updated_at, finished_at, bank_status, settlement_status, "
    "settled_at, return_code, presentment, settlement_check_at, outcome_unknown";
const std::string_view kProviderStatusColumns =
    "id, job_id, recurring_transfer_id, provider, attempt, http_status, code, message, "
    "response_body, created_at";

const std::string_view kBankEventColumns =
    "id, provider, event_id, event_type, reference, rail, payload, received_at, attempts";

SqlValue opt_text(const std::optional<std::string>& s) {
  return s ? SqlValue(*s) : SqlValue(std::monostate{});
}
SqlValue opt_int(const std::optional<int>& i) {
  return i ? SqlValue(int64_t{*i}) : SqlValue(std::monostate{});
}
SqlValue opt_time(const std::optional<Timestamp>& t) {
  return t ? SqlValue(format_timestamp(*t)) : SqlValue(std::monostate{});
}

std::string qualified(std::string_view columns, std::string_view alias) {
  std::string out;
  size_t pos = 0;
  while (pos < columns.size()) {
    size_t comma = columns.find(',', pos);
    if (comma == std::string_view::npos) comma = columns.size();
    std::string_view name = columns.substr(pos, comma - pos);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out.append(alias).append(".").append(name);
    pos = comma + 1;
  }
  return out;
}

std::string placeholders(char style, int count, int first) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    if (i > 0) out += ", ";
    out += style;
    out += std::to_string(first + i);
  }
  return out;
}

namespace {

std::string execution_time_text(int minutes) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d", (minutes / 60) % 24, minutes % 60);
  return buf;
}

}  // namespace

std::vector<SqlValue> transfer_values(const RecurringTransfer& t) {
  const Schedule& s = t.schedule;
  return {t.id,
          opt_text(t.external_id),
          t.provider,
          t.source_account,
          t.destination_account,
          t.amount,
          t.currency,
          t.description,
          std::string(to_string(s.frequency)),
          int64_t{s.interval},
          opt_int(s.day_of_week),
          opt_int(s.day_of_month),
          opt_int(s.month),
          format_date(s.start_date),
          s.end_date ? SqlValue(format_date(*s.end_date)) : SqlValue(std::monostate{}),
          opt_int(s.count),
          s.timezone,
          execution_time_text(s.execution_minutes),
          std::string(to_string(s.business_day)),
          s.calendar,
          std::string(to_string(t.status)),
          t.last_sequence,
          opt_time(t.next_occurrence_at),
          opt_text(t.idempotency_key),
          t.request_hash,
          format_timestamp(t.created_at),
          format_timestamp(t.updated_at),
          std::string(to_string(t.rail)),
          opt_text(t.provider_options),
          opt_text(t.status_reason),
          t.version};
}

std::vector<SqlValue> job_values(const Job& j) {
  return {j.id,
          j.recurring_transfer_id,
          j.sequence,
          format_date(j.scheduled_for),
          format_timestamp(j.due_at),
          std::string(to_string(j.status)),
          j.result ? SqlValue(std::string(to_string(*j.result))) : SqlValue(std::monostate{}),
          int64_t{j.retries},
          opt_time(j.next_attempt_at),
          j.provider,
          j.idempotency_key,
          opt_text(j.provider_reference),
          opt_text(j.last_error),
          opt_text(j.lease_owner),
          opt_time(j.lease_expires_at),
          format_timestamp(j.created_at),
          format_timestamp(j.updated_at),
          opt_time(j.finished_at),
          opt_text(j.bank_status),
          j.settlement_status ? SqlValue(std::string(to_string(*j.settlement_status)))
                              : SqlValue(std::monostate{}),
          opt_time(j.settled_at),
          opt_text(j.return_code),
          int64_t{j.presentment},
          opt_time(j.settlement_check_at),
          int64_t{j.outcome_unknown ? 1 : 0}};
}

std::vector<SqlValue> provider_status_values(const ProviderStatus& p) {
  return {p.id,
          p.job_id,
          p.recurring_transfer_id,
          p.provider,
          int64_t{p.attempt},
          opt_int(p.http_status),
          opt_text(p.code),
          opt_text(p.message),
          opt_text(p.response_body),
          format_timestamp(p.created_at)};
}

Result<RecurringTransfer> read_transfer(const RowView& row, int first) {
  ColumnReader r(row, first, "recurring_transfer");
  RecurringTransfer t;
  Schedule& s = t.schedule;
  t.id = r.text();
  t.external_id = r.opt_text();
  t.provider = r.text();
  t.source_account = r.text();
  t.destination_account = r.text();
  t.amount = r.integer();
  t.currency = r.text();
  t.description = r.text();
  s.frequency = r.named(parse_frequency);
  s.interval = static_cast<int>(r.integer());
  s.day_of_week = r.opt_small();
  s.day_of_month = r.opt_small();
  s.month = r.opt_small();
  s.start_date = r.date();
  s.end_date = r.opt_date();
  s.count = r.opt_small();
  s.timezone = r.text();
  std::string hhmm = r.text();
  int hh = 0, mm = 0;
  if (hhmm.size() == 5 && hhmm[2] == ':') {
    std::from_chars(hhmm.data(), hhmm.data() + 2, hh);
    std::from_chars(hhmm.data() + 3, hhmm.data() + 5, mm);
  }
  s.execution_minutes = hh * 60 + mm;
  s.business_day = r.named(parse_business_day);
  s.calendar = r.text();
  t.status = r.named(parse_transfer_status);
  t.last_sequence = r.integer();
  t.next_occurrence_at = r.opt_time();
  t.idempotency_key = r.opt_text();
  t.request_hash = r.text();
  t.created_at = r.time();
  t.updated_at = r.time();
  t.rail = r.named(parse_rail);
  t.provider_options = r.opt_text();
  t.status_reason = r.opt_text();
  t.version = r.integer();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return t;
}

Result<Job> read_job(const RowView& row, int first) {
  ColumnReader r(row, first, "recurring_transfer_job");
  Job j;
  j.id = r.text();
  j.recurring_transfer_id = r.text();
  j.sequence = r.integer();
  j.scheduled_for = r.date();
  j.due_at = r.time();
  j.status = r.named(parse_job_status);
  j.result = r.opt_named(parse_job_result);
  j.retries = static_cast<int>(r.integer());
  j.next_attempt_at = r.opt_time();
  j.provider = r.text();
  j.idempotency_key = r.text();
  j.provider_reference = r.opt_text();
  j.last_error = r.opt_text();
  j.lease_owner = r.opt_text();
  j.lease_expires_at = r.opt_time();
  j.created_at = r.time();
  j.updated_at = r.time();
  j.finished_at = r.opt_time();
  j.bank_status = r.opt_text();
  j.settlement_status = r.opt_named(parse_settlement_status);
  j.settled_at = r.opt_time();
  j.return_code = r.opt_text();
  j.presentment = static_cast<int>(r.integer());
  j.settlement_check_at = r.opt_time();
  j.outcome_unknown = r.integer() != 0;
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return j;
}

Result<ProviderStatus> read_provider_status(const RowView& row, int first) {
  ColumnReader r(row, first, "recurring_transfer_provider_status");
  ProviderStatus p;
  p.id = r.text();
  p.job_id = r.text();
  p.recurring_transfer_id = r.text();
  p.provider = r.text();
  p.attempt = static_cast<int>(r.integer());
  p.http_status = r.opt_small();
  p.code = r.opt_text();
  p.message = r.opt_text();
  p.response_body = r.opt_text();
  p.created_at = r.time();
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return p;
}

namespace {
constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string encode_cursor(std::string_view last_id) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : last_id) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(buffer >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += kBase64Url[(buffer << (6 - bits)) & 0x3F];
  return out;
}

Result<std::string> decode_cursor(std::string_view cursor) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : cursor) {
    size_t v = kBase64Url.find(c);
    if (v == std::string_view::npos) return invalid("cursor", "malformed cursor");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  if (!is_uuid(out)) return invalid("cursor", "malformed cursor");
  return normalize_id(out);
}

ListQuery::ListQuery(char style, std::string_view columns, std::string_view table) : style_(style) {
  select_.append("SELECT ").append(columns).append(" FROM ").append(table);
}

void ListQuery::where(std::string_view column, std::string_view op, SqlValue value) {
  params_.push_back(std::move(value));
  where_.append(where_.empty() ? " WHERE " : " AND ").append(column).append(" ").append(op);
  where_.append(" ").append(1, style_).append(std::to_string(params_.size()));
}

void ListQuery::where_either(std::string_view a, std::string_view b, SqlValue value) {
  params_.push_back(std::move(value));
  std::string placeholder = std::string(1, style_) + std::to_string(params_.size());
  where_.append(where_.empty() ? " WHERE (" : " AND (").append(a).append(" = ").append(placeholder);
  where_.append(" OR ").append(b).append(" = ").append(placeholder).append(")");
}

std::string ListQuery::sql(int limit) {
  int n = limit < 1 ? 1 : (limit > 500 ? 500 : limit);
  params_.emplace_back(std::in_place_type<int64_t>, int64_t{n} + 1);
  return select_ + where_ + order_ + style_ + std::to_string(params_.size());
}

std::string normalize_id(std::string_view id) {
  std::string out(id);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::vector<ExtensionItem>> sorted_extensions(std::span<const Extension> extensions) {
  std::vector<ExtensionItem> items;
  items.reserve(extensions.size());
  for (const Extension& e : extensions) {
    std::string id = normalize_id(e.transfer_id);
    for (const Job& job : e.new_jobs) {
      if (normalize_id(job.recurring_transfer_id) != id) {
        return invalid("new_jobs", "job " + job.id + " belongs to another transfer");
      }
    }
    items.push_back({std::move(id), &e});
  }
  auto by_id = [](const ExtensionItem& a, const ExtensionItem& b) {
    return a.transfer_id < b.transfer_id;
  };
  std::sort(items.begin(), items.end(), by_id);
  auto same = [](const ExtensionItem& a, const ExtensionItem& b) {
    return a.transfer_id == b.transfer_id;
  };
  if (std::adjacent_find(items.begin(), items.end(), same) != items.end()) {
    return invalid("transfer_id", "a transfer is extended twice in one batch");
  }
  return items;
}

std::string claim_due_sql(std::string_view job, std::string_view now) {
  std::string j(job);
  std::string at(now);
  return "((" + j + ".status IN ('PENDING', 'IN_FLY') AND " + j + ".due_at <= " + at + ") OR (" +
         j + ".status = 'RETRY' AND (" + j + ".next_attempt_at IS NULL OR " + j +
         ".next_attempt_at <= " + at + ")) OR (" + j + ".status = 'PROCESSING' AND (" + j +
         ".lease_expires_at IS NULL OR " + j + ".lease_expires_at <= " + at + ")))";
}

std::string claim_outcome_sql(std::string_view job, std::string_view transfer) {
  std::string j(job);
  std::string t(transfer);
  return "(CASE WHEN " + t + ".status = 'CANCELLED' AND NOT (" + j + ".status = 'PROCESSING' OR (" +
         j + ".status = 'RETRY' AND " + j + ".outcome_unknown = 1)) THEN 'CANCELLED' WHEN " + t +
         ".status <> 'PAUSED' THEN 'PROCESSING' WHEN " + j +
         ".status IN ('PENDING', 'IN_FLY') THEN 'SKIPPED' END)";
}

std::string cancel_ends_sql(std::string_view job) {
  std::string j(job);
  return "(" + j + "status IN ('PENDING', 'IN_FLY') OR (" + j + "status = 'RETRY' AND " + j +
         "outcome_unknown = 0))";
}

Error retry_refusal(std::string_view job_id, JobStatus job, TransferStatus transfer) {
  if (decide_operator_retry(job, transfer) == RetryDecision::kTransferCancelled) {
    return Error{ErrorCode::kConflict,
                 "job " + std::string(job_id) + ": its recurring transfer is cancelled", "job_id",
                 "transfer_cancelled"};
  }
  return Error{ErrorCode::kConflict,
               "job " + std::string(job_id) + " is " + std::string(to_string(job)) +
                   ", only a FAILED job can be retried",
               {},
               "job_not_failed"};
}

Error skip_refusal(std::string_view job_id, JobStatus job) {
  return Error{ErrorCode::kConflict,
               "job " + std::string(job_id) + " is " + std::string(to_string(job)) +
                   ", only a PENDING job (not yet claimed) can be skipped",
               "job_id", "job_not_pending"};
}

TransferTransition transfer_transition(TransferAction action) {
  switch (action) {
    case TransferAction::kPause:
      return {TransferStatus::kActive, TransferStatus::kActive, TransferStatus::kPaused};
    case TransferAction::kResume:
      return {TransferStatus::kPaused, TransferStatus::kPaused, TransferStatus::kActive};
    case TransferAction::kCancel:
      break;
  }
  return {TransferStatus::kActive, TransferStatus::kPaused, TransferStatus::kCancelled};
}

Error invalid_transition(TransferAction action, TransferStatus current) {
  std::string_view verb = action == TransferAction::kPause    ? "pause"
                          : action == TransferAction::kResume ? "resume"
                                                              : "cancel";
  return Error{
      ErrorCode::kConflict,
      "cannot " + std::string(verb) + " a transfer that is " + std::string(to_string(current)),
      {},
      "invalid_transition"};
}

Result<BankEventRecord> read_bank_event(const RowView& row, int first) {
  ColumnReader r(row, first, "bank_webhook_event");
  BankEventRecord e;
  e.id = r.text();
  e.provider = r.text();
  e.event_id = r.text();
  e.event_type = r.text();
  e.reference = r.opt_text();
  e.rail = r.opt_named(parse_rail);
  e.payload = r.opt_text();
  e.received_at = r.time();
  e.attempts = static_cast<int>(r.integer());
  if (auto st = r.status(); !st) return std::unexpected(st.error());
  return e;
}

namespace {
constexpr std::array<std::string_view, 13> kSettlementWrites{"status",
                                                             "result",
                                                             "retries",
                                                             "next_attempt_at",
                                                             "last_error",
                                                             "finished_at",
                                                             "updated_at",
                                                             "bank_status",
                                                             "settlement_status",
                                                             "settled_at",
                                                             "return_code",
                                                             "presentment",
                                                             "settlement_check_at"};
}  // namespace

std::string settlement_update_sql(char style) {
  std::string sql = "UPDATE recurring_transfer_job SET ";
  for (size_t i = 0; i < kSettlementWrites.size(); ++i) {
    if (i > 0) sql += ", ";
    sql.append(kSettlementWrites[i])
        .append(" = ")
        .append(placeholders(style, 1, static_cast<int>(i) + 2));
  }
  return sql + " WHERE id = " + placeholders(style, 1, 1);
}

std::vector<SqlValue> settlement_update_values(const Job& j) {
  // The job's values by column, picked in kSettlementWrites' order (positions found once).
  static const std::array<size_t, kSettlementWrites.size()> kPositions = [] {
    std::vector<std::string_view> names;
    for (std::string_view rest = kJobColumns; !rest.empty();) {
      size_t comma = rest.find(", ");
      names.push_back(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
    }
    std::array<size_t, kSettlementWrites.size()> at{};
    for (size_t i = 0; i < at.size(); ++i) {
      at[i] = static_cast<size_t>(std::find(names.begin(), names.end(), kSettlementWrites[i]) -
                                  names.begin());
    }
    return at;
  }();
  std::vector<SqlValue> all = job_values(j);
  std::vector<SqlValue> out{all.front()};  // id
  out.reserve(kPositions.size() + 1);
  for (size_t at : kPositions) out.push_back(std::move(all.at(at)));
  return out;
}

}  // namespace rtjobs::store_detail
