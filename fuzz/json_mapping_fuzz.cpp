// The API's request bodies (http/json_mapping.hpp) and text checks (http/text.hpp), fed one
// fuzzed body. Invariants:
//   - a body parse_new_transfer accepts holds only what it promises (identifiers without control
//     characters, valid UTF-8, no U+0000; a positive amount; an ISO currency; bounded options; an
//     end date not before the start), and written back as JSON it parses to the same transfer;
//   - a refusal names a field and says why;
//   - parse_webhook_endpoint's accepted url and description pass the text checks;
//   - is_valid_utf8 agrees with nlohmann's JSON parser (RFC 3629) on the body as a string, and
//     to_valid_utf8 returns valid UTF-8, the input itself when it was valid.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/time_format.hpp"
#include "fuzz_check.hpp"
#include "http/json_mapping.hpp"
#include "http/text.hpp"

namespace {

using nlohmann::json;
using rtjobs::Error;
using rtjobs::NewTransfer;
using rtjobs::http::TextKind;

void check_refusal(const Error& e) {
  FUZZ_CHECK(e.code == rtjobs::ErrorCode::kInvalidArgument);
  FUZZ_CHECK(!e.field.empty());
  FUZZ_CHECK(!e.message.empty());
}

bool is_identifier(std::string_view s) {
  return rtjobs::http::check_text("f", s, TextKind::kIdentifier).has_value();
}

std::string hh_mm(int minutes) {
  std::string s = std::to_string(100 + minutes / 60).substr(1) + ":" +
                  std::to_string(100 + minutes % 60).substr(1);
  return s;
}

// The transfer written back as a create-transfer body, every field it holds spelled out.
json body_of(const NewTransfer& t) {
  const rtjobs::Schedule& s = t.schedule;
  json schedule = {{"frequency", rtjobs::to_string(s.frequency)},
                   {"interval", s.interval},
                   {"start_date", rtjobs::format_date(s.start_date)},
                   {"timezone", s.timezone},
                   {"execution_time", hh_mm(s.execution_minutes)},
                   {"business_day", rtjobs::to_string(s.business_day)},
                   {"calendar", s.calendar}};
  if (s.day_of_week) schedule["day_of_week"] = *s.day_of_week;
  if (s.day_of_month) schedule["day_of_month"] = *s.day_of_month;
  if (s.month) schedule["month"] = *s.month;
  if (s.end_date) schedule["end_date"] = rtjobs::format_date(*s.end_date);
  if (s.count) schedule["count"] = *s.count;
  json body = {{"provider", t.provider},
               {"source_account", t.source_account},
               {"destination_account", t.destination_account},
               {"amount", t.amount},
               {"currency", t.currency},
               {"description", t.description},
               {"rail", rtjobs::to_string(t.rail)},
               {"schedule", schedule}};
  if (t.external_id) body["external_id"] = *t.external_id;
  if (t.provider_options) body["provider_options"] = json::parse(*t.provider_options);
  return body;
}

bool same(const NewTransfer& a, const NewTransfer& b) {
  const rtjobs::Schedule& x = a.schedule;
  const rtjobs::Schedule& y = b.schedule;
  return a.external_id == b.external_id && a.provider == b.provider &&
         a.source_account == b.source_account && a.destination_account == b.destination_account &&
         a.amount == b.amount && a.currency == b.currency && a.description == b.description &&
         a.rail == b.rail && a.provider_options == b.provider_options &&
         x.frequency == y.frequency && x.interval == y.interval && x.day_of_week == y.day_of_week &&
         x.day_of_month == y.day_of_month && x.month == y.month && x.start_date == y.start_date &&
         x.end_date == y.end_date && x.count == y.count && x.timezone == y.timezone &&
         x.execution_minutes == y.execution_minutes && x.business_day == y.business_day &&
         x.calendar == y.calendar;
}

void check_transfer(const NewTransfer& t) {
  FUZZ_CHECK(!t.provider.empty() && is_identifier(t.provider));
  FUZZ_CHECK(!t.source_account.empty() && is_identifier(t.source_account));
  FUZZ_CHECK(!t.destination_account.empty() && is_identifier(t.destination_account));
  FUZZ_CHECK(!t.external_id || is_identifier(*t.external_id));
  FUZZ_CHECK(rtjobs::http::check_text("d", t.description, TextKind::kFreeText).has_value());
  FUZZ_CHECK(t.amount > 0);
  FUZZ_CHECK(t.currency.size() == 3);
  for (char c : t.currency) FUZZ_CHECK(c >= 'A' && c <= 'Z');
  FUZZ_CHECK(is_identifier(t.schedule.timezone) && is_identifier(t.schedule.calendar));
  FUZZ_CHECK(!t.schedule.end_date || *t.schedule.end_date >= t.schedule.start_date);
  FUZZ_CHECK(t.schedule.execution_minutes >= 0 && t.schedule.execution_minutes < 24 * 60);
  if (t.provider_options) {
    FUZZ_CHECK(t.provider_options->size() <= rtjobs::http::kMaxProviderOptionsBytes);
    json options = json::parse(*t.provider_options, nullptr, false);
    FUZZ_CHECK(options.is_object() && !options.empty());
  }

  // Round trip: the body the transfer reads back as is the same transfer.
  auto again = rtjobs::http::parse_new_transfer(rtjobs::dump(body_of(t)));
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(same(t, *again));
}

void check_utf8(std::string_view text) {
  const bool valid = rtjobs::http::is_valid_utf8(text);
  const std::string repaired = rtjobs::http::to_valid_utf8(text);
  FUZZ_CHECK(rtjobs::http::is_valid_utf8(repaired));
  FUZZ_CHECK(!valid || repaired == text);
  // nlohmann's lexer checks UTF-8 by RFC 3629 too: a JSON string of these bytes parses exactly
  // when they are valid (when no byte needs escaping).
  for (char c : text) {
    if (c == '"' || c == '\\' || rtjobs::http::is_control(static_cast<unsigned char>(c))) return;
  }
  json parsed = json::parse("\"" + std::string(text) + "\"", nullptr, false);
  FUZZ_CHECK(parsed.is_discarded() != valid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  if (auto t = rtjobs::http::parse_new_transfer(body)) {
    check_transfer(*t);
  } else {
    check_refusal(t.error());
  }

  if (auto e = rtjobs::http::parse_webhook_endpoint(body)) {
    FUZZ_CHECK(is_identifier(e->url) && e->url.size() <= rtjobs::http::kMaxWebhookUrl);
    FUZZ_CHECK(!e->description ||
               rtjobs::http::check_text("d", *e->description, TextKind::kFreeText).has_value());
  } else {
    check_refusal(e.error());
  }

  check_utf8(body);
  return 0;
}
