// JobReads: point reads of jobs on the HTTP IO threads, from the Store's JobReaders (see
// Store::open_job_reader), so a process request for a job that is already terminal is answered
// where it arrived, without a hop to the blocking pool.
//
// The reads asked for on one IO thread during one turn of its event loop are done together at
// the end of that turn (defer_on_io_thread), in one read transaction: under load one SQLite
// read transaction, with its locks, serves every request that arrived together. Each read still
// starts after its request arrived, so it sees every write committed before the request was
// sent. Readers are pooled: about one per IO thread. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/model.hpp"
#include "store/store.hpp"

namespace rtjobs::http {

class JobReads {
 public:
  // The job as committed when it was read, nullopt when there is none, or an error when no read
  // could be done at once (no reader for this store, the database busy): the caller then takes
  // its ordinary path.
  using Done = std::function<void(Result<std::optional<Job>>)>;

  explicit JobReads(Store& store);

  // Reads job `id` at the end of this turn of the calling IO thread's loop and calls `done` on
  // that thread (at once, off an IO thread). With a store that offers no reader (PostgreSQL,
  // in-memory SQLite), calls `done` at once with an error.
  void read(std::string id, Done done);

 private:
  // Reads and answers what this thread asked for during its turn.
  void flush();
  std::unique_ptr<JobReader> borrow();
  void give_back(std::unique_ptr<JobReader> reader);

  Store& store_;
  bool available_ = false;  // the store offers readers
  std::mutex mutex_;
  std::vector<std::unique_ptr<JobReader>> idle_;  // guarded by mutex_
};

}  // namespace rtjobs::http
