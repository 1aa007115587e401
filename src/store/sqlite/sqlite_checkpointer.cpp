#include "store/sqlite/sqlite_checkpointer.hpp"

#include <utility>

#include "core/log.hpp"
#include "core/thread_name.hpp"

namespace rtjobs::store_detail {

SqliteCheckpointer::SqliteCheckpointer(std::string path)
    : path_(std::move(path)), thread_([this] { run(); }) {}

SqliteCheckpointer::~SqliteCheckpointer() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

bool SqliteCheckpointer::on_commit(int wal_pages) {
  if (wal_pages < kPages) return false;
  {
    std::lock_guard lock(mutex_);
    due_ = true;
  }
  wake_.notify_one();
  return wal_pages >= kWriterPages;
}

void SqliteCheckpointer::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return (!due_ && !running_) || stop_; });
}

void SqliteCheckpointer::run() {
  name_this_thread("rt-checkpoint");
  std::unique_ptr<SqliteConnection> conn;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      running_ = false;
      idle_.notify_all();
      wake_.wait(lock, [&] { return due_ || stop_; });
      if (stop_) return;
      due_ = false;
      running_ = true;
    }
    if (!conn) {
      auto opened = SqliteConnection::open(path_, false);
      if (!opened) {
        log::warn("SQLite checkpoint: no connection", {{"error", opened.error().message}});
        continue;  // the next commit past kPages tries again; the writer's fallback bounds the WAL
      }
      conn = std::move(*opened);
    }
    if (auto r = conn->checkpoint(); !r) {
      log::warn("SQLite checkpoint failed", {{"error", r.error().message}});
    }
  }
}

}  // namespace rtjobs::store_detail
