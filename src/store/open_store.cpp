// open_store: picks the Store implementation from the database URL (see store.hpp).
#include "store/postgres/pg_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "store/store.hpp"

namespace rtjobs {

Result<std::unique_ptr<Store>> open_store(std::string_view database_url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (database_url.starts_with(kSqlite)) {
    std::string path(database_url.substr(kSqlite.size()));
    if (path.empty()) return invalid("RT_DATABASE_URL", "sqlite:// needs a file path");
    auto store = SqliteStore::open(path);
    if (!store) return std::unexpected(store.error().context("opening RT_DATABASE_URL"));
    return std::unique_ptr<Store>(std::move(*store));
  }
  if (database_url.starts_with("postgresql://") || database_url.starts_with("postgres://")) {
    auto store = PgStore::open(std::string(database_url));
    if (!store) return std::unexpected(store.error().context("opening RT_DATABASE_URL"));
    return std::unique_ptr<Store>(std::move(*store));
  }
  return invalid("RT_DATABASE_URL",
                 "unsupported database URL: expected sqlite://PATH, sqlite://:memory:, "
                 "postgresql://... or postgres://...");
}

}  // namespace rtjobs
