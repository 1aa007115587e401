#include "backup/backup_service.hpp"

#include <cstdlib>

namespace rtjobs::backup {

BackupService::BackupService(const Config& config, const Clock& clock, S3Settings s3,
                             std::unique_ptr<BackupStore> store,
                             std::unique_ptr<ObjectStore> objects)
    : config_(config),
      clock_(clock),
      s3_(std::move(s3)),
      store_(std::move(store)),
      objects_(std::move(objects)),
      runner_(
          *store_, *objects_, clock_,
          BackupRunnerOptions{.policy = {.monthly_backup = config.monthly_backup,
                                         .backup_before_months = config.backup_before_months}}) {}

Result<std::unique_ptr<BackupService>> BackupService::open(const Config& config, const Clock& clock,
                                                           const Env& env, Store* main_store) {
  Env lookup = env ? env : [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  S3Settings s3 = s3_settings_from_env(lookup, config.s3_endpoint, config.s3_region);
  auto store = open_backup_store(config.database_url, main_store);
  if (!store) return std::unexpected(store.error());
  auto objects = open_object_store(config.backup_url, s3);
  if (!objects) return std::unexpected(objects.error());
  return std::unique_ptr<BackupService>(
      new BackupService(config, clock, std::move(s3), std::move(*store), std::move(*objects)));
}

Result<BackupResult> BackupService::run(bool force) { return runs_.run(force); }

Result<BackupHistory> BackupService::history(int limit) {
  BackupHistory h;
  auto last = store_->last_backup_at();
  if (!last) return std::unexpected(last.error());
  h.last_backup_at = *last;
  auto rows = store_->list_backups(limit);
  if (!rows) return std::unexpected(rows.error());
  h.backups = std::move(*rows);
  return h;
}

Result<RestoreResult> BackupService::restore(const std::string& source,
                                             const RestoreProgress& progress) {
  Restorer restorer(*store_, s3_);
  return restorer.restore(source, progress);
}

Result<std::unique_ptr<BackupCron>> BackupService::make_cron() {
  auto schedule = CronExpression::parse(config_.backup_schedule);
  if (!schedule) return std::unexpected(schedule.error());
  auto zone = find_zone(config_.backup_timezone);
  if (!zone) return std::unexpected(zone.error());
  auto leadership = store_->leadership();
  if (!leadership) return std::unexpected(leadership.error());
  return std::make_unique<BackupCron>(std::move(*schedule), *zone, clock_, std::move(*leadership),
                                      [this] { return runs_.run(false); });
}

}  // namespace rtjobs::backup
