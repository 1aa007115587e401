#include "backup/export_spool.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "backup/spool_file.hpp"

namespace rtjobs::backup {
namespace {

constexpr std::string_view kWhat = "the exported rows' ids";

Error spool_error(std::string_view what) {
  return Error{ErrorCode::kUnavailable,
               "backup spool: " + std::string(what) + ": " + std::strerror(errno),
               {},
               {}};
}

// Reads "a\tb\n"; false at the end.
Result<bool> read_pair(FILE* f, std::string& a, std::string& b) {
  char buf[256];
  if (!std::fgets(buf, sizeof buf, f)) {
    if (std::ferror(f)) return std::unexpected(spool_error("reading"));
    return false;
  }
  std::string_view line(buf);
  if (line.ends_with('\n')) line.remove_suffix(1);
  size_t tab = line.find('\t');
  if (tab == std::string_view::npos) return fail(ErrorCode::kInternal, "backup spool: bad line");
  a.assign(line.substr(0, tab));
  b.assign(line.substr(tab + 1));
  return true;
}

}  // namespace

Result<ExportSpool> ExportSpool::create(const std::filesystem::path& dir) {
  auto open = [&]() -> Result<File> {
    auto file = SpoolFile::create(dir, std::string(kWhat));
    if (!file) return std::unexpected(file.error());
    int fd = file->release();
    File f(::fdopen(fd, "w+"), &std::fclose);
    if (!f) {
      ::close(fd);
      return std::unexpected(spool_error("opening a temporary file"));
    }
    return f;
  };
  auto jobs = open();
  if (!jobs) return std::unexpected(jobs.error());
  auto statuses = open();
  if (!statuses) return std::unexpected(statuses.error());
  return ExportSpool(dir, std::move(*jobs), std::move(*statuses));
}

Result<void> ExportSpool::write_pair(FILE* f, std::string_view a, std::string_view b) {
  std::string line;
  line.reserve(a.size() + b.size() + 2);
  line.append(a).push_back('\t');
  line.append(b).push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), f) != line.size()) {
    return std::unexpected(SpoolFile::write_error(errno, dir_, kWhat, written_));
  }
  written_ += static_cast<int64_t>(line.size());
  return {};
}

Result<void> ExportSpool::add_job(std::string_view id, std::string_view updated_at) {
  return write_pair(jobs_.get(), id, updated_at);
}

Result<void> ExportSpool::add_status(std::string_view id, std::string_view job_id) {
  return write_pair(statuses_.get(), job_id, id);
}

Result<void> ExportSpool::rewind() {
  if (std::fflush(jobs_.get()) != 0 || std::fflush(statuses_.get()) != 0) {
    return std::unexpected(SpoolFile::write_error(errno, dir_, kWhat, written_));
  }
  if (std::fseek(jobs_.get(), 0, SEEK_SET) != 0 || std::fseek(statuses_.get(), 0, SEEK_SET) != 0) {
    return std::unexpected(spool_error("rewinding"));
  }
  lookahead_.reset();
  return {};
}

Result<void> ExportSpool::next_batch(size_t max_jobs, std::vector<ExportedJob>& jobs,
                                     std::vector<ExportedStatus>& statuses) {
  jobs.clear();
  statuses.clear();
  ExportedJob job;
  while (jobs.size() < max_jobs) {
    auto more = read_pair(jobs_.get(), job.id, job.updated_at);
    if (!more) return std::unexpected(more.error());
    if (!*more) break;
    jobs.push_back(job);
  }
  if (jobs.empty()) return {};
  const std::string& last = jobs.back().id;
  for (;;) {
    if (!lookahead_) {
      ExportedStatus s;
      auto more = read_pair(statuses_.get(), s.job_id, s.id);
      if (!more) return std::unexpected(more.error());
      if (!*more) break;
      lookahead_ = std::move(s);
    }
    if (lookahead_->job_id > last) break;
    statuses.push_back(std::move(*lookahead_));
    lookahead_.reset();
  }
  return {};
}

}  // namespace rtjobs::backup
