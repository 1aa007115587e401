// UUID version 7 identifiers (RFC 9562): 48 bits of Unix milliseconds, then random bits, with a
// counter so ids made by one process in the same millisecond still sort in creation order.
// Ids are handled as their canonical lower-case text form. Thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs {

std::string new_uuid_v7(Timestamp now);

// True for the canonical 8-4-4-4-12 hexadecimal form (any version; either case).
bool is_uuid(std::string_view s);

}  // namespace rtjobs
