#include "backup/restore.hpp"

#include <filesystem>

#include "backup/backup_tables.hpp"
#include "backup/csv.hpp"
#include "backup/file_object_store.hpp"
#include "backup/s3_object_store.hpp"
#include "core/log.hpp"

namespace rtjobs::backup {
namespace {

// Where the bytes of a source come from.
struct Source {
  std::unique_ptr<ObjectStore> store;  // S3; null for a local file
  std::string key;
  std::filesystem::path path;
};

Result<Source> open_source(const std::string& source, const S3Settings& s3) {
  Source out;
  if (source.starts_with("s3://")) {
    std::string_view rest = std::string_view(source).substr(5);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
      return invalid("source", "expected s3://bucket/key");
    }
    out.store = std::make_unique<S3ObjectStore>(std::string(rest.substr(0, slash)), "", s3);
    out.key = std::string(rest.substr(slash + 1));
    return out;
  }
  out.path = source.starts_with("file://") ? source.substr(7) : source;
  if (out.path.empty()) return invalid("source", "expected a file path, file:// or s3:// URL");
  return out;
}

}  // namespace

Result<RestoreResult> Restorer::restore(const std::string& source,
                                        const RestoreProgress& progress) {
  auto src = open_source(source, s3_);
  if (!src) return std::unexpected(src.error());
  int64_t total = -1;
  if (src->store) {
    auto head = src->store->head(src->key);
    if (!head) return std::unexpected(head.error().context("restoring " + source));
    if (!*head) return fail(ErrorCode::kNotFound, "restoring " + source + ": no such object");
    total = (*head)->size;
  } else {
    std::error_code ec;
    auto size = std::filesystem::file_size(src->path, ec);
    if (ec) return fail(ErrorCode::kNotFound, "restoring " + source + ": " + ec.message());
    total = static_cast<int64_t>(size);
  }

  RestoreResult result;
  std::optional<HeaderLayout> layout;
  std::vector<BackupStore::Row> batch;
  auto flush = [&]() -> Result<void> {
    if (batch.empty()) return {};
    auto inserted = store_.insert_rows(layout->table, batch);
    if (!inserted) return std::unexpected(inserted.error());
    result.rows_inserted += *inserted;
    result.rows_skipped += static_cast<int64_t>(batch.size()) - *inserted;
    batch.clear();
    return {};
  };
  csv::CsvParser parser([&](csv::Record& record) -> Result<void> {
    if (!layout) {
      layout = layout_for_header(record);
      if (!layout) {
        return invalid("source",
                       "the header row is not that of recurring_transfer_job or "
                       "recurring_transfer_provider_status");
      }
      result.table = std::string(table_spec(layout->table).name);
      return {};
    }
    auto row = restore_row(*layout, record);
    if (!row) {
      return std::unexpected(row.error().context("record " + std::to_string(result.rows_read + 1)));
    }
    ++result.rows_read;
    batch.push_back(std::move(*row));
    if (batch.size() >= batch_rows_) return flush();
    return {};
  });
  ChunkSink sink = [&](std::string_view chunk) -> Result<void> {
    result.bytes += static_cast<int64_t>(chunk.size());
    if (progress) progress(result.bytes, total);
    return parser.feed(chunk);
  };
  Result<void> read =
      src->store ? src->store->get(src->key, sink) : FileObjectStore::read_file(src->path, sink);
  if (read) read = parser.finish();
  if (read) read = flush();
  if (!read) return std::unexpected(read.error().context("restoring " + source));
  if (!layout) return invalid("source", "restoring " + source + ": empty file");
  log::info("restore finished", {{"source", source},
                                 {"table", result.table},
                                 {"rows_inserted", result.rows_inserted},
                                 {"rows_skipped", result.rows_skipped}});
  return result;
}

}  // namespace rtjobs::backup
