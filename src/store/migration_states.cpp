#include "store/migration_states.hpp"

#include <algorithm>

namespace rtjobs::store_detail {

std::vector<MigrationState> merge_migration_states(std::vector<MigrationState> known,
                                                   const std::map<int, std::string>& applied) {
  for (MigrationState& m : known) {
    auto it = applied.find(m.version);
    if (it != applied.end()) m.applied_at = it->second;
  }
  for (const auto& [version, applied_at] : applied) {
    bool ours = std::ranges::any_of(known, [v = version](const auto& m) { return m.version == v; });
    if (!ours) known.push_back(MigrationState{version, false, "", applied_at});
  }
  std::ranges::sort(known, {}, &MigrationState::version);
  return known;
}

}  // namespace rtjobs::store_detail
