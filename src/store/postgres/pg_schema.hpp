// The versioned PostgreSQL schema: migration N is applied once, in its own transaction holding
// pg_advisory_xact_lock(kMigrationLockKey) so concurrent migrators wait for each other, and is
// recorded in schema_migrations. Append new migrations; never edit old ones.
#pragma once

#include <cstdint>
#include <span>

namespace rtjobs::store_detail {

inline constexpr int64_t kMigrationLockKey = 0x72746a6f6273;  // "rtjobs"
// Shared by each event insert, exclusive while an endpoint becomes enabled (migration 13).
inline constexpr int64_t kEventsLockKey = 0x72746a6f627303;  // "rtjobs" 03

struct PgMigration {
  int version;
  const char* sql;  // DDL only, no values
  // What it changes, in a few words (`rtjobs migrate --status` lists it).
  const char* description = "";
};

std::span<const PgMigration> pg_migrations();

}  // namespace rtjobs::store_detail
