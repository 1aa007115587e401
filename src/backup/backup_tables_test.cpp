#include "backup/backup_tables.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace rtjobs::backup
