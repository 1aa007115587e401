#include "jobs/completion_writer.hpp"

#include <span>

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace rtjobs {

CompletionWriter::CompletionWriter(Store& store, int writers, size_t max_batch)
    : store_(store), max_batch_(std::max<size_t>(1, max_batch)) {
  for (int i = 0; i < std::max(1, writers); ++i)
    threads_.emplace_back([this] {
      name_this_thread("rt-writer");
      run();
    });
}

CompletionWriter::~CompletionWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void CompletionWriter::write(Completion completion, Done done) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(completion), std::move(done)});
  }
  ready_.notify_one();
}

void CompletionWriter::run() {
  std::vector<Pending> batch;
  std::vector<Completion> completions;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is written
      size_t n = std::min(max_batch_, queue_.size());
      batch.clear();
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    completions.clear();
    for (Pending& p : batch) completions.push_back(std::move(p.completion));
    auto results = store_.complete_jobs(completions);
    if (results) {
      for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move((*results)[i]));
      batch.clear();  // release the callbacks (and what they hold, e.g. HTTP sessions) now
      continue;
    }
    // A failed batch writes nothing: write its outcomes one by one, so one bad outcome (or a
    // passing fault) does not fail the others.
    log::warn("writing a batch of job outcomes failed; writing them one by one",
              {{"jobs", static_cast<long>(batch.size())}, {"error", results.error().message}});
    for (size_t i = 0; i < batch.size(); ++i) {
      auto one = store_.complete_jobs(std::span<const Completion>(&completions[i], 1));
      if (!one) {
        log::error("writing a job outcome failed",
                   {{"job_id", completions[i].job_id}, {"error", one.error().message}});
        batch[i].done(std::unexpected(one.error()));
      } else {
        batch[i].done(std::move(one->front()));
      }
    }
    batch.clear();
  }
}

}  // namespace rtjobs
