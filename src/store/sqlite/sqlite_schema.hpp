// The versioned SQLite schema: migration N is applied once, in its own BEGIN IMMEDIATE
// transaction, and recorded in schema_migrations. Append new migrations; never edit old ones.
#pragma once

#include <span>

namespace rtjobs::store_detail {

struct SqliteMigration {
  int version;
  const char* sql;  // DDL only, no values
  // The migration edited sqlite_schema: the runner increments PRAGMA schema_version in the same
  // transaction, so every connection re-reads the schema.
  bool bump_schema_version;
  // What it changes, in a few words (`rtjobs migrate --status` lists it).
  const char* description = "";
};

std::span<const SqliteMigration> sqlite_migrations();

}  // namespace rtjobs::store_detail
