#include "app/migrate_status.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include "store/store.hpp"

namespace rtjobs {

int run_migrate_status(const Config& config) {
  auto store = open_store(config.database_url);
  if (!store) {
    std::fprintf(stderr, "rtjobs: cannot open the database: %s\n", store.error().message.c_str());
    return 1;
  }
  auto states = (*store)->migration_status();
  if (!states) {
    std::fprintf(stderr, "rtjobs: cannot read the migrations: %s\n",
                 states.error().message.c_str());
    return 1;
  }
  const auto pending = std::ranges::count_if(*states, [](const auto& m) { return !m.applied_at; });
  const auto newer = std::ranges::count_if(*states, [](const auto& m) { return !m.known; });
  std::printf("%-8s %-25s %s\n", "VERSION", "APPLIED AT", "DESCRIPTION");
  for (const MigrationState& m : *states) {
    const std::string description =
        m.known ? m.description : "(applied by a newer rtjobs; unknown to this binary)";
    std::printf("%-8d %-25s %s\n", m.version, m.applied_at ? m.applied_at->c_str() : "pending",
                description.c_str());
  }
  std::printf("rtjobs: %s database: %ld applied, %ld pending",
              std::string((*store)->backend()).c_str(), static_cast<long>(states->size() - pending),
              static_cast<long>(pending));
  if (newer > 0) std::printf(", %ld from a newer rtjobs", static_cast<long>(newer));
  std::printf(" (%s)\n", pending > 0 ? "run `rtjobs migrate`" : "up to date");
  return pending > 0 ? kExitMigrationsPending : 0;
}

}  // namespace rtjobs
