#include "core/time_format.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace rtjobs {
namespace {

using namespace std::chrono;

// The printf form format_timestamp() had before it wrote digits itself.
std::string printf_timestamp(Timestamp t) {
  Date day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss<milliseconds> tod{t - day};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(tod.hours().count()),
                static_cast<int>(tod.minutes().count()), static_cast<int>(tod.seconds().count()),
                static_cast<int>(tod.subseconds().count()));
  return buf;
}

TEST(TimeFormatTest, TimestampsMatchThePrintfFormAcrossYearsAndTimesOfDay) {
  // From 1970 to about 2100, with steps that land on every field's edges over the run.
  for (int64_t ms = 0; ms < 4'102'444'800'000; ms += 86'399'997 * 7 + 1) {
    Timestamp t{milliseconds(ms)};
    ASSERT_EQ(format_timestamp(t), printf_timestamp(t)) << ms;
  }
  EXPECT_EQ(format_timestamp(Timestamp{milliseconds(1'795'823'999'999)}),
            "2026-11-27T23:59:59.999Z");
  EXPECT_EQ(format_timestamp(Timestamp{milliseconds(-1)}), "1969-12-31T23:59:59.999Z");
}

TEST(TimeFormatTest, AppendsToWhatIsThere) {
  std::string out = "at ";
  append_timestamp(out, Timestamp{milliseconds(951'782'400'005)});
  out += ' ';
  append_date(out, sys_days{year{2024} / 2 / 29});
  EXPECT_EQ(out, "at 2000-02-29T00:00:00.005Z 2024-02-29");
}

TEST(TimeFormatTest, ParsesWhatItFormats) {
  Timestamp t{milliseconds(1'795'910'400'123)};
  EXPECT_EQ(parse_timestamp(format_timestamp(t)), t);
  Date d = sys_days{year{2026} / 11 / 28};
  EXPECT_EQ(parse_date(format_date(d)), d);
}

}  // namespace
}  // namespace rtjobs
