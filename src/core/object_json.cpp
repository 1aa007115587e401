#include "core/object_json.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "core/time_format.hpp"

namespace rtjobs {
namespace {

using nlohmann::json;

template <class T, class F>
json optional_json(const std::optional<T>& v, F&& f) {
  return v ? json(f(*v)) : json(nullptr);
}

json optional_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

json optional_json(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }

std::string execution_time_text(int minutes) {
  std::string out = "00:00";
  out[0] = static_cast<char>('0' + minutes / 600);
  out[1] = static_cast<char>('0' + (minutes / 60) % 10);
  out[3] = static_cast<char>('0' + (minutes % 60) / 10);
  out[4] = static_cast<char>('0' + minutes % 10);
  return out;
}

// The stored provider_options text as the object it is (written by parse_provider_options,
// so it parses); null when the transfer has none.
json provider_options_json(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  json v = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return v.is_object() ? v : json(nullptr);
}

}  // namespace

json to_json(const Schedule& s) {
  auto date = [](Date d) { return format_date(d); };
  return json{
      {"frequency", to_string(s.frequency)},
      {"interval", s.interval},
      {"day_of_week", optional_json(s.day_of_week)},
      {"day_of_month", optional_json(s.day_of_month)},
      {"month", optional_json(s.month)},
      {"start_date", format_date(s.start_date)},
      {"end_date", optional_json(s.end_date, date)},
      {"count", optional_json(s.count)},
      {"timezone", s.timezone},
      {"execution_time", execution_time_text(s.execution_minutes)},
      {"business_day", to_string(s.business_day)},
      {"calendar", s.calendar},
  };
}

json to_json(const RecurringTransfer& t) {
  return json{
      {"id", t.id},
      {"external_id", optional_json(t.external_id)},
      {"provider", t.provider},
      {"source_account", t.source_account},
      {"destination_account", t.destination_account},
      {"amount", t.amount},
      {"currency", t.currency},
      {"description", t.description},
      {"rail", to_string(t.rail)},
      {"provider_options", provider_options_json(t.provider_options)},
      {"schedule", to_json(t.schedule)},
      {"status", to_string(t.status)},
      {"status_reason", optional_json(t.status_reason)},
      {"idempotency_key", optional_json(t.idempotency_key)},
      {"created_at", format_timestamp(t.created_at)},
      {"updated_at", format_timestamp(t.updated_at)},
      {"version", t.version},
  };
}

json to_json(const Job& j) {
  auto ts = [](Timestamp t) { return format_timestamp(t); };
  auto result = [](JobResult r) { return std::string(to_string(r)); };
  auto settlement = [](SettlementStatus st) { return std::string(to_string(st)); };
  return json{
      {"id", j.id},
      {"recurring_transfer_id", j.recurring_transfer_id},
      {"sequence", j.sequence},
      {"scheduled_for", format_date(j.scheduled_for)},
      {"due_at", format_timestamp(j.due_at)},
      {"status", to_string(j.status)},
      {"result", optional_json(j.result, result)},
      {"retries", j.retries},
      {"next_attempt_at", optional_json(j.next_attempt_at, ts)},
      {"provider", j.provider},
      {"provider_reference", optional_json(j.provider_reference)},
      {"bank_status", optional_json(j.bank_status)},
      {"idempotency_key", j.idempotency_key},
      {"last_error", optional_json(j.last_error)},
      {"lease_owner", optional_json(j.lease_owner)},
      {"lease_expires_at", optional_json(j.lease_expires_at, ts)},
      {"created_at", format_timestamp(j.created_at)},
      {"updated_at", format_timestamp(j.updated_at)},
      {"finished_at", optional_json(j.finished_at, ts)},
      {"settlement_status", optional_json(j.settlement_status, settlement)},
      {"settled_at", optional_json(j.settled_at, ts)},
      {"return_code", optional_json(j.return_code)},
      {"presentment", j.presentment},
  };
}

namespace {

// Appends `s` as a JSON string the way dump() writes ASCII text. False when `s` holds a byte
// outside ASCII, whose UTF-8 checks and replacement are left to dump().
bool append_ascii_string(std::string& out, std::string_view s) {
  if (!std::all_of(s.begin(), s.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return false;
  }
  out += '"';
  log::append_json_escaped(out, s);
  out += '"';
  return true;
}

// Writes one object's members in the order given, which must be dump()'s (sorted keys).
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }

