#include "http/json_mapping.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "core/log.hpp"
#include "core/time_format.hpp"
#include "http/text.hpp"
#include "store/events.hpp"

namespace rtjobs::http {
namespace {

using nlohmann::json;

// Reads the fields of one JSON object, each once, and rejects the ones nobody asked for.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  std::string field(std::string_view name) const { return prefix_ + std::string(name); }

  // nullptr when absent or null.
  const json* get(std::string_view name) {
    seen_.insert(std::string(name));
    auto it = object_.find(std::string(name));
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Every text field of a request body is read here, and checked as its kind (http/text.hpp):
  // identifiers refuse every control character, free text keeps them but U+0000.
  Result<std::optional<std::string>> string(std::string_view name, size_t max_len = 255,
                                            TextKind kind = TextKind::kIdentifier) {
    const json* v = get(name);
    if (!v) return std::optional<std::string>();
    if (!v->is_string()) return invalid(field(name), field(name) + " must be a string");
    const auto& s = v->get_ref<const std::string&>();
    if (auto ok = check_text(field(name), s, kind); !ok) return std::unexpected(ok.error());
    if (s.size() > max_len) {
      return invalid(field(name),
                     field(name) + " must be at most " + std::to_string(max_len) + " characters");
    }
    return std::optional<std::string>(s);
  }

  Result<std::string> required_string(std::string_view name, size_t max_len = 255) {
    auto s = string(name, max_len);
    if (!s) return std::unexpected(s.error());
    if (!*s || (*s)->empty()) {
      return invalid(field(name), field(name) + " is required (a non-empty string)");
    }
    return **s;
  }

  Result<std::optional<int64_t>> integer(std::string_view name, int64_t lo, int64_t hi) {
    const json* v = get(name);
    if (!v) return std::optional<int64_t>();
    std::string range =
        " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
    if (!v->is_number_integer()) return invalid(field(name), field(name) + range);
    if (v->is_number_unsigned() &&
        v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid(field(name), field(name) + range);
    }
    int64_t i = v->get<int64_t>();
    if (i < lo || i > hi) return invalid(field(name), field(name) + range);
    return std::optional<int64_t>(i);
  }

  Result<void> reject_unknown() const {
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (!seen_.count(it.key())) {
        // An empty key is named as JSON writes it (""), so the error still names a field.
        const std::string name = field(it.key().empty() ? "\"\"" : it.key());
        return invalid(name, "unknown field " + name);
      }
    }
    return {};
  }

