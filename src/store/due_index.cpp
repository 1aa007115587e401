#include "store/due_index.hpp"

namespace rtjobs::store_detail {

std::string providers_cte(std::string_view cte, const DueIndex& index, bool indexed_by) {
  const std::string from = "recurring_transfer_job AS j" +
                           (indexed_by ? " INDEXED BY " + std::string(index.name) : std::string());
  const std::string states = "j." + std::string(index.states);
  const std::string name(cte);
  return name + "(provider) AS (SELECT (SELECT j.provider FROM " + from + " WHERE " + states +
         " ORDER BY j.provider LIMIT 1) UNION ALL SELECT (SELECT j.provider FROM " + from +
         " WHERE " + states + " AND j.provider > p.provider ORDER BY j.provider LIMIT 1) FROM " +
         name + " AS p WHERE p.provider IS NOT NULL)";
}

}  // namespace rtjobs::store_detail
