// Text forms of instants and dates, shared by the API, the stores and the backup CSV:
// instants as "2026-11-28T00:00:00.000Z" (always UTC, always milliseconds), dates as
// "2026-11-28". Parsing accepts exactly these forms (and, for instants, a missing fraction or
// a "+00:00"/"+00" offset, as PostgreSQL prints them), nothing looser.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs {

std::string format_timestamp(Timestamp t);
// Appends format_timestamp(t) to `out` without a temporary (hot paths: API answers, logs).
void append_timestamp(std::string& out, Timestamp t);
std::optional<Timestamp> parse_timestamp(std::string_view s);

std::string format_date(Date d);
void append_date(std::string& out, Date d);
std::optional<Date> parse_date(std::string_view s);

}  // namespace rtjobs
