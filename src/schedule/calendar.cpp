#include "schedule/calendar.hpp"

#include <fstream>

#include "core/time_format.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono;

bool is_weekend(Date d) {
  weekday w{d};
  return w == Saturday || w == Sunday;
}

class WeekendCalendar final : public Calendar {
 public:
  bool is_business_day(Date d) const override { return !is_weekend(d); }
};

// The n-th `w` of a month (n = 1..4), or the last one (n = -1).
Date nth_weekday(year y, month m, weekday w, int n) {
  if (n > 0) return sys_days{y / m / w[static_cast<unsigned>(n)]};
  return sys_days{y / m / w[last]};
}

// The Federal Reserve's holidays (12 CFR 7.1005 schedule as the Fed publishes it): a holiday on
// a Sunday is observed the Monday after; one on a Saturday is not moved (the Fed stays open on
// the Friday before), and the Saturday is a weekend day anyway.
class FederalReserveCalendar final : public Calendar {
 public:
  bool is_business_day(Date d) const override { return !is_weekend(d) && !is_holiday(d); }

 private:
  static bool is_holiday(Date d) {
    year y = year_month_day{d}.year();
    auto fixed = [&](month m, unsigned day_of_month) {
      Date h = sys_days{y / m / day{day_of_month}};
      return weekday{h} == Sunday ? h + days{1} : h;
    };
    const Date holidays[] = {
        fixed(January, 1),
        nth_weekday(y, January, Monday, 3),   // Martin Luther King Jr.
        nth_weekday(y, February, Monday, 3),  // Washington's Birthday
        nth_weekday(y, May, Monday, -1),      // Memorial Day
        fixed(July, 4),
        nth_weekday(y, September, Monday, 1),   // Labor Day
        nth_weekday(y, October, Monday, 2),     // Columbus Day
        fixed(November, 11),                    // Veterans Day
        nth_weekday(y, November, Thursday, 4),  // Thanksgiving
        fixed(December, 25),
    };
    for (Date h : holidays) {
      if (h == d) return true;
    }
    return y >= year{2022} && d == fixed(June, 19);  // Juneteenth, observed by the Fed from 2022
  }
};

class HolidayFileCalendar final : public Calendar {
 public:
  explicit HolidayFileCalendar(std::set<Date> holidays) : holidays_(std::move(holidays)) {}
  bool is_business_day(Date d) const override { return !is_weekend(d) && !holidays_.contains(d); }

 private:
  std::set<Date> holidays_;
};

Result<std::set<Date>> read_holiday_file(const std::string& name, const std::string& path) {
  std::ifstream in(path);
  std::string field = "calendars." + name;
  if (!in) return invalid(field, "cannot read holiday file '" + path + "'");
  std::set<Date> dates;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    auto last = line.find_last_not_of(" \t\r");
    auto date = parse_date(std::string_view(line).substr(first, last - first + 1));
    if (!date) {
      return invalid(field, path + ":" + std::to_string(number) + ": expected a YYYY-MM-DD date");
    }
    dates.insert(*date);
  }
  return dates;
}

}  // namespace

Date adjust(Date d, BusinessDay rule, const Calendar& calendar) {
  auto forward = [&](Date x) {
    while (!calendar.is_business_day(x)) x += days{1};
    return x;
  };
  auto backward = [&](Date x) {
    while (!calendar.is_business_day(x)) x -= days{1};
    return x;
  };
  switch (rule) {
    case BusinessDay::kNone:
      return d;
    case BusinessDay::kFollowing:
      return forward(d);
    case BusinessDay::kPreceding:
      return backward(d);
    case BusinessDay::kModifiedFollowing: {
      Date f = forward(d);
      return year_month_day{f}.month() == year_month_day{d}.month() ? f : backward(d);
    }
  }
  return d;
}

CalendarSet CalendarSet::builtin() {
  CalendarSet set;
  set.calendars_.emplace("WEEKENDS", std::make_shared<WeekendCalendar>());
  set.calendars_.emplace("US_FEDERAL_RESERVE", std::make_shared<FederalReserveCalendar>());
  return set;
}

Result<CalendarSet> CalendarSet::make(const std::map<std::string, std::string>& holiday_files) {
  CalendarSet set = builtin();
  for (const auto& [name, path] : holiday_files) {
    auto dates = read_holiday_file(name, path);
    if (!dates) return std::unexpected(dates.error());
    set.calendars_[name] = std::make_shared<HolidayFileCalendar>(std::move(*dates));
  }
  return set;
}

const Calendar* CalendarSet::find(std::string_view name) const {
  auto it = calendars_.find(name);
  return it == calendars_.end() ? nullptr : it->second.get();
}

}  // namespace rtjobs
