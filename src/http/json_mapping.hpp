// JSON mapping of the API (SPEC sections 1, 3, 4): domain records to JSON objects with the
// table's column names (instants "2026-11-28T00:00:00.000Z", dates "2026-11-28", money as an
// integer of minor units), and create-transfer request bodies to NewTransfer with strict
// validation: unknown fields, wrong types and out-of-range values are kInvalidArgument errors
// naming the field ("schedule.day_of_month"). Only http/*.cpp include this header.
// Stateless; thread-safe.
#pragma once

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "core/error.hpp"
#include "core/model.hpp"
#include "jobs/transfer_service.hpp"

namespace rtjobs::http {

nlohmann::json to_json(const Job& job);
// dump(to_json(job)), byte for byte, written straight into a string: the process endpoint's
// hot answer, without building a JSON tree.
std::string job_json(const Job& job);
nlohmann::json to_json(const RecurringTransfer& transfer);
nlohmann::json to_json(const Schedule& schedule);
nlohmann::json to_json(const ProviderStatus& status);

// The largest provider_options accepted, as compact JSON.
inline constexpr size_t kMaxProviderOptionsBytes = 16 * 1024;

// Parses a create-transfer body. Schedule fields not given keep the defaults of SPEC section 3;
// day_of_week, day_of_month and month stay unset (the schedule engine derives them from
// start_date). rail defaults to book; provider_options (an object, at most
// kMaxProviderOptionsBytes compact) is kept as its compact text, absent or null as none.
// idempotency_key and request_hash are left for the caller.
Result<NewTransfer> parse_new_transfer(std::string_view body);

// Parses a JSON body that must be an object; errors name "body".
Result<nlohmann::json> parse_json_object(std::string_view body);

// Serializes with invalid UTF-8 replaced rather than throwing.
std::string dump(const nlohmann::json& value);

}  // namespace rtjobs::http
