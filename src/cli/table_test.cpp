#include "cli/table.hpp"

#include <gtest/gtest.h>

namespace rtjobs::cli {
namespace {

using nlohmann::json;

TEST(FormatTable, AlignsColumnsToTheWidestCellWithoutTrailingBlanks) {
  Table t{{"ID", "STATUS", "AMOUNT"}, {{"a", "ACTIVE", "50.00 USD"}, {"bbbb", "PAUSED", "1 JPY"}}};
  EXPECT_EQ(format_table(t),
            "ID    STATUS  AMOUNT\n"
            "a     ACTIVE  50.00 USD\n"
            "bbbb  PAUSED  1 JPY\n");
}

TEST(FormatTable, CountsCharactersNotBytes) {
  Table t{{"NAME", "X"}, {{"caf\xc3\xa9", "1"}, {"ab", "2"}}};
  EXPECT_EQ(format_table(t),
            "NAME  X\n"
            "caf\xc3\xa9  1\n"
            "ab    2\n");
}

TEST(FormatTable, NoRowsIsTheHeaderLineAlone) {
  EXPECT_EQ(format_table(Table{{"ID", "STATUS"}, {}}), "ID  STATUS\n");
}

TEST(FormatRecord, OneAlignedFieldPerLineWithNestedObjectsDotted) {
  json t = {{"id", "t1"},
            {"amount", 5000},
            {"status_reason", nullptr},
            {"schedule", {{"frequency", "MONTHLY"}}},
            {"tags", json::array({1, 2})}};
  EXPECT_EQ(format_record(t),
            "amount              5000\n"
            "id                  t1\n"
            "schedule.frequency  MONTHLY\n"
            "status_reason       -\n"
            "tags                [1,2]\n");
}

TEST(TransfersTable, ShowsTheAmountInMajorUnitsWithItsCurrency) {
  json list = json::array({{{"id", "t1"},
                            {"status", "ACTIVE"},
                            {"provider", "bank"},
                            {"amount", 5000},
                            {"currency", "USD"},
                            {"schedule", {{"frequency", "MONTHLY"}}},
                            {"source_account", "src"},
                            {"destination_account", "dst"},
                            {"created_at", "2026-12-07T00:00:00.000Z"}},
                           {{"id", "t2"}, {"amount", 7}, {"currency", "JPY"}}});
  Table t = transfers_table(list);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"t1", "ACTIVE", "bank", "50.00 USD", "MONTHLY",
                                                 "src", "dst", "2026-12-07T00:00:00.000Z"}));
  EXPECT_EQ(t.rows[1][3], "7 JPY");
  EXPECT_EQ(t.rows[1][1], "-");  // absent fields
  EXPECT_EQ(t.rows[1][4], "-");
}

TEST(JobsTable, OneRowPerJobWithNullsAsDashes) {
  json list = json::array({{{"id", "j1"},
                            {"recurring_transfer_id", "t1"},
                            {"sequence", 3},
                            {"scheduled_for", "2026-12-07"},
                            {"status", "FAILED"},
                            {"result", nullptr},
                            {"retries", 2},
                            {"last_error", "bank unavailable"}},
                           "not an object"});
  Table t = jobs_table(list);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"j1", "t1", "3", "2026-12-07", "FAILED", "-", "2",
                                                 "bank unavailable"}));
  EXPECT_EQ(t.headers.size(), t.rows[0].size());
}

TEST(JobsTable, ALongLastErrorIsOneLineCutTo60Characters) {
  json job = {{"id", "j1"}, {"last_error", "line one\nline two " + std::string(100, 'x')}};
  Table t = jobs_table(json::array({job}));
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0][7], "line one line two " + std::string(39, 'x') + "...");
  EXPECT_EQ(jobs_table(json::array({{{"last_error", "short"}}})).rows[0][7], "short");
}

TEST(BackupsTable, NotAnArrayGivesNoRows) {
  EXPECT_TRUE(backups_table(json::object()).rows.empty());
  Table t = backups_table(json::array({{{"id", "b1"}, {"job_rows", 10}, {"bytes", 2048}}}));
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"b1", "-", "-", "10", "-", "2048"}));
}

}  // namespace
}  // namespace rtjobs::cli
