// `rtjobs migrate --status`: which migrations RT_DATABASE_URL has applied and which are pending,
// for deploy scripts (run it before starting a new binary, or before and after `rtjobs migrate`).
// Read only: it applies nothing and takes no lock a running server or a migrator waits on.
//
// Prints one line per migration (version, applied-at or "pending", description) and a summary.
// A version applied by a newer binary is listed as such: the old binary keeps working against
// it (docs/UPGRADES.md). Exit codes: 0 up to date (nothing pending), 3 migrations pending,
// 1 the database could not be read.
#pragma once

#include "config/config.hpp"

namespace rtjobs {

inline constexpr int kExitMigrationsPending = 3;

int run_migrate_status(const Config& config);

}  // namespace rtjobs
