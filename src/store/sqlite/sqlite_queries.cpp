#include "store/sqlite/sqlite_queries.hpp"

#include "core/log.hpp"

namespace rtjobs::store_detail::sqlite {

Result<std::optional<RecurringTransfer>> select_transfer(SqliteConnection& c,
                                                         const std::string& id) {
  static const std::string sql = kSelectTransfer + " WHERE id = ?1";
  return query_one<RecurringTransfer>(c, sql, {id}, read_transfer);
}

Result<std::optional<Job>> select_job(SqliteConnection& c, const std::string& id) {
  static const std::string sql = kSelectJob + " WHERE id = ?1";
  return query_one<Job>(c, sql, {id}, read_job);
}

std::string json_array(const std::vector<std::string>& values) {
  std::string out = "[";
  for (const std::string& v : values) {
    if (out.size() > 1) out += ',';
    out += '"';
    log::append_json_escaped(out, v);
    out += '"';
  }
  return out + "]";
}

}  // namespace rtjobs::store_detail::sqlite
