#include "http/job_reader_pool.hpp"

namespace rtjobs::http {

JobReaderPool::Lease JobReaderPool::borrow() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<JobReader> reader = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(reader));
    }
  }
  return Lease(*this, store_.open_job_reader());
}

void JobReaderPool::give_back(std::unique_ptr<JobReader> reader) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(reader));
}

}  // namespace rtjobs::http
