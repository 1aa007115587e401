#include "backup/backup_tables.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/time_format.hpp"

namespace rtjobs::backup {
namespace {

// A provider-status row whose created_at (the last column) and http_status are given.
class StatusRow final : public store_detail::RowView {
 public:
  StatusRow(std::optional<std::string> http_status, std::string created_at)
      : http_status_(std::move(http_status)), created_at_(std::move(created_at)) {}
  std::optional<std::string_view> text(int column) const override {
    if (column == 5) return http_status_;
    if (column == 9) return created_at_;
    if (column == 4) return "1";  // attempt
    return "x";
  }

 private:
  std::optional<std::string> http_status_;
  std::string created_at_;
};

std::string exported(std::optional<std::string> http_status, std::string created_at) {
  std::string out;
  auto r = append_row(table_spec(BackupTable::kProviderStatuses),
                      StatusRow(std::move(http_status), std::move(created_at)), out);
  if (!r) return "error: " + r.error().message;
  return out;
}

TEST(BackupTables, InstantsInEveryAcceptedShapeExportAsTheirCanonicalText) {
  for (std::string text :
       {"2026-11-28 00:00:00+00", "2026-11-28 09:30:01.5+00", "2026-11-28 09:30:01.123456+00",
        "2026-11-28T09:30:01.120Z", "2026-11-28T09:30:01Z", "2026-02-28 23:59:59.999+00:00",
        "0099-01-01 00:00:00+00"}) {
    auto t = parse_timestamp(text);
    ASSERT_TRUE(t) << text;
    EXPECT_EQ(exported("402", text), "x,x,x,x,1,402,x,x,x," + format_timestamp(*t) + "\r\n")
        << text;
  }
}

TEST(BackupTables, ValuesThatDoNotParseFailTheExport) {
  for (std::string text : {"2026-02-30 00:00:00+00", "2026-11-28 24:00:00+00",
                           "2026-11-28 00:00:00+01", "2026-11-28 00:00:00.+00", "2026-11-28"}) {
    EXPECT_TRUE(exported("402", text).starts_with("error: ")) << text;
  }
  EXPECT_TRUE(exported("4o2", "2026-11-28T00:00:00.000Z").starts_with("error: "));
}

TEST(BackupTables, IntegersAreCanonicalAndNullStaysEmpty) {
  EXPECT_EQ(exported("-7", "2026-11-28T00:00:00.000Z"),
            "x,x,x,x,1,-7,x,x,x,2026-11-28T00:00:00.000Z\r\n");
  EXPECT_EQ(exported(std::nullopt, "2026-11-28T00:00:00.000Z"),
            "x,x,x,x,1,,x,x,x,2026-11-28T00:00:00.000Z\r\n");
}

csv::Record header_of(BackupTable table) {
  csv::Record out;
  for (const Column& c : table_spec(table).columns) out.emplace_back(std::string(c.name));
  return out;
}

TEST(BackupTables, AHeaderNamingEachColumnOnceInAnyOrderIsATablesLayout) {
  for (BackupTable table : {BackupTable::kJobs, BackupTable::kProviderStatuses}) {
    csv::Record header = header_of(table);
    auto layout = layout_for_header(header);
    ASSERT_TRUE(layout);
    EXPECT_EQ(layout->table, table);
    EXPECT_EQ(layout->fields, header.size());
    for (size_t i = 0; i < header.size(); ++i) EXPECT_EQ(layout->field_of_column[i], int(i));
  }
  csv::Record reversed = header_of(BackupTable::kJobs);
  std::reverse(reversed.begin(), reversed.end());
  auto layout = layout_for_header(reversed);
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->field_of_column.front(), int(reversed.size()) - 1);
}

// A job's CSV record of a backup made before the columns added later: the first 18 columns.
csv::Record old_job_record() {
  return {"0196f0c2-0000-7000-8000-000000000001",
          "0196f0c2-0000-7000-8000-0000000000aa",
          "3",
          "2026-01-31",
          "2026-01-31T09:00:00.000Z",
          "FINISHED",
          "SUCCEEDED",
          "0",
          std::nullopt,
          "sandbox",
          "key",
          "ref",
          std::nullopt,
          std::nullopt,
          std::nullopt,
          "2026-01-31T09:00:00.000Z",
          "2026-01-31T09:00:01.000Z",
          "2026-01-31T09:00:01.000Z"};
}

// The jobs' header without its last `dropped` columns (a backup made before they existed).
void expect_older_header_restores_nulls(size_t dropped, std::string_view first_dropped) {
  csv::Record header = header_of(BackupTable::kJobs);
  const size_t all = header.size();
  header.resize(all - dropped);
  auto layout = layout_for_header(header);
  ASSERT_TRUE(layout);
  ASSERT_EQ(table_spec(BackupTable::kJobs).columns[all - dropped].name, first_dropped);
  for (size_t i = all - dropped; i < all; ++i) EXPECT_EQ(layout->field_of_column[i], -1);
  csv::Record record = old_job_record();
  record.resize(header.size(), std::nullopt);
  auto row = restore_row(*layout, record);
  ASSERT_TRUE(row) << row.error().message;
  ASSERT_EQ(row->size(), all);
  EXPECT_EQ(std::get<int64_t>((*row)[2]), 3);
  // Absent columns are NULL; the store's insert gives presentment its default (0).
  for (size_t i = all - dropped; i < all; ++i) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>((*row)[i])) << i;
  }
  record.pop_back();
  EXPECT_FALSE(restore_row(*layout, record));  // a record must have the header's fields
}

TEST(BackupTables, ABackupMadeBeforeBankStatusRestoresItAsNull) {
  expect_older_header_restores_nulls(7, "bank_status");
}

TEST(BackupTables, ABackupMadeBeforeSettlementRestoresItsColumnsAsNull) {
  expect_older_header_restores_nulls(6, "settlement_status");
}

TEST(BackupTables, ABackupMadeBeforeOutcomeUnknownRestoresItAsNull) {
  expect_older_header_restores_nulls(1, "outcome_unknown");
}

TEST(BackupTables, OtherHeadersAreNoTablesLayout) {
  csv::Record no_id = header_of(BackupTable::kJobs);
  no_id.erase(no_id.begin());
  EXPECT_FALSE(layout_for_header(no_id));
  csv::Record twice = header_of(BackupTable::kJobs);
  twice.push_back("id");
  EXPECT_FALSE(layout_for_header(twice));
  csv::Record unknown = header_of(BackupTable::kProviderStatuses);
  unknown.push_back("bank_status");  // a job column, not a status row's
  EXPECT_FALSE(layout_for_header(unknown));
  EXPECT_FALSE(layout_for_header(csv::Record{"a", "b"}));
  EXPECT_FALSE(layout_for_header(csv::Record{}));
}

}  // namespace
}  // namespace rtjobs::backup
