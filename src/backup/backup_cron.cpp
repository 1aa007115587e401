#include "backup/backup_cron.hpp"

#include "core/log.hpp"
#include "core/time_format.hpp"

namespace rtjobs::backup {

BackupCron::BackupCron(CronExpression schedule, const date::time_zone* zone, const Clock& clock,
                       std::unique_ptr<BackupLeadership> leadership, RunFn run,
                       std::chrono::milliseconds poll)
    : schedule_(std::move(schedule)),
      zone_(zone),
      clock_(clock),
      leadership_(std::move(leadership)),
      run_(std::move(run)),
      next_due_(schedule_.next_after(clock.now(), zone)),
      worker_("backup_cron", poll, [this] { return tick(); }) {}

bool BackupCron::tick() {
  const Timestamp now = clock_.now();
  if (!next_due_ || now < *next_due_) return false;
  const Timestamp due = *next_due_;
  next_due_ = schedule_.next_after(now, zone_);
  auto leading = leadership_->check();
  if (!leading) {
    log::warn("backup cron: leadership check failed", {{"error", leading.error().message}});
    return false;
  }
  if (!*leading) {
    log::info("backup cron: another instance leads", {{"due", format_timestamp(due)}});
    return false;
  }
  auto result = run_();  // BackupRunner logs the outcome or the error
  if (!result && result.error().reason == "backup_in_progress") {
    log::info("backup cron: a run is already in progress", {});
  }
  return false;
}

}  // namespace rtjobs::backup
