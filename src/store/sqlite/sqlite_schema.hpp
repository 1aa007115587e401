// The versioned SQLite schema: migration N is applied once, in its own BEGIN IMMEDIATE
// transaction, and recorded in schema_migrations. Append new migrations; never edit old ones.
#pragma once

#include <span>

namespace rtjobs::store_detail {

struct SqliteMigration {
  int version;
  const char* sql;  // DDL only, no values
};

std::span<const SqliteMigration> sqlite_migrations();

}  // namespace rtjobs::store_detail
