// SqliteCheckpointer: copies the WAL back into the database file on a thread and connection of
// its own, so the one writer never does it while holding the database's write lock.
//
// SQLite's automatic checkpoint runs inside the COMMIT of the transaction that grew the WAL past
// 1000 pages: the copy and the database file's fsync then happen with the write lock held, and
// every other writer waits for them. A PASSIVE checkpoint needs no write lock, so here the
// writer's commit only tells this thread the WAL's size (on_commit, from SQLite's WAL hook,
// which replaces the automatic checkpoint on the writer's connection) and the thread does the
// same checkpoint beside the next transactions. Should the thread fall far behind (a checkpoint
// that cannot finish leaves the WAL growing), the writer checkpoints itself as before.
//
// Thread-safe: on_commit may be called from any thread; the destructor stops the thread.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/sqlite/sqlite_connection.hpp"

namespace rtjobs::store_detail {

class SqliteCheckpointer {
 public:
  // SQLite's own threshold for the automatic checkpoint, in WAL pages.
  static constexpr int kPages = 1000;
  // The WAL size at which the writer no longer leaves the checkpoint to this thread.
  static constexpr int kWriterPages = 16 * kPages;

  // Checkpoints the database at `path` (a file) on its own connection, opened by the thread.
  explicit SqliteCheckpointer(std::string path);
  ~SqliteCheckpointer();
  SqliteCheckpointer(const SqliteCheckpointer&) = delete;
  SqliteCheckpointer& operator=(const SqliteCheckpointer&) = delete;

  // After a commit that left `wal_pages` pages in the WAL: wakes the thread past kPages. True
  // when the committing connection should checkpoint itself (the WAL past kWriterPages).
  bool on_commit(int wal_pages);
  // Waits until no checkpoint is due or running (tests).
  void wait_idle();

 private:
  void run();

  const std::string path_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  bool due_ = false;      // guarded by mutex_
  bool running_ = false;  // guarded by mutex_
  bool stop_ = false;     // guarded by mutex_
  std::thread thread_;
};

}  // namespace rtjobs::store_detail
