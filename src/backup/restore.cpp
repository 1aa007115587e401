#include "backup/restore.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "backup/backup_tables.hpp"
#include "backup/csv.hpp"
#include "backup/s3_object_store.hpp"
#include "backup/spool_file.hpp"
#include "core/log.hpp"

namespace rtjobs::backup {

std::string_view to_string(RestorePhase phase) {
  switch (phase) {
    case RestorePhase::kDownloading:
      return "downloading";
    case RestorePhase::kChecking:
      return "checking";
    case RestorePhase::kLoading:
      return "loading";
  }
  return "?";
}

namespace {

using RestoreRow = BackupStore::RestoreRow;

// The bytes of the source on local disk (the file itself, or the spooled S3 object), read from
// the start once per pass.
class LocalSource {
 public:
  LocalSource(int fd, int64_t size) : fd_(fd), size_(size) {}
  LocalSource(const LocalSource&) = delete;
  LocalSource& operator=(const LocalSource&) = delete;
  ~LocalSource() { ::close(fd_); }

  int64_t size() const { return size_; }

  Result<void> rewind() {
    if (::lseek(fd_, 0, SEEK_SET) != 0) return io_error("rewinding");
    return {};
  }

  // 0 at the end.
  Result<size_t> read(std::span<char> buffer) {
    for (;;) {
      ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return io_error("reading");
    }
  }

 private:
  static std::unexpected<Error> io_error(std::string_view what) {
    return fail(ErrorCode::kUnavailable,
                std::string(what) + " the source: " + std::strerror(errno));
  }

  int fd_;
  int64_t size_;
};

Result<std::unique_ptr<LocalSource>> open_file(const std::filesystem::path& path,
                                               const std::string& source) {
  if (path.empty()) return invalid("source", "expected a file path, file:// or s3:// URL");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fail(ErrorCode::kNotFound, "restoring " + source + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(ErrorCode::kNotFound, "restoring " + source + ": not a regular file");
  }
  return std::make_unique<LocalSource>(fd, static_cast<int64_t>(st.st_size));
}

// Copies s3://bucket/key into an unlinked local spool file, so both passes read the disk.
Result<std::unique_ptr<LocalSource>> download(std::string_view location, const std::string& source,
                                              const S3Settings& s3,
                                              const RestoreProgress& progress) {
  size_t slash = location.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == location.size()) {
    return invalid("source", "expected s3://bucket/key");
  }
  S3ObjectStore store(std::string(location.substr(0, slash)), "", s3);
  const std::string key(location.substr(slash + 1));
  auto head = store.head(key);
  if (!head) return std::unexpected(head.error().context("restoring " + source));
  if (!*head) return fail(ErrorCode::kNotFound, "restoring " + source + ": no such object");
  const int64_t total = (*head)->size;
  auto spool = SpoolFile::create(spool_directory({}), "the object " + source);
  if (!spool) return std::unexpected(spool.error().context("restoring " + source));
  auto got = store.get(key, [&](std::string_view chunk) -> Result<void> {
    if (auto r = spool->append(chunk); !r) return r;
    if (progress) progress(RestorePhase::kDownloading, spool->size(), total);
    return {};
  });
  if (!got) return std::unexpected(got.error().context("restoring " + source));
  const int64_t size = spool->size();
  return std::make_unique<LocalSource>(spool->release(), size);
}

// Reads the source's CSV once, handing out its rows checked (restore_row, then the backup's
// order: each row once, jobs by id, provider-status rows by job_id then id). Errors name the
// line the record starts on. Not movable: the parser calls back into it.
class RowReader {
 public:
  RowReader(LocalSource& in, RestorePhase phase, const RestoreProgress& progress)
      : in_(in),
        phase_(phase),
        progress_(progress),
        parser_([this](csv::Record& record) { return on_record(record); }),
        buffer_(64 * 1024) {}
  RowReader(const RowReader&) = delete;
  RowReader& operator=(const RowReader&) = delete;

  // Fills `rows` (cleared first) with the next rows, about `max` of them; false at the end.
  Result<bool> next(std::vector<RestoreRow>& rows, size_t max) {
    rows.clear();
    out_ = &rows;
    Result<void> r;
    while (r && rows.size() < max && !done_) {
      auto n = in_.read(buffer_);
      if (!n) {
        r = std::unexpected(n.error());
      } else if (*n == 0) {
        done_ = true;
        r = parser_.finish();
      } else {
        read_ += static_cast<int64_t>(*n);
        if (progress_) progress_(phase_, read_, in_.size());
        r = parser_.feed(std::string_view(buffer_.data(), *n));
      }
    }
    out_ = nullptr;
    if (!r) return std::unexpected(r.error());
    return !rows.empty();
  }

