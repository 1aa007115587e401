// Calendars: which dates are business days (SPEC section 3). Every calendar treats Saturdays
// and Sundays as non-business days; WEEKENDS adds nothing more, US_FEDERAL_RESERVE adds the
// Federal Reserve holidays (rule-based, with their observed dates), and an operator's holiday
// file adds its listed dates. The business-day rules move a date off non-business days.
// Immutable once built; thread-safe.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"

namespace rtjobs {

class Calendar {
 public:
  virtual ~Calendar() = default;
  virtual bool is_business_day(Date d) const = 0;
};

// Applies a business-day convention with `calendar`.
Date adjust(Date d, BusinessDay rule, const Calendar& calendar);

class CalendarSet {
 public:
  // WEEKENDS and US_FEDERAL_RESERVE, plus holiday files (name -> path; one YYYY-MM-DD a line,
  // '#' comments). A file that cannot be read or parsed is an Error naming the calendar.
  static Result<CalendarSet> make(const std::map<std::string, std::string>& holiday_files);
  static CalendarSet builtin();

  const Calendar* find(std::string_view name) const;

 private:
  std::map<std::string, std::shared_ptr<const Calendar>, std::less<>> calendars_;
};

}  // namespace rtjobs
