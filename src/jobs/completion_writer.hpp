// CompletionWriter: group commit of job outcomes (GroupCommit over Store::complete_jobs). The
// processor hands every outcome here instead of writing it itself.
//
// Safety: `done` runs only after the outcome is committed. An outcome lost in a crash leaves
// its job PROCESSING under its lease; it is rescued and re-sent with the same idempotency key.
// Thread-safe; write() may be called from any thread. The destructor writes what is queued.
#pragma once

#include "jobs/group_commit.hpp"
#include "store/store.hpp"

namespace rtjobs {

class CompletionWriter : public GroupCommit<Completion, CompletionResult> {
 public:
  // `writers` threads: 1 suits SQLite (one writer); a few overlap PostgreSQL round trips.
  CompletionWriter(Store& store, int writers, size_t max_batch)
      : GroupCommit(
            [&store](std::span<const Completion> batch) { return store.complete_jobs(batch); },
            writers, max_batch, "job outcomes") {}
};

}  // namespace rtjobs