  const std::optional<HeaderLayout>& layout() const { return layout_; }
  int64_t rows() const { return rows_; }

 private:
  Result<void> on_record(const csv::Record& record) {
    const int64_t line = parser_.record_line();
    if (!layout_) {
      layout_ = layout_for_header(record);
      if (!layout_) {
        return invalid("source",
                       "the header row is not that of recurring_transfer_job or "
                       "recurring_transfer_provider_status");
      }
      return {};
    }
    auto row = restore_row(*layout_, record);
    if (!row) {
      Error e = std::move(row.error());
      // "line 12, column retries: ..." or "line 12: a record of ... has 3 fields ..."
      const bool column = e.message.starts_with("column ");
      e.message = "line " + std::to_string(line) + (column ? ", " : ": ") + e.message;
      return std::unexpected(std::move(e));
    }
    std::string key = restore_order_key(layout_->table, *row);
    if (key <= last_key_) {
      const bool jobs = layout_->table == BackupTable::kJobs;
      return invalid(jobs ? "id" : "job_id",
                     "line " + std::to_string(line) + ": " +
                         (key == last_key_ ? "repeats" : "comes before") + " the row of line " +
                         std::to_string(last_line_) + ": a backup lists each row once, " +
                         (jobs ? "in id order" : "in job_id order, then id order"));
    }
    last_key_ = std::move(key);
    last_line_ = line;
    ++rows_;
    out_->push_back(RestoreRow{line, std::move(*row)});
    return {};
  }

  LocalSource& in_;
  const RestorePhase phase_;
  const RestoreProgress& progress_;
  csv::CsvParser parser_;
  std::vector<char> buffer_;
  std::optional<HeaderLayout> layout_;
  std::vector<RestoreRow>* out_ = nullptr;  // set during next()
  std::string last_key_;                    // restore_order_key of the last row
  int64_t last_line_ = 0;
  int64_t rows_ = 0;
  int64_t read_ = 0;
  bool done_ = false;
};

}  // namespace

Result<RestoreResult> Restorer::restore(const std::string& source,
                                        const RestoreProgress& progress) {
  auto in = source.starts_with("s3://")
                ? download(std::string_view(source).substr(5), source, s3_, progress)
                : open_file(source.starts_with("file://") ? source.substr(7) : source, source);
  if (!in) return std::unexpected(in.error());
  auto failed = [&](const Error& e) { return std::unexpected(e.context("restoring " + source)); };

  // Pass 1: every row checked before anything is written.
  RestoreResult result;
  result.bytes = (*in)->size();
  if (auto r = (*in)->rewind(); !r) return failed(r.error());  // a spool ends at its end
  {
    RowReader checker(**in, RestorePhase::kChecking, progress);
    std::vector<RestoreRow> rows;
    for (;;) {
      auto more = checker.next(rows, batch_rows_);
      if (!more) return failed(more.error());
      if (!*more) break;
    }
    if (!checker.layout()) return invalid("source", "restoring " + source + ": empty file");
    result.table = std::string(table_spec(checker.layout()->table).name);
    result.rows_read = checker.rows();
  }

  // Pass 2: the same rows, checked again as they are read, loaded in one transaction.
  if (auto r = (*in)->rewind(); !r) return failed(r.error());
  const BackupTable table = *parse_backup_table(result.table);
  RowReader loader(**in, RestorePhase::kLoading, progress);
  auto loaded = store_.restore_rows(table, [&](std::vector<RestoreRow>& rows) -> Result<bool> {
    auto more = loader.next(rows, batch_rows_);
    if (!more) return more;
    // The file changed since it was checked: load nothing.
    if ((loader.layout() && loader.layout()->table != table) ||
        (!*more && loader.rows() != result.rows_read)) {
      return fail(ErrorCode::kConflict, "the source changed between the check and the load");
    }
    return more;
  });
  if (!loaded) return failed(loaded.error());
  result.rows_inserted = loaded->inserted;
  result.rows_skipped = loaded->skipped;
  log::info("restore finished", {{"source", source},
                                 {"table", result.table},
                                 {"rows_inserted", result.rows_inserted},
                                 {"rows_skipped", result.rows_skipped}});
  return result;
}

}  // namespace rtjobs::backup
