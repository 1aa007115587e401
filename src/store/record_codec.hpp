// The rows both stores read and write. The four tables have the same names and columns on
// SQLite and PostgreSQL, so the column lists, the record <-> row mapping, the claim rules and
// the page cursor live here once; each backend only moves values in and out of its library.
//
// Values travel as text or integers: instants as "YYYY-MM-DDTHH:MM:SS.mmmZ" (PostgreSQL's own
// "YYYY-MM-DD HH:MM:SS.mmm+00" is read back too), dates as "YYYY-MM-DD", ids as lower-case
// UUID text, states as their names. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/model.hpp"
#include "jobs/state_machine.hpp"
#include "store/store.hpp"

namespace rtjobs::store_detail {

// A statement parameter: NULL, an integer or text.
using SqlValue = std::variant<std::monostate, int64_t, std::string>;

SqlValue opt_text(const std::optional<std::string>& s);
SqlValue opt_int(const std::optional<int>& i);
SqlValue opt_time(const std::optional<Timestamp>& t);

// One result row of either backend: each column as text, nullopt for SQL NULL.
class RowView {
 public:
  virtual ~RowView() = default;
  virtual std::optional<std::string_view> text(int column) const = 0;
};

// Column lists in table order ("interval", "month" and "count" quoted: keywords in PostgreSQL).
// A migration adds its columns at the end (ALTER TABLE ... ADD COLUMN), so the lists stay in
// the tables' physical order, which the backup CSV's header follows.
extern const std::string_view kTransferColumns;
extern const std::string_view kJobColumns;
extern const std::string_view kProviderStatusColumns;
// The bank webhook inbox (bank_webhook_event) as BankEventRecord reads it; not part of backups.
extern const std::string_view kBankEventColumns;
inline constexpr int kTransferColumnCount = 31;
inline constexpr int kJobColumnCount = 25;
inline constexpr int kJobPresentmentColumn = 22;     // 0-based, in kJobColumns
inline constexpr int kJobOutcomeUnknownColumn = 24;  // 0-based, in kJobColumns
inline constexpr int kProviderStatusColumnCount = 10;

// "a, b" with alias "t" -> "t.a, t.b".
std::string qualified(std::string_view columns, std::string_view alias);
// Placeholders first..first+count-1 in a backend's style: '?' -> "?1, ?2", '$' -> "$1, $2".
std::string placeholders(char style, int count, int first = 1);

// Parameters in the column order above.
std::vector<SqlValue> transfer_values(const RecurringTransfer& t);
std::vector<SqlValue> job_values(const Job& j);
std::vector<SqlValue> provider_status_values(const ProviderStatus& p);

// Reads a record from the columns starting at `first`.
Result<RecurringTransfer> read_transfer(const RowView& row, int first = 0);
Result<Job> read_job(const RowView& row, int first = 0);
Result<ProviderStatus> read_provider_status(const RowView& row, int first = 0);
Result<BankEventRecord> read_bank_event(const RowView& row, int first = 0);

// What applying a bank's news writes to a job (Store::apply_settlements): one UPDATE by id in a
// backend's placeholder style, and its parameters (the id first).
std::string settlement_update_sql(char style);
std::vector<SqlValue> settlement_update_values(const Job& j);

// Paging cursors: base64url of the last id of the page. A cursor that does not decode to a
// UUID is kInvalidArgument with field "cursor".
std::string encode_cursor(std::string_view last_id);
Result<std::string> decode_cursor(std::string_view cursor);

// A list request: "SELECT <columns> FROM <table> [WHERE ...] ORDER BY id LIMIT n", with values
// as parameters in the backend's placeholder style. Fetches limit + 1 rows so the caller can
// tell whether a next page exists (see finish_page).
class ListQuery {
 public:
  ListQuery(char style, std::string_view columns, std::string_view table);
  // Adds "<column> <op> <placeholder>" (column and op are constants of the caller).
  void where(std::string_view column, std::string_view op, SqlValue value);
  // Adds "(<a> = <placeholder> OR <b> = <placeholder>)": one value matched against two columns.
  void where_either(std::string_view a, std::string_view b, SqlValue value);
  // ORDER BY id DESC: the newest first (UUIDv7 ids), the cursor then pages with id < last.
  void newest_first() { order_ = " ORDER BY id DESC LIMIT "; }
  // The SQL and its parameters, for `limit` (clamped to 1..500) rows per page.
  std::string sql(int limit);
  const std::vector<SqlValue>& params() const { return params_; }

 private:
  char style_;
  std::string select_;
  std::string where_;
  std::string order_ = " ORDER BY id LIMIT ";
  std::vector<SqlValue> params_;
};

// Trims rows fetched by a ListQuery to the page and sets next_cursor when more rows exist.
template <class T>
Page<T> finish_page(std::vector<T> rows, int limit) {
  Page<T> page;
  size_t n = static_cast<size_t>(limit < 1 ? 1 : (limit > 500 ? 500 : limit));
  if (rows.size() > n) {
    rows.resize(n);
    page.next_cursor = encode_cursor(rows.back().id);
  }
  page.data = std::move(rows);
  return page;
}

// Ids compare as lower-case text on SQLite; callers may send either case.
std::string normalize_id(std::string_view id);

// A batch of extend_transfers, checked (every new job belongs to its extension's transfer, no
// transfer comes twice) and sorted by normalized transfer id, the order the stores lock in.
struct ExtensionItem {
  std::string transfer_id;  // normalized
  const Extension* extension;
};
Result<std::vector<ExtensionItem>> sorted_extensions(std::span<const Extension> extensions);

// decide_claim (jobs/state_machine.hpp) in SQL, for the statements that decide in the database
// (both dialects). `job` and `transfer` name the job's row and its transfer's row (an alias, or a
// row with a `status` column); `now` is the instant, in the dialect's placeholder style. The job is
// due: not kNotDue/kInProgress/kTerminal before its transfer is looked at.
std::string claim_due_sql(std::string_view job, std::string_view now);
// What a claim makes of a due job: 'PROCESSING' (kClaim), 'SKIPPED' (kSkip), 'CANCELLED'
// (kCancel), or NULL when it waits (kNotDue: a RETRY or lease-expired job of a PAUSED transfer).
std::string claim_outcome_sql(std::string_view job, std::string_view transfer);
// cancel_ends in SQL: the jobs a transfer's cancel makes CANCELLED. `job` prefixes the job row's
// columns: "" for the updated table itself, "j." for an alias.
std::string cancel_ends_sql(std::string_view job);

// Why retry_failed_job left an existing job alone: kConflict, field "job_id", reason
// "transfer_cancelled" when its transfer is CANCELLED (a cancelled standing order moves no more
// money), else "job_not_failed".
Error retry_refusal(std::string_view job_id, JobStatus job, TransferStatus transfer);

// Why skip_job left an existing job alone: kConflict, field "job_id", reason "job_not_pending".
Error skip_refusal(std::string_view job_id, JobStatus job);

// What change_transfer_status moves: from `from` or `also_from` to `to`.
struct TransferTransition {
  TransferStatus from;
  TransferStatus also_from;
  TransferStatus to;
};
TransferTransition transfer_transition(TransferAction action);
// kConflict, reason "invalid_transition", naming the action and the transfer's current status.
Error invalid_transition(TransferAction action, TransferStatus current);

}  // namespace rtjobs::store_detail
