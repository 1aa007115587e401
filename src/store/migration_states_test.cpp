#include "store/migration_states.hpp"

#include <gtest/gtest.h>

namespace rtjobs::store_detail {
namespace {

MigrationState known(int version, const char* description) {
  return MigrationState{version, true, description, std::nullopt};
}

TEST(MergeMigrationStates, AppliedKnownAndPendingInVersionOrder) {
  auto states = merge_migration_states({known(2, "two"), known(1, "one"), known(3, "three")},
                                       {{1, "2026-12-01T00:00:00.000Z"}, {2, "2026-12-02"}});
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[0].version, 1);
  EXPECT_EQ(states[0].description, "one");
  EXPECT_EQ(states[0].applied_at, "2026-12-01T00:00:00.000Z");
  EXPECT_EQ(states[1].applied_at, "2026-12-02");
  EXPECT_EQ(states[2].version, 3);
  EXPECT_TRUE(states[2].known);
  EXPECT_FALSE(states[2].applied_at.has_value());
}

TEST(MergeMigrationStates, VersionsAppliedByANewerBinaryAreListedUnknown) {
  auto states = merge_migration_states({known(1, "one")}, {{1, "a"}, {2, "b"}});
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[1].version, 2);
  EXPECT_FALSE(states[1].known);
  EXPECT_EQ(states[1].description, "");
  EXPECT_EQ(states[1].applied_at, "b");
}

TEST(MergeMigrationStates, NothingAppliedListsEveryKnownOnePending) {
  auto states = merge_migration_states({known(1, "one"), known(2, "two")}, {});
  ASSERT_EQ(states.size(), 2u);
  for (const auto& s : states) EXPECT_FALSE(s.applied_at.has_value());
}

}  // namespace
}  // namespace rtjobs::store_detail
