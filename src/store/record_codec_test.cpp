#include "store/record_codec.hpp"

#include <gtest/gtest.h>

#include "core/time_format.hpp"
#include "core/uuid.hpp"

namespace rtjobs::store_detail {
namespace {

const Timestamp kNow = *parse_timestamp("2026-03-10T09:00:00.000Z");

TEST(Cursor, RoundTripsAnId) {
  std::string id = new_uuid_v7(kNow);
  auto back = decode_cursor(encode_cursor(id));
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, id);
}

TEST(Cursor, RejectsGarbageWithFieldCursor) {
  for (std::string_view bad : {"", "abc", "!!!!", "bm90LWEtdXVpZA"}) {
    auto r = decode_cursor(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, "cursor");
  }
}

TEST(Columns, QualifiesAndCountsPlaceholders) {
  EXPECT_EQ(qualified("id, \"interval\"", "t"), "t.id, t.\"interval\"");
  EXPECT_EQ(placeholders('$', 3, 2), "$2, $3, $4");
  EXPECT_EQ(placeholders('?', 1), "?1");
}

TEST(RetryRefusal, NamesACancelledTransferFirst) {
  Error cancelled = retry_refusal("j1", JobStatus::kFailed, TransferStatus::kCancelled);
  EXPECT_EQ(cancelled.code, ErrorCode::kConflict);
  EXPECT_EQ(cancelled.field, "job_id");
  EXPECT_EQ(cancelled.reason, "transfer_cancelled");
  EXPECT_EQ(retry_refusal("j1", JobStatus::kCancelled, TransferStatus::kCancelled).reason,
            "transfer_cancelled");
  Error not_failed = retry_refusal("j1", JobStatus::kFinished, TransferStatus::kActive);
  EXPECT_EQ(not_failed.code, ErrorCode::kConflict);
  EXPECT_EQ(not_failed.reason, "job_not_failed");
}

}  // namespace
}  // namespace rtjobs::store_detail
