#include "backup/cron.hpp"

#include <date/tz.h>

#include <array>
#include <charconv>
#include <vector>

namespace rtjobs::backup {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 12> kMonthNames{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames{"SUN", "MON", "TUE", "WED",
                                                    "THU", "FRI", "SAT"};

std::optional<int> parse_value(std::string_view s, int names_base, const std::string_view* names,
                               size_t name_count) {
  int v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc{} && end == s.data() + s.size()) return v;
  if (names && s.size() == 3) {
    std::string upper;
    for (char c : s)
      upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    for (size_t i = 0; i < name_count; ++i) {
      if (names[i] == upper) return static_cast<int>(i) + names_base;
    }
  }
  return std::nullopt;
}

// Parses one field into `bits` (indices lo..hi). Returns false when malformed.
template <size_t N>
bool parse_field(std::string_view field, int lo, int hi, std::bitset<N>& bits,
                 const std::string_view* names = nullptr, size_t name_count = 0,
                 int names_base = 0) {
  if (field.empty()) return false;
  size_t pos = 0;
  while (pos <= field.size()) {
    size_t comma = field.find(',', pos);
    if (comma == std::string_view::npos) comma = field.size();
    std::string_view item = field.substr(pos, comma - pos);
    int step = 1;
    if (size_t slash = item.find('/'); slash != std::string_view::npos) {
      auto s = parse_value(item.substr(slash + 1), 0, nullptr, 0);
      if (!s || *s < 1) return false;
      step = *s;
      item = item.substr(0, slash);
    }
    int first = lo, last = hi;
    if (item != "*") {
      size_t dash = item.find('-');
      auto a = parse_value(item.substr(0, dash), names_base, names, name_count);
      if (!a) return false;
      first = last = *a;
      if (dash != std::string_view::npos) {
        auto b = parse_value(item.substr(dash + 1), names_base, names, name_count);
        if (!b) return false;
        last = *b;
      } else if (step > 1) {
        last = hi;  // "5/15" = from 5 to the end, every 15
      }
    }
    if (first < lo || last > hi || first > last) return false;
    for (int v = first; v <= last; v += step) bits.set(static_cast<size_t>(v));
    if (comma == field.size()) break;
    pos = comma + 1;
  }
  return true;
}

std::string_view expand_macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return text;
}

}  // namespace

Result<CronExpression> CronExpression::parse(std::string_view text) {
  CronExpression cron;
  cron.text_ = std::string(text);
  std::string_view expr = expand_macro(text);
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < expr.size()) {
    size_t start = expr.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    size_t end = expr.find_first_of(" \t", start);
    if (end == std::string_view::npos) end = expr.size();
    fields.push_back(expr.substr(start, end - start));
    pos = end;
  }
  auto bad = [&](std::string_view what) {
    return invalid("RT_BACKUP_SCHEDULE",
                   "bad cron expression \"" + std::string(text) + "\": " + std::string(what));
  };
  if (fields.size() != 5)
    return bad("expected 5 fields: minute hour day-of-month month day-of-week");
  if (!parse_field(fields[0], 0, 59, cron.minutes_)) return bad("minute");
  if (!parse_field(fields[1], 0, 23, cron.hours_)) return bad("hour");
  if (!parse_field(fields[2], 1, 31, cron.days_)) return bad("day of month");
  if (!parse_field(fields[3], 1, 12, cron.months_, kMonthNames.data(), 12, 1)) return bad("month");
  std::bitset<8> weekdays;
  if (!parse_field(fields[4], 0, 7, weekdays, kDayNames.data(), 7, 0)) return bad("day of week");
  for (size_t d = 0; d < 7; ++d) cron.weekdays_[d] = weekdays[d];
  if (weekdays[7]) cron.weekdays_.set(0);
  cron.days_star_ = fields[2].starts_with('*');
  cron.weekdays_star_ = fields[4].starts_with('*');
  return cron;
}

bool CronExpression::day_matches(year_month_day ymd) const {
  if (!months_[static_cast<unsigned>(ymd.month())]) return false;
  bool dom = days_[static_cast<unsigned>(ymd.day())];
  bool dow = weekdays_[weekday{sys_days{ymd}}.c_encoding()];
  if (days_star_ || weekdays_star_) return dom && dow;  // one of them is '*': both must hold
  return dom || dow;                                    // both restricted: either (Vixie)
}

std::optional<Timestamp> CronExpression::next_after(Timestamp t,
                                                    const date::time_zone* zone) const {
  auto local_now = zone->to_local(floor<seconds>(t));
  auto start = floor<minutes>(local_now) + minutes{1};
  auto day = floor<days>(start);
  for (int i = 0; i < 8 * 366; ++i, day += days{1}) {
    year_month_day ymd{sys_days{day.time_since_epoch()}};
    if (!day_matches(ymd)) continue;
    for (int h = 0; h < 24; ++h) {
      if (!hours_[static_cast<size_t>(h)]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[static_cast<size_t>(m)]) continue;
        auto local = day + hours{h} + minutes{m};
        if (local < start) continue;
        auto info = zone->get_info(local);
        sys_seconds utc;
        if (info.result == date::local_info::nonexistent) {
          utc = info.second.begin;  // the gap's end: the first instant after the jump
        } else {
          utc = sys_seconds{local.time_since_epoch()} - info.first.offset;
        }
        if (utc <= floor<seconds>(t)) continue;
        return time_point_cast<milliseconds>(utc);
      }
    }
  }
  return std::nullopt;
}

Result<const date::time_zone*> find_zone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return invalid("RT_BACKUP_TIMEZONE", "unknown time zone \"" + name + "\"");
  }
}

}  // namespace rtjobs::backup
