// What `rtjobs migrate --status` lists, put together the same way for both databases: the
// migrations this binary knows beside the versions the database records as applied.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace rtjobs::store_detail {

// `known`: this binary's migrations (version and description, known = true, in any order);
// `applied`: schema_migrations' rows, version -> applied_at. The result holds each version once,
// ascending: known ones with their applied_at when applied, and applied ones this binary does
// not know (known = false).
std::vector<MigrationState> merge_migration_states(std::vector<MigrationState> known,
                                                   const std::map<int, std::string>& applied);

}  // namespace rtjobs::store_detail
