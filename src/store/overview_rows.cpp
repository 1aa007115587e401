#include "store/overview_rows.hpp"

#include <charconv>

#include "core/time_format.hpp"

namespace rtjobs::store_detail {

Result<Store::OutcomeCount> read_outcome_count(const RowView& row) {
  Store::OutcomeCount out;
  auto hour = parse_timestamp(row.text(0).value_or(""));
  auto status = parse_job_status(row.text(1).value_or(""));
  if (!hour || !status) return fail(ErrorCode::kInternal, "unreadable outcome count row");
  out.hour = *hour;
  out.status = *status;
  if (auto result = row.text(2)) {
    out.result = parse_job_result(*result);
    if (!out.result)
      return fail(ErrorCode::kInternal, "unreadable job result " + std::string(*result));
  }
  std::string_view count = row.text(3).value_or("0");
  std::from_chars(count.data(), count.data() + count.size(), out.count);
  return out;
}

}  // namespace rtjobs::store_detail
