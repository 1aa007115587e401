// CronExpression: the five-field cron syntax of RT_BACKUP_SCHEDULE ("minute hour day-of-month
// month day-of-week"), with '*', lists (1,15), ranges (1-5), steps (*/15, 1-30/2), month and
// weekday names (JAN, MON), 0 or 7 for Sunday, and the macros @yearly/@annually, @monthly,
// @weekly, @daily/@midnight, @hourly. Day-of-month and day-of-week follow Vixie cron: when both
// are restricted (neither starts with '*'), a day matches if either matches.
//
// next_after() gives the first matching minute strictly after `t`, read as wall-clock time in
// the given IANA zone (date/tz). A local time skipped by a DST jump runs at the jump's end; a
// repeated one runs once, at its first occurrence.
//
// Immutable after parse(); thread-safe.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "core/error.hpp"

namespace date {
class time_zone;
}

namespace rtjobs::backup {

class CronExpression {
 public:
  // kInvalidArgument with field "RT_BACKUP_SCHEDULE" naming the bad field.
  static Result<CronExpression> parse(std::string_view text);

  // nullopt if nothing matches within eight years (e.g. "0 0 30 2 *").
  std::optional<Timestamp> next_after(Timestamp t, const date::time_zone* zone) const;

  const std::string& text() const { return text_; }

 private:
  bool day_matches(std::chrono::year_month_day ymd) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

// Finds an IANA time zone (kInvalidArgument with field "RT_BACKUP_TIMEZONE" when unknown).
Result<const date::time_zone*> find_zone(const std::string& name);

}  // namespace rtjobs::backup
