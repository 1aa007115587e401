// The rows of the console's overview queries, read the same way on both stores: (hour as
// "YYYY-MM-DDTHH:00:00.000Z", status, result or NULL, count).
#pragma once

#include "store/record_codec.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

Result<Store::OutcomeCount> read_outcome_count(const RowView& row);

}  // namespace rtjobs::store_detail
