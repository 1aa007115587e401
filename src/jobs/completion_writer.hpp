// CompletionWriter: group commit of job outcomes. The processor hands every outcome here
// instead of writing it itself; writer threads take whatever has queued up (at most max_batch)
// and write it with Store::complete_jobs in one transaction, so under load one commit carries
// many jobs, and when idle an outcome is written at once (no batching delay).
//
// Safety: `done` runs only after the outcome is committed. An outcome lost in a crash leaves
// its job PROCESSING under its lease; it is rescued and re-sent with the same idempotency key.
// Thread-safe; write() may be called from any thread. The destructor writes what is queued.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.hpp"

namespace rtjobs {

class CompletionWriter {
 public:
  using Done = std::function<void(Result<CompletionResult>)>;

  // `writers` threads: 1 suits SQLite (one writer); a few overlap PostgreSQL round trips.
  CompletionWriter(Store& store, int writers, size_t max_batch);
  ~CompletionWriter();
  CompletionWriter(const CompletionWriter&) = delete;
  CompletionWriter& operator=(const CompletionWriter&) = delete;

  void write(Completion completion, Done done);

 private:
  struct Pending {
    Completion completion;
    Done done;
  };
  void run();

  Store& store_;
  const size_t max_batch_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Pending> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
};

}  // namespace rtjobs
