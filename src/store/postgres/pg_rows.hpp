// Reading records out of a PgResult (internal to src/store/postgres).
#pragma once

#include <optional>
#include <vector>

#include "core/error.hpp"
#include "store/postgres/pg_connection.hpp"

namespace rtjobs::store_detail {

// Every row of `result`, read with `read` from column `first` on.
template <class T>
Result<std::vector<T>> rows_of(const PgResult& result, Result<T> (*read)(const RowView&, int),
                               int first = 0) {
  std::vector<T> out;
  out.reserve(static_cast<size_t>(result.rows()));
  for (int i = 0; i < result.rows(); ++i) {
    auto v = read(PgRow(result, i), first);
    if (!v) return std::unexpected(v.error());
    out.push_back(std::move(*v));
  }
  return out;
}

// The first row of `result`, if any.
template <class T>
Result<std::optional<T>> first_of(const PgResult& result, Result<T> (*read)(const RowView&, int),
                                  int first = 0) {
  if (result.rows() == 0) return std::nullopt;
  auto v = read(PgRow(result, 0), first);
  if (!v) return std::unexpected(v.error());
  return std::move(*v);
}

}  // namespace rtjobs::store_detail
