// PgStore::migration_status: schema_migrations read with plain SELECTs, without the migration
// lock (kMigrationLockKey), so it answers while a migrator holds it and never delays one.
#include "store/migration_states.hpp"
#include "store/postgres/pg_schema.hpp"
#include "store/postgres/pg_store.hpp"

namespace rtjobs {

Result<std::vector<MigrationState>> PgStore::migration_status() {
  std::vector<MigrationState> known;
  for (const auto& m : store_detail::pg_migrations()) {
    known.push_back(MigrationState{m.version, true, m.description, std::nullopt});
  }
  static const std::string table_sql = "SELECT to_regclass('schema_migrations') IS NOT NULL";
  static const std::string applied_sql =
      "SELECT version, to_char(applied_at AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM schema_migrations";
  auto c = pool_.acquire();
  if (!c) return std::unexpected(c.error().context("reading PostgreSQL migrations"));
  std::map<int, std::string> applied;
  auto table = (*c)->query(table_sql, {});
  if (!table) return std::unexpected(table.error().context("reading PostgreSQL migrations"));
  if (table->text(0, 0).value_or("f") == "t") {
    auto rows = (*c)->query(applied_sql, {});
    if (!rows) return std::unexpected(rows.error().context("reading PostgreSQL migrations"));
    for (int i = 0; i < rows->rows(); ++i) {
      applied[std::stoi(std::string(rows->text(i, 0).value_or("0")))] =
          std::string(rows->text(i, 1).value_or(""));
    }
  }
  return store_detail::merge_migration_states(std::move(known), applied);
}

}  // namespace rtjobs
