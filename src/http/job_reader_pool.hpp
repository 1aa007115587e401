// JobReaderPool: the Store's JobReaders (see Store::open_job_reader) for the IO threads, so a
// process request for a job that is already terminal is answered where it was read, without a
// hop to the blocking pool. borrow() never waits: it hands out an idle reader or opens a new
// one. Only IO threads borrow, each giving its reader back before it returns, so the pool holds
// about one reader (one SQLite connection) per IO thread. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "store/store.hpp"

namespace rtjobs::http {

class JobReaderPool {
 public:
  explicit JobReaderPool(Store& store) : store_(store) {}

  // A borrowed reader, given back when the Lease is destroyed. Empty (false) when the store
  // offers no reader (PostgreSQL, in-memory SQLite): the caller reads on the blocking pool.
  class Lease {
   public:
    Lease(JobReaderPool& pool, std::unique_ptr<JobReader> reader)
        : pool_(pool), reader_(std::move(reader)) {}
    ~Lease() {
      if (reader_) pool_.give_back(std::move(reader_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

    explicit operator bool() const { return reader_ != nullptr; }
    JobReader* operator->() const { return reader_.get(); }

   private:
    JobReaderPool& pool_;
    std::unique_ptr<JobReader> reader_;
  };

  Lease borrow();

 private:
  void give_back(std::unique_ptr<JobReader> reader);

  Store& store_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<JobReader>> idle_;  // guarded by mutex_
};

}  // namespace rtjobs::http
