// GroupCommit: many small writes in few transactions. Callers hand items to write(); writer
// threads take whatever has queued up (at most max_batch) and write it with one call of
// `write_batch`, so under load one commit carries many items, and when idle an item is written
// at once (no batching delay). A failed batch is written again one item at a time, so one bad
// item (or a passing fault) does not fail the others.
//
// `done` runs only after its item is committed (or failed). Thread-safe; write() may be called
// from any thread. The destructor writes what is queued.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace rtjobs {

template <class Item, class Out>
class GroupCommit {
 public:
  using Done = std::function<void(Result<Out>)>;
  // Writes a batch in one transaction: one Out per item, in order, or an error (nothing written).
  using WriteBatch = std::function<Result<std::vector<Out>>(std::span<const Item>)>;

  // `writers` threads: 1 suits SQLite (one writer); a few overlap PostgreSQL round trips.
  // `what` names the items in the log ("job outcomes").
  GroupCommit(WriteBatch write_batch, int writers, size_t max_batch, std::string what)
      : write_batch_(std::move(write_batch)),
        max_batch_(std::max<size_t>(1, max_batch)),
        what_(std::move(what)) {
    for (int i = 0; i < std::max(1, writers); ++i)
      threads_.emplace_back([this] {
        name_this_thread("rt-writer");
        run();
      });
  }
  ~GroupCommit() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& t : threads_) t.join();
  }
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  void write(Item item, Done done) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back({std::move(item), std::move(done)});
    }
    ready_.notify_one();
  }

 private:
  struct Pending {
    Item item;
    Done done;
  };

  void run() {
    std::vector<Pending> batch;
    std::vector<Item> items;
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
      items.clear();
      for (Pending& p : batch) items.push_back(std::move(p.item));
      auto results = write_batch_(items);
      if (results) {
        for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move((*results)[i]));
        batch.clear();  // release the callbacks (and what they hold, e.g. HTTP sessions) now
        continue;
      }
      log::warn("writing a batch of " + what_ + " failed; writing them one by one",
                {{"items", static_cast<long>(batch.size())}, {"error", results.error().message}});
      for (size_t i = 0; i < batch.size(); ++i) {
        auto one = write_batch_(std::span<const Item>(&items[i], 1));
        if (!one) {
          log::error("writing one of " + what_ + " failed", {{"error", one.error().message}});
          batch[i].done(std::unexpected(one.error()));
        } else {
          batch[i].done(std::move(one->front()));
        }
      }
      batch.clear();
    }
  }

  const WriteBatch write_batch_;
  const size_t max_batch_;
  const std::string what_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Pending> queue_;  // guarded by mutex_
  bool stopping_ = false;      // guarded by mutex_
};

}  // namespace rtjobs
