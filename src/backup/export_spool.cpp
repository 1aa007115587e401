#include "backup/export_spool.hpp"

#include <cerrno>
#include <cstring>
#include <string>

namespace rtjobs::backup {
namespace {

Error spool_error(std::string_view what) {
  return Error{ErrorCode::kUnavailable,
               "backup spool: " + std::string(what) + ": " + std::strerror(errno),
               {},
               {}};
}

Result<void> write_pair(FILE* f, std::string_view a, std::string_view b) {
  std::string line;
  line.reserve(a.size() + b.size() + 2);
  line.append(a).push_back('\t');
  line.append(b).push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), f) != line.size()) {
    return std::unexpected(spool_error("writing"));
  }
  return {};
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

Result<ExportSpool> ExportSpool::create() {
  File jobs(std::tmpfile(), &std::fclose);
  File statuses(std::tmpfile(), &std::fclose);
  if (!jobs || !statuses) return std::unexpected(spool_error("creating a temporary file"));
  return ExportSpool(std::move(jobs), std::move(statuses));
}

Result<void> ExportSpool::add_job(std::string_view id, std::string_view updated_at) {
  return write_pair(jobs_.get(), id, updated_at);
}

Result<void> ExportSpool::add_status(std::string_view id, std::string_view job_id) {
  return write_pair(statuses_.get(), job_id, id);
}

Result<void> ExportSpool::rewind() {
  if (std::fflush(jobs_.get()) != 0 || std::fflush(statuses_.get()) != 0) {
    return std::unexpected(spool_error("flushing"));
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