 private:
  const json& object_;
  std::string prefix_;
  std::set<std::string> seen_;
};

std::optional<int> parse_hh_mm(const std::string& s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (int i : {0, 1, 3, 4}) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

Result<Schedule> parse_schedule(const json& v) {
  if (!v.is_object()) return invalid("schedule", "schedule must be an object");
  ObjectReader r(v, "schedule.");
  Schedule s;

  auto frequency = r.required_string("frequency");
  if (!frequency) return std::unexpected(frequency.error());
  auto f = parse_frequency(*frequency);
  if (!f) {
    return invalid("schedule.frequency",
                   "schedule.frequency must be DAILY, WEEKLY, MONTHLY or YEARLY");
  }
  s.frequency = *f;

  auto interval = r.integer("interval", 1, 1000);
  if (!interval) return std::unexpected(interval.error());
  if (*interval) s.interval = static_cast<int>(**interval);

  auto day_of_week = r.integer("day_of_week", 1, 7);
  if (!day_of_week) return std::unexpected(day_of_week.error());
  if (*day_of_week) {
    if (s.frequency != Frequency::kWeekly) {
      return invalid("schedule.day_of_week", "schedule.day_of_week applies to WEEKLY schedules");
    }
    s.day_of_week = static_cast<int>(**day_of_week);
  }

  auto day_of_month = r.integer("day_of_month", -5, 31);
  if (!day_of_month) return std::unexpected(day_of_month.error());
  if (*day_of_month) {
    if (**day_of_month == 0) {
      return invalid("schedule.day_of_month",
                     "schedule.day_of_month must be 1..31, or -1..-5 counted from the month's end");
    }
    if (s.frequency != Frequency::kMonthly && s.frequency != Frequency::kYearly) {
      return invalid("schedule.day_of_month",
                     "schedule.day_of_month applies to MONTHLY and YEARLY schedules");
    }
    s.day_of_month = static_cast<int>(**day_of_month);
  }

  auto month = r.integer("month", 1, 12);
  if (!month) return std::unexpected(month.error());
  if (*month) {
    if (s.frequency != Frequency::kYearly) {
      return invalid("schedule.month", "schedule.month applies to YEARLY schedules");
    }
    s.month = static_cast<int>(**month);
  }

  auto start = r.required_string("start_date", 10);
  if (!start) {
    return invalid("schedule.start_date", "schedule.start_date is required (YYYY-MM-DD)");
  }
  auto start_date = parse_date(*start);
  if (!start_date) {
    return invalid("schedule.start_date", "schedule.start_date must be a date YYYY-MM-DD");
  }
  s.start_date = *start_date;

  auto end = r.string("end_date", 10);
  if (!end) return invalid("schedule.end_date", "schedule.end_date must be a date YYYY-MM-DD");
  if (*end) {
    auto end_date = parse_date(**end);
    if (!end_date) {
      return invalid("schedule.end_date", "schedule.end_date must be a date YYYY-MM-DD");
    }
    if (*end_date < s.start_date) {
      return invalid("schedule.end_date", "schedule.end_date must not be before start_date");
    }
    s.end_date = *end_date;
  }

  auto count = r.integer("count", 1, 100000);
  if (!count) return std::unexpected(count.error());
  if (*count) s.count = static_cast<int>(**count);

  auto timezone = r.string("timezone", 64);
  if (!timezone) return std::unexpected(timezone.error());
  if (*timezone) {
    if ((*timezone)->empty()) {
      return invalid("schedule.timezone", "schedule.timezone must be an IANA time zone name");
    }
    s.timezone = **timezone;
  }

  auto execution_time = r.string("execution_time", 5);
  if (!execution_time) {
    return invalid("schedule.execution_time", "schedule.execution_time must be \"HH:MM\"");
  }
  if (*execution_time) {
    auto minutes = parse_hh_mm(**execution_time);
    if (!minutes) {
      return invalid("schedule.execution_time",
                     "schedule.execution_time must be \"HH:MM\" (00:00 to 23:59)");
    }
    s.execution_minutes = *minutes;
  }

  auto business_day = r.string("business_day", 32);
  if (!business_day) return std::unexpected(business_day.error());
  if (*business_day) {
    auto b = parse_business_day(**business_day);
    if (!b) {
      return invalid("schedule.business_day",
                     "schedule.business_day must be NONE, FOLLOWING, PRECEDING or "
                     "MODIFIED_FOLLOWING");
    }
    s.business_day = *b;
  }

  auto calendar = r.string("calendar", 64);
  if (!calendar) return std::unexpected(calendar.error());
  if (*calendar) {
    if ((*calendar)->empty()) {
      return invalid("schedule.calendar", "schedule.calendar must be a calendar name");
    }
    s.calendar = **calendar;
  }

  if (auto u = r.reject_unknown(); !u) return std::unexpected(u.error());
  return s;
}

// "rail": "book" (the default) or "ach".
Result<Rail> parse_rail_field(ObjectReader& r) {
  auto v = r.string("rail", 16);
  if (v && !*v) return Rail::kBook;
  auto rail = v ? parse_rail(**v) : std::nullopt;
  if (!rail) return invalid("rail", "rail must be \"book\" or \"ach\"");
  return *rail;
}

// Every key and string of a provider_options value, at any depth, as identifiers.
Result<void> check_options_text(const json& v, const std::string& path) {
  if (v.is_string()) {
    return check_text(path, v.get_ref<const std::string&>(), TextKind::kIdentifier);
  }
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      std::string p = path + "." + it.key();
      if (auto ok = check_text(p, it.key(), TextKind::kIdentifier); !ok) return ok;
      if (auto ok = check_options_text(it.value(), p); !ok) return ok;
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (auto ok = check_options_text(v[i], path + "[" + std::to_string(i) + "]"); !ok) return ok;
    }
  }
  return {};
}

// "provider_options": an object, kept as its compact text (what the adapter reads and the
// store keeps), bounded so a transfer row stays small. An empty object is the same as none.
Result<std::optional<std::string>> parse_provider_options(ObjectReader& r) {
  const json* v = r.get("provider_options");
  if (!v) return std::optional<std::string>();
  if (!v->is_object()) return invalid("provider_options", "provider_options must be an object");
  if (v->empty()) return std::optional<std::string>();
  // The options go to the bank (ACH descriptors, names, memos): identifiers, names and values.
  if (auto ok = check_options_text(*v, "provider_options"); !ok) return std::unexpected(ok.error());
  std::string text = dump(*v);
  if (text.size() > kMaxProviderOptionsBytes) {
    return invalid("provider_options", "provider_options must be at most " +
                                           std::to_string(kMaxProviderOptionsBytes / 1024) +
                                           " KiB as compact JSON");
  }
  return std::optional<std::string>(std::move(text));
}

}  // namespace

Result<json> parse_json_object(std::string_view body) {
  json v = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return std::unexpected(unparsable_json_error(body));
  if (!v.is_object()) return invalid("body", "the request body must be a JSON object");
  // U+0000 in any string, keys included, whatever reads it next (http/text.hpp).
  if (auto ok = check_json_text(v); !ok) return std::unexpected(ok.error());
  return v;
}

