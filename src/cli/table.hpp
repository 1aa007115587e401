// What the operator CLI prints for people: aligned tables of the API's lists and a field-per-line
// view of one record, from the API's JSON as it answers (core/object_json.hpp's shapes). Scripts
// use --json instead; these texts may change. Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rtjobs::cli {

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;  // each as many cells as headers
};

// Columns left-aligned to their widest cell (counted in UTF-8 characters), two spaces apart, no
// trailing blanks; one line per row after the header line. No rows: the header line alone.
std::string format_table(const Table& table);

// One line per field, "name  value" with the names aligned: nested objects as dotted names
// (schedule.frequency), null as "-", arrays as compact JSON.
std::string format_record(const nlohmann::json& object);

// A JSON value as a cell: strings as they are, null and absent as "-", others as JSON.
std::string cell(const nlohmann::json& object, const char* key);

// The lists' tables: the columns an operator scans for, from the API's "data" array.
Table transfers_table(const nlohmann::json& transfers);
Table jobs_table(const nlohmann::json& jobs);
Table backups_table(const nlohmann::json& backups);

}  // namespace rtjobs::cli
