#include "backup/backup_rules.hpp"

#include <cstdio>

#include "core/time_format.hpp"

namespace rtjobs::backup {

using namespace std::chrono;

Date add_months(Date d, int months) {
  year_month_day ymd{d};
  year_month ym = ymd.year() / ymd.month() + std::chrono::months{months};
  auto last_day = (ym.year() / ym.month() / last).day();
  return sys_days{year_month_day{ym.year(), ym.month(), std::min(ymd.day(), last_day)}};
}

bool months_passed(Timestamp last, Timestamp now, int months) {
  return floor<days>(now) >= add_months(floor<days>(last), months);
}

Date cutoff_date(Timestamp now, int before_months) {
  return add_months(floor<days>(now), -before_months);
}

std::string run_stamp(Timestamp now) {
  std::string iso = format_timestamp(now);  // 2026-11-28T00:00:00.123Z
  std::string out;
  for (char c : iso) {
    if (c != '-' && c != ':') out.push_back(c);
  }
  return out;  // 20261128T000000.123Z
}

std::string object_key(std::string_view table, Timestamp now) {
  year_month_day ymd{floor<days>(now)};
  char ym[16];
  std::snprintf(ym, sizeof ym, "%04d/%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()));
  return std::string(table) + "/" + ym + "/" + std::string(table) + "-" + run_stamp(now) + ".csv";
}

}  // namespace rtjobs::backup
