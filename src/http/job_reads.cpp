#include "http/job_reads.hpp"

#include <unordered_map>
#include <utility>

#include "http/server.hpp"

namespace rtjobs::http {
namespace {

// What each JobReads was asked for on this thread during the current turn of its loop.
thread_local std::unordered_map<const JobReads*,
                                std::vector<std::pair<std::string, JobReads::Done>>>
    t_pending;

}  // namespace

JobReads::JobReads(Store& store) : store_(store) {
  if (std::unique_ptr<JobReader> reader = store_.open_job_reader()) {
    available_ = true;
    idle_.push_back(std::move(reader));
  }
}

void JobReads::read(std::string id, Done done) {
  if (!available_) return done(fail(ErrorCode::kUnavailable, "no job reader for this store"));
  auto& pending = t_pending[this];
  pending.emplace_back(std::move(id), std::move(done));
  if (pending.size() == 1) defer_on_io_thread([this] { flush(); });
}

void JobReads::flush() {
  auto found = t_pending.find(this);
  if (found == t_pending.end()) return;
  auto pending = std::move(found->second);
  t_pending.erase(found);

  std::vector<std::string> ids;
  ids.reserve(pending.size());
  for (const auto& p : pending) ids.push_back(p.first);
  Result<std::vector<std::optional<Job>>> jobs =
      fail(ErrorCode::kUnavailable, "no job reader for this store");
  if (std::unique_ptr<JobReader> reader = borrow()) {
    jobs = reader->get_jobs(ids);
    give_back(std::move(reader));
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    if (jobs) {
      pending[i].second(std::move((*jobs)[i]));
    } else {
      pending[i].second(std::unexpected(jobs.error()));
    }
  }
}

std::unique_ptr<JobReader> JobReads::borrow() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<JobReader> reader = std::move(idle_.back());
      idle_.pop_back();
      return reader;
    }
  }
  return store_.open_job_reader();
}

void JobReads::give_back(std::unique_ptr<JobReader> reader) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(reader));
}

}  // namespace rtjobs::http
