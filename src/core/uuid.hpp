// UUID version 7 identifiers (RFC 9562): 48 bits of Unix milliseconds, then random bits, with a
// counter so ids made by one process in the same millisecond still sort in creation order.
// Ids are handled as their canonical lower-case text form. Thread-safe.
//
// new_uuid_v7() is for data (jobs, transfers): random bits from OpenSSL, monotonic per process.
// new_request_id() is for request ids, which need uniqueness, not secrecy: the same text form,
// random bits from a per-thread generator seeded once from OpenSSL, no lock, no system call.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.hpp"

namespace rtjobs {

std::string new_uuid_v7(Timestamp now);

// A UUIDv7-formatted id with `now` in its time field and 74 bits of a per-thread xoshiro256**
// stream (seeded from RAND_bytes on the thread's first call). Not for secrets or stored ids.
std::string new_request_id(Timestamp now);

// True for the canonical 8-4-4-4-12 hexadecimal form (any version; either case).
bool is_uuid(std::string_view s);

}  // namespace rtjobs
