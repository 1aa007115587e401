// BackupCron: runs the backup at each time RT_BACKUP_SCHEDULE names, in RT_BACKUP_TIMEZONE,
// on a PeriodicWorker (the one loop shape of src/maintenance) that wakes every `poll`.
//
// Leadership: with several instances on one PostgreSQL exactly one runs the cron. The instance
// holding the leader advisory lock (backup_store.hpp, BackupLeadership) runs it; the others
// check again at every due time and take over when the leader's session ends. A due time
// reached while not leading is passed, not queued. Independently, every run (cron, API, CLI)
// takes the run lock, so two runs never overlap even across instances.
//
// A run that fails is logged and not retried before the next due time (the midnight cron then
// tries again the next day; nothing was lost, see backup_runner.hpp).
//
// Thread-safety: start()/stop() by the owner; tick() is for tests driving it with a ManualClock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "backup/backup_runner.hpp"
#include "backup/cron.hpp"
#include "maintenance/periodic_worker.hpp"

namespace rtjobs::backup {

class BackupCron {
 public:
  using RunFn = std::function<Result<BackupResult>()>;

  BackupCron(CronExpression schedule, const date::time_zone* zone, const Clock& clock,
             std::unique_ptr<BackupLeadership> leadership, RunFn run,
             std::chrono::milliseconds poll = std::chrono::seconds(20));
  ~BackupCron() { stop(); }

  void start() { worker_.start(); }
  void stop() { worker_.stop(); }

  // Runs the backup if a due time has come (and this instance leads). Returns false (the
  // PeriodicWorker's "no more work waiting").
  bool tick();

  // The due time the cron waits for.
  std::optional<Timestamp> next_due() const { return next_due_; }

 private:
  const CronExpression schedule_;
  const date::time_zone* const zone_;
  const Clock& clock_;
  std::unique_ptr<BackupLeadership> leadership_;
  const RunFn run_;
  std::optional<Timestamp> next_due_;  // touched by the worker thread only (or tests)
  PeriodicWorker worker_;
};

}  // namespace rtjobs::backup
