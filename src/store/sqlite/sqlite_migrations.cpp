// SqliteStore::migration_status: schema_migrations read on a read connection (query only; under
// WAL a reader never waits for the writer nor holds it up).
#include "store/migration_states.hpp"
#include "store/sqlite/sqlite_schema.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rtjobs {

using store_detail::RowView;

Result<std::vector<MigrationState>> SqliteStore::migration_status() {
  std::vector<MigrationState> known;
  for (const auto& m : store_detail::sqlite_migrations()) {
    known.push_back(MigrationState{m.version, true, m.description, std::nullopt});
  }
  auto applied =
      read<std::map<int, std::string>>([](Connection& c) -> Result<std::map<int, std::string>> {
        std::map<int, std::string> rows;
        bool present = false;
        auto table =
            c.run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
                  {}, [&](const RowView&) -> Result<void> {
                    present = true;
                    return {};
                  });
        if (!table) return std::unexpected(table.error());
        if (!present) return rows;
        auto r = c.run("SELECT version, applied_at FROM schema_migrations", {},
                       [&](const RowView& row) -> Result<void> {
                         rows[std::stoi(std::string(row.text(0).value_or("0")))] =
                             std::string(row.text(1).value_or(""));
                         return {};
                       });
        if (!r) return std::unexpected(r.error());
        return rows;
      });
  if (!applied) return std::unexpected(applied.error().context("reading SQLite migrations"));
  return store_detail::merge_migration_states(std::move(known), *applied);
}

}  // namespace rtjobs
