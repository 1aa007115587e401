// ColumnReader: reads a RowView's columns in order into a record's fields, remembering the first
// failure (a NULL where a value is required, a value that does not parse) so a row mapping stays
// linear and reports one error at the end (status()). Internal to src/store's row codecs.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time_format.hpp"
#include "store/record_codec.hpp"

namespace rtjobs::store_detail {

class ColumnReader {
 public:
  ColumnReader(const RowView& row, int first, std::string_view table)
      : row_(row), next_(first), table_(table) {}

  std::optional<std::string> opt_text() {
    auto v = row_.text(next_++);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
  std::string text() { return require(opt_text()); }
  std::optional<int64_t> opt_int() {
    auto v = row_.text(next_++);
    if (!v) return std::nullopt;
    int64_t out = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc{} || end != v->data() + v->size()) bad(*v);
    return out;
  }
  int64_t integer() { return require(opt_int()); }
  std::optional<int> opt_small() {
    auto v = opt_int();
    return v ? std::optional<int>(static_cast<int>(*v)) : std::nullopt;
  }
  std::optional<Timestamp> opt_time() {
    auto v = row_.text(next_++);
    if (!v) return std::nullopt;
    auto t = parse_timestamp(*v);
    if (!t) bad(*v);
    return t.value_or(Timestamp{});
  }
  Timestamp time() { return require(opt_time()); }
  std::optional<Date> opt_date() {
    auto v = row_.text(next_++);
    if (!v) return std::nullopt;
    auto d = parse_date(*v);
    if (!d) bad(*v);
    return d.value_or(Date{});
  }
  Date date() { return require(opt_date()); }
  template <class E>
  E named(std::optional<E> (*parse)(std::string_view)) {
    auto v = row_.text(next_);
    auto e = v ? parse(*v) : std::nullopt;
    if (!e) bad(v.value_or("NULL"));
    ++next_;
    return e.value_or(E{});
  }
  template <class E>
  std::optional<E> opt_named(std::optional<E> (*parse)(std::string_view)) {
    if (!row_.text(next_)) {
      ++next_;
      return std::nullopt;
    }
    return named(parse);
  }

  Result<void> status() const {
    if (error_.empty()) return {};
    return fail(ErrorCode::kInternal, "reading " + std::string(table_) + ": " + error_);
  }

 private:
  template <class T>
  T require(std::optional<T> v) {
    if (!v) {
      if (error_.empty()) error_ = "column " + std::to_string(next_ - 1) + " is NULL";
      return T{};
    }
    return std::move(*v);
  }
  void bad(std::string_view v) {
    if (error_.empty()) {
      error_ = "column " + std::to_string(next_ - 1) + " holds '" + std::string(v) + "'";
    }
  }

  const RowView& row_;
  int next_;
  std::string_view table_;
  std::string error_;
};

}  // namespace rtjobs::store_detail
