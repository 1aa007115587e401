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

void append_digits(std::string& out, unsigned value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(buf, static_cast<size_t>(width));
}

}  // namespace

void append_date(std::string& out, Date d) {
  year_month_day ymd{d};
  int y = static_cast<int>(ymd.year());
  if (y < 0 || y > 9999) {  // never in practice; printf's form for the odd case
    char buf[24];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    out += buf;
    return;
  }
  append_digits(out, static_cast<unsigned>(y), 4);
  out += '-';
  append_digits(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_digits(out, static_cast<unsigned>(ymd.day()), 2);
}

std::string format_date(Date d) {
  std::string out;
  append_date(out, d);
  return out;
}

std::optional<Date> parse_date(std::string_view s) {
  size_t pos = 0;
  auto d = read_date(s, pos);
  if (!d || pos != s.size()) return std::nullopt;
  return d;
}

void append_timestamp(std::string& out, Timestamp t) {
  Date day = floor<days>(t);
  auto ms = static_cast<unsigned>((t - day).count());  // 0 .. 86,399,999
  append_date(out, day);
  out += 'T';
  append_digits(out, ms / 3'600'000, 2);
  out += ':';
  append_digits(out, ms / 60'000 % 60, 2);
  out += ':';
  append_digits(out, ms / 1000 % 60, 2);
  out += '.';
  append_digits(out, ms % 1000, 3);
  out += 'Z';
}

std::string format_timestamp(Timestamp t) {
  std::string out;
  append_timestamp(out, t);
  return out;
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
