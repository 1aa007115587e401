#include "app/backup_commands.hpp"

#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "backup/backup_service.hpp"
#include "core/clock.hpp"
#include "core/time_format.hpp"
#include "store/store.hpp"

namespace rtjobs {
namespace {

// Opens, migrates and returns the backup service, or prints why not.
std::unique_ptr<backup::BackupService> open_service(const Config& config, const Clock& clock) {
  auto store = open_store(config.database_url);
  if (!store) {
    std::fprintf(stderr, "rtjobs: cannot open the database: %s\n", store.error().message.c_str());
    return nullptr;
  }
  if (auto m = (*store)->migrate(); !m) {
    std::fprintf(stderr, "rtjobs: migration failed: %s\n", m.error().message.c_str());
    return nullptr;
  }
  auto service = backup::BackupService::open(config, clock);
  if (!service) {
    std::fprintf(stderr, "rtjobs: cannot configure backups: %s%s%s\n",
                 service.error().field.c_str(), service.error().field.empty() ? "" : ": ",
                 service.error().message.c_str());
    return nullptr;
  }
  return std::move(*service);
}

void draw_progress(backup::RestorePhase phase, int64_t read, int64_t total) {
  constexpr int kWidth = 40;
  const std::string label(backup::to_string(phase));
  if (total > 0) {
    int filled = static_cast<int>(kWidth * std::min<int64_t>(read, total) / total);
    std::fprintf(stderr, "\r%-11s [%.*s%*s] %3d%% %lld/%lld bytes", label.c_str(), filled,
                 "########################################", kWidth - filled, "",
                 static_cast<int>(100 * std::min<int64_t>(read, total) / total),
                 static_cast<long long>(read), static_cast<long long>(total));
  } else {
    std::fprintf(stderr, "\r%-11s %lld bytes read", label.c_str(), static_cast<long long>(read));
  }
  std::fflush(stderr);
}

}  // namespace

int run_backup_command(const Config& config, bool force) {
  SystemClock clock;
  auto service = open_service(config, clock);
  if (!service) return 1;
  auto result = service->run(force);
  if (!result) {
    std::fprintf(stderr, "rtjobs: backup failed: %s\n", result.error().message.c_str());
    return 1;
  }
  std::printf(
      "{\"outcome\":\"%s\",\"timestamp_saved\":%s,\"job_rows\":%lld,"
      "\"provider_status_rows\":%lld,\"objects\":%zu}\n",
      std::string(backup::to_string(result->outcome)).c_str(),
      result->timestamp_saved ? "true" : "false", static_cast<long long>(result->job_rows),
      static_cast<long long>(result->provider_status_rows), result->objects.size());
  for (const auto& o : result->objects) std::fprintf(stderr, "wrote %s\n", o.url.c_str());
  return 0;
}

int run_restore_command(const Config& config, const std::string& source) {
  SystemClock clock;
  auto service = open_service(config, clock);
  if (!service) return 1;
  // On a terminal a bar per phase, redrawn in place; elsewhere (a log, a pipe) one plain line per
  // phase when it ends: "restore: loading: 123456 bytes".
  const bool terminal = isatty(STDERR_FILENO) == 1;
  std::optional<backup::RestorePhase> shown;
  int64_t shown_read = 0;
  const auto end_phase = [&] {
    if (terminal) {
      std::fputc('\n', stderr);
    } else {
      std::fprintf(stderr, "restore: %s: %lld bytes\n",
                   std::string(backup::to_string(*shown)).c_str(),
                   static_cast<long long>(shown_read));
    }
  };
  const backup::RestoreProgress progress = [&](backup::RestorePhase phase, int64_t read,
                                               int64_t total) {
    if (shown && *shown != phase) end_phase();
    shown = phase;
    shown_read = read;
    if (terminal) draw_progress(phase, read, total);
  };
  auto result = service->restore(source, progress);
  if (shown) end_phase();
  if (!result) {
    std::fprintf(stderr, "rtjobs: restore failed: %s\n", result.error().message.c_str());
    return result.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
  }
  std::printf(
      "{\"table\":\"%s\",\"rows_read\":%lld,\"rows_inserted\":%lld,\"rows_skipped\":%lld}\n",
      result->table.c_str(), static_cast<long long>(result->rows_read),
      static_cast<long long>(result->rows_inserted), static_cast<long long>(result->rows_skipped));
  return 0;
}

}  // namespace rtjobs