  void text(std::string_view key, std::string_view value) {
    ok_ = name(key) && append_ascii_string(out_, value) && ok_;
  }
  void text(std::string_view key, const std::string& value) { text(key, std::string_view(value)); }
  void text(std::string_view key, const std::optional<std::string>& value) {
    if (!value) return null(key);
    text(key, *value);
  }
  void time(std::string_view key, const std::optional<Timestamp>& value) {
    if (!value) return null(key);
    ok_ = name(key) && ok_;
    out_ += '"';
    append_timestamp(out_, *value);
    out_ += '"';
  }
  void date(std::string_view key, Date value) {
    ok_ = name(key) && ok_;
    out_ += '"';
    append_date(out_, value);
    out_ += '"';
  }
  void number(std::string_view key, int64_t value) {
    ok_ = name(key) && ok_;
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, end);
  }
  void null(std::string_view key) {
    ok_ = name(key) && ok_;
    out_ += "null";
  }
  // False when a value needs dump()'s UTF-8 handling.
  bool close() {
    out_ += '}';
    return ok_;
  }

 private:
  bool name(std::string_view key) {
    if (out_.size() > 1) out_ += ',';
    bool ok = append_ascii_string(out_, key);
    out_ += ':';
    return ok;
  }

  std::string& out_;
  bool ok_ = true;
};

}  // namespace

std::string job_json(const Job& j) {
  std::string out;
  out.reserve(768);
  ObjectWriter w(out);
  w.text("bank_status", j.bank_status);
  w.time("created_at", j.created_at);
  w.time("due_at", j.due_at);
  w.time("finished_at", j.finished_at);
  w.text("id", j.id);
  w.text("idempotency_key", j.idempotency_key);
  w.text("last_error", j.last_error);
  w.time("lease_expires_at", j.lease_expires_at);
  w.text("lease_owner", j.lease_owner);
  w.time("next_attempt_at", j.next_attempt_at);
  w.number("presentment", j.presentment);
  w.text("provider", j.provider);
  w.text("provider_reference", j.provider_reference);
  w.text("recurring_transfer_id", j.recurring_transfer_id);
  if (j.result) {
    w.text("result", to_string(*j.result));
  } else {
    w.null("result");
  }
  w.number("retries", j.retries);
  w.text("return_code", j.return_code);
  w.date("scheduled_for", j.scheduled_for);
  w.number("sequence", j.sequence);
  w.time("settled_at", j.settled_at);
  if (j.settlement_status) {
    w.text("settlement_status", to_string(*j.settlement_status));
  } else {
    w.null("settlement_status");
  }
  w.text("status", to_string(j.status));
  w.time("updated_at", j.updated_at);
  if (!w.close()) return dump(to_json(j));
  return out;
}

json to_json(const ProviderStatus& p) {
  return json{
      {"id", p.id},
      {"job_id", p.job_id},
      {"recurring_transfer_id", p.recurring_transfer_id},
      {"provider", p.provider},
      {"attempt", p.attempt},
      {"http_status", optional_json(p.http_status)},
      {"code", optional_json(p.code)},
      {"message", optional_json(p.message)},
      {"response_body", optional_json(p.response_body)},
      {"created_at", format_timestamp(p.created_at)},
  };
}

std::string transfer_json(const RecurringTransfer& transfer) { return dump(to_json(transfer)); }

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace rtjobs
