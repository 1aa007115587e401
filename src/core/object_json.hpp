// The stored records as JSON objects, as the API answers with them and events carry them (SPEC
// sections 1, 3, 4, 8): the table's column names as keys (sorted), instants
// "2026-11-28T00:00:00.000Z", dates "2026-11-28", money as an integer of minor units.
// Stateless; thread-safe.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "core/model.hpp"

namespace rtjobs {

nlohmann::json to_json(const Job& job);
nlohmann::json to_json(const RecurringTransfer& transfer);
nlohmann::json to_json(const Schedule& schedule);
nlohmann::json to_json(const ProviderStatus& status);

// dump(to_json(job)), byte for byte, written straight into a string: the process endpoint's
// hot answer and every job event's data, without building a JSON tree.
std::string job_json(const Job& job);
std::string transfer_json(const RecurringTransfer& transfer);

// Serializes with invalid UTF-8 replaced rather than throwing.
std::string dump(const nlohmann::json& value);

}  // namespace rtjobs
