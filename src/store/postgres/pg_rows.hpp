// Reading records out of a PgResult, and array parameters (internal to src/store/postgres).
#pragma once

#include <optional>
#include <string>
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

// Ids (already checked with is_uuid, so no quoting is needed) as a PostgreSQL array literal,
// for "= ANY($1::uuid[])": one parameter for any number of ids.
inline std::string uuid_array(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (const std::string& id : ids) {
    if (out.size() > 1) out += ',';
    out += id;
  }
  return out + "}";
}

}  // namespace rtjobs::store_detail
