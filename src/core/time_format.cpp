#include "core/time_format.hpp"

#include <charconv>
#include <cstdio>

namespace rtjobs {
namespace {

using namespace std::chrono;

// Reads exactly `n` digits at `pos`, advancing it.
std::optional<int> digits(std::string_view s, size_t& pos, size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(s.data() + pos, s.data() + pos + n, value);
  if (ec != std::errc{} || end != s.data() + pos + n) return std::nullopt;
  pos += n;
  return value;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

std::optional<Date> read_date(std::string_view s, size_t& pos) {
  auto y = digits(s, pos, 4);
  if (!y || !expect(s, pos, '-')) return std::nullopt;
  auto m = digits(s, pos, 2);
  if (!m || !expect(s, pos, '-')) return std::nullopt;
  auto d = digits(s, pos, 2);
  if (!d) return std::nullopt;
  year_month_day ymd{year{*y}, month{static_cast<unsigned>(*m)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return sys_days{ymd};
}

}  // namespace

std::string format_date(Date d) {
  year_month_day ymd{d};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

std::optional<Date> parse_date(std::string_view s) {
  size_t pos = 0;
  auto d = read_date(s, pos);
  if (!d || pos != s.size()) return std::nullopt;
  return d;
}

std::string format_timestamp(Timestamp t) {
  Date day = floor<days>(t);
  hh_mm_ss<milliseconds> tod{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%sT%02d:%02d:%02d.%03dZ", format_date(day).c_str(),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buf;
}

std::optional<Timestamp> parse_timestamp(std::string_view s) {
  size_t pos = 0;
  auto d = read_date(s, pos);
  if (!d) return std::nullopt;
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  auto hh = digits(s, pos, 2);
  if (!hh || !expect(s, pos, ':')) return std::nullopt;
  auto mm = digits(s, pos, 2);
  if (!mm || !expect(s, pos, ':')) return std::nullopt;
  auto ss = digits(s, pos, 2);
  if (!ss || *hh > 23 || *mm > 59 || *ss > 59) return std::nullopt;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    size_t n = pos - start;
    if (n == 0) return std::nullopt;
    for (size_t i = n; i < 3; ++i) millis *= 10;
  }
  std::string_view zone = s.substr(pos);
  if (zone != "Z" && zone != "+00" && zone != "+00:00") return std::nullopt;
  return Timestamp{*d} + hours{*hh} + minutes{*mm} + seconds{*ss} + milliseconds{millis};
}

}  // namespace rtjobs
