// PgJobsDueListener: the PostgreSQL side of Store::subscribe_jobs_due. Writers that make jobs due
// now send `pg_notify('rtjobs_jobs_due', '')` inside their own transaction (no extra round trip;
// delivered at commit, and not at all on rollback); every instance's listener hears it.
//
// The listener owns one dedicated connection (never a pooled one: it sits in LISTEN for its
// whole life) and one thread that waits with poll() on the connection's socket and on an eventfd
// that the destructor signals. When the connection drops it reconnects with a capped
// exponential backoff and then calls on_jobs_due once, since notifications sent meanwhile are
// lost. TCP keepalives detect a silently dead server.
//
// Thread-safety: on_jobs_due runs on the listener's thread; the destructor stops and joins it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/model.hpp"
#include "store/store.hpp"

typedef struct pg_conn PGconn;

namespace rtjobs::store_detail {

// The SQL expression that wakes every listener; only ever used inside writers' statements.
inline constexpr std::string_view kNotifyJobsDue = "pg_notify('rtjobs_jobs_due', '')";

// Whether any of `jobs` is due at `now` (worth waking the schedulers for). Later jobs are left
// to the schedulers' polling: a wake-up before a job is due would find nothing.
bool any_due(const std::vector<Job>& jobs, Timestamp now);

class PgJobsDueListener final : public Subscription {
 public:
  // Starts the thread; connecting happens there, so a database that is down now is retried.
  PgJobsDueListener(std::string url, std::function<void()> on_jobs_due);
  ~PgJobsDueListener() override;
  PgJobsDueListener(const PgJobsDueListener&) = delete;
  PgJobsDueListener& operator=(const PgJobsDueListener&) = delete;

 private:
  void run();
  // A connection that is LISTENing, or nullptr (failed, or stopping).
  PGconn* connect_and_listen();
  // Returns when the connection fails or the listener stops.
  void receive(PGconn* conn);
  // Waits until `fd` has `events`, the deadline passes or stop is signalled; true for `fd`.
  bool wait_for(int fd, short events, std::chrono::steady_clock::time_point deadline);

  const std::string url_;
  const std::function<void()> on_jobs_due_;
  int stop_fd_ = -1;  // eventfd, readable once stopping
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace rtjobs::store_detail
