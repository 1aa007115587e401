#include "http/job_reads.hpp"

#include <unordered_map>
#include <utility>

#include "http/server.hpp"

namespace rtjobs::http {
namespace {

// What each JobReads was asked for on this thread during the current turn of its loop: the
// ids, and the callback of each.
struct Pending {
  std::vector<std::string> ids;
  std::vector<JobReads::Done> done;
};
thread_local std::unordered_map<const JobReads*, Pending> t_pending;

}  // namespace

JobReads::JobReads(Store& store) : store_(store) {
  if (std::unique_ptr<JobReader> reader = store_.open_job_reader()) {
    available_ = true;
    idle_.push_back(std::move(reader));
  }
}

void JobReads::read(std::string id, Done done) {
  if (!available_) return done(fail(ErrorCode::kUnavailable, "no job reader for this store"));
  Pending& pending = t_pending[this];
  pending.ids.push_back(std::move(id));
  pending.done.push_back(std::move(done));
  if (pending.ids.size() == 1) defer_on_io_thread([this] { flush(); });
}

void JobReads::flush() {
  auto found = t_pending.find(this);
  if (found == t_pending.end()) return;
  Pending pending = std::move(found->second);
  t_pending.erase(found);

  Result<std::vector<std::optional<Job>>> jobs =
      fail(ErrorCode::kUnavailable, "no job reader for this store");
  if (std::unique_ptr<JobReader> reader = borrow()) {
    jobs = reader->get_jobs(pending.ids);
    give_back(std::move(reader));
  }
  for (size_t i = 0; i < pending.done.size(); ++i) {
    if (jobs) {
      pending.done[i](std::move((*jobs)[i]));
    } else {
      pending.done[i](std::unexpected(jobs.error()));
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
