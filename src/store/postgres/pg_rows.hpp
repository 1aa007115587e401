// Reading records out of a PgResult, and array parameters (internal to src/store/postgres).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
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

// A PostgreSQL array literal built one element at a time, for a batch passed as one array
// parameter per column ("unnest($1::text[], $2::integer[], ...)"): every element is quoted,
// with '"' and '\\' escaped, and an absent value is an unquoted NULL. Works for any element
// type whose text form the server parses (text, uuid, integer, boolean, timestamptz).
class ArrayLiteral {
 public:
  void add(std::string_view value) {
    separate();
    out_ += '"';
    for (char ch : value) {
      if (ch == '"' || ch == '\\') out_ += '\\';
      out_ += ch;
    }
    out_ += '"';
  }
  void add(const std::string& value) { add(std::string_view(value)); }
  void add(const SqlValue& value) {
    if (const auto* s = std::get_if<std::string>(&value)) {
      add(std::string_view(*s));
    } else if (const auto* n = std::get_if<int64_t>(&value)) {
      separate();
      out_ += std::to_string(*n);
    } else {
      add_null();
    }
  }
  void add_null() {
    separate();
    out_ += "NULL";
  }
  std::string str() const { return out_ + "}"; }

 private:
  void separate() {
    if (out_.size() > 1) out_ += ',';
  }
  std::string out_ = "{";
};

}  // namespace rtjobs::store_detail