Result<TransferPatch> parse_transfer_patch(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return std::unexpected(doc.error());
  ObjectReader r(*doc, "");
  TransferPatch patch;
  if (r.get("amount")) {
    auto amount = r.integer("amount", 1, std::numeric_limits<int64_t>::max());
    if (!amount) {
      return invalid("amount",
                     "amount must be a positive integer of minor units (e.g. 5000 "
                     "for 50.00)");
    }
    patch.amount = *amount;
  }
  auto description = r.string("description", 1000, TextKind::kFreeText);
  if (!description) return std::unexpected(description.error());
  patch.description = std::move(*description);
  // Of the schedule, only its end: each field set, or removed by null (JSON Merge Patch).
  if (doc->contains("schedule") && (*doc)["schedule"].is_null()) {
    return invalid("schedule", "schedule cannot be removed; only its end_date and count change");
  }
  if (const json* schedule = r.get("schedule")) {
    if (!schedule->is_object()) {
      return invalid("schedule", "schedule must be an object with end_date and/or count");
    }
    ObjectReader s(*schedule, "schedule.");
    if (schedule->contains("end_date")) {
      auto end = s.string("end_date", 10);
      if (!end)
        return invalid("schedule.end_date", "schedule.end_date must be a date YYYY-MM-DD or null");
      std::optional<Date> end_date;
      if (*end) {
        end_date = parse_date(**end);
        if (!end_date) {
          return invalid("schedule.end_date",
                         "schedule.end_date must be a date YYYY-MM-DD or null");
        }
      }
      patch.end_date = end_date;
    }
    if (schedule->contains("count")) {
      auto count = s.integer("count", 1, 100000);
      if (!count) return std::unexpected(count.error());
      patch.count = *count ? std::optional<int>(static_cast<int>(**count)) : std::nullopt;
    }
    if (auto unknown = s.reject_unknown(); !unknown) {
      return invalid(unknown.error().field,
                     "only schedule.end_date and schedule.count can change; " +
                         unknown.error().field + " cannot");
    }
  }
  if (auto unknown = r.reject_unknown(); !unknown) return std::unexpected(unknown.error());
  return patch;
}

Result<NewTransfer> parse_new_transfer(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return std::unexpected(doc.error());
  ObjectReader r(*doc, "");
  NewTransfer t;

  auto external_id = r.string("external_id");
  if (!external_id) return std::unexpected(external_id.error());
  t.external_id = *external_id;

  auto provider = r.required_string("provider", 64);
  if (!provider) return std::unexpected(provider.error());
  t.provider = *provider;
  auto source = r.required_string("source_account");
  if (!source) return std::unexpected(source.error());
  t.source_account = *source;
  auto destination = r.required_string("destination_account");
  if (!destination) return std::unexpected(destination.error());
  t.destination_account = *destination;

  const json* amount = r.get("amount");
  if (!amount || !amount->is_number_integer() ||
      (amount->is_number_unsigned() &&
       amount->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) ||
      amount->get<int64_t>() <= 0) {
    return invalid("amount",
                   "amount is required: a positive integer of minor units (e.g. 5000 "
                   "for 50.00)");
  }
  t.amount = amount->get<int64_t>();

  auto currency = r.required_string("currency", 3);
  bool currency_ok = currency && currency->size() == 3;
  for (char c : currency ? *currency : std::string())
    currency_ok = currency_ok && c >= 'A' && c <= 'Z';
  if (!currency_ok) {
    return invalid("currency", "currency must be an ISO 4217 code of 3 upper-case letters");
  }
  t.currency = *currency;

  auto description = r.string("description", 1000, TextKind::kFreeText);
  if (!description) return std::unexpected(description.error());
  t.description = description->value_or("");

  auto rail = parse_rail_field(r);
  if (!rail) return std::unexpected(rail.error());
  t.rail = *rail;
  auto options = parse_provider_options(r);
  if (!options) return std::unexpected(options.error());
  t.provider_options = std::move(*options);

  const json* schedule = r.get("schedule");
  if (!schedule) return invalid("schedule", "schedule is required (an object)");
  auto s = parse_schedule(*schedule);
  if (!s) return std::unexpected(s.error());
  t.schedule = std::move(*s);

  if (auto u = r.reject_unknown(); !u) return std::unexpected(u.error());
  return t;
}

Result<WebhookEndpointBody> parse_webhook_endpoint(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return std::unexpected(doc.error());
  ObjectReader r(*doc, "");
  WebhookEndpointBody e;
  auto url = r.string("url", kMaxWebhookUrl);
  if (!url) return std::unexpected(url.error());
  if (!*url) return invalid("url", "url is required");
  e.url = std::move(**url);
  if (const json* types = r.get("event_types")) {
    if (!types->is_array() || types->empty()) {
      return invalid("event_types",
                     "event_types must be a non-empty array of event types (omit it for all)");
    }
    for (const json& t : *types) {
      if (!t.is_string() || !store_detail::is_event_type(t.get_ref<const std::string&>())) {
        return invalid("event_types",
                       "event_types holds an unknown event type " +
                           (t.is_string() ? to_valid_utf8(t.get<std::string>()) : dump(t)));
      }
      const auto& type = t.get_ref<const std::string&>();
      if (std::find(e.event_types.begin(), e.event_types.end(), type) == e.event_types.end()) {
        e.event_types.push_back(type);
      }
    }
  }
  auto description = r.string("description", kMaxWebhookDescription, TextKind::kFreeText);
  if (!description) return std::unexpected(description.error());
  e.description = std::move(*description);
  if (auto u = r.reject_unknown(); !u) return std::unexpected(u.error());
  return e;
}

}  // namespace rtjobs::http
