#include "maintenance/horizon_extender.hpp"

#include "core/log.hpp"
#include "jobs/occurrences.hpp"

namespace rtjobs {
namespace {
constexpr int kPage = 200;
}  // namespace

HorizonExtender::HorizonExtender(Store& store, const CalendarSet& calendars, const Clock& clock,
                                 int horizon_months, std::chrono::milliseconds interval)
    : store_(store),
      calendars_(calendars),
      clock_(clock),
      horizon_months_(horizon_months),
      worker_("horizon", interval, [this] {
        auto r = extend_once();
        return r && r->second;
      }) {}

Result<std::pair<int, bool>> HorizonExtender::extend_once() {
  Timestamp now = clock_.now();
  auto transfers =
      store_.transfers_to_extend(add_months(now, horizon_months_) - kCompletionGrace, kPage);
  if (!transfers) {
    log::error("listing transfers to extend failed", {{"error", transfers.error().message}});
    return std::unexpected(transfers.error());
  }
  std::vector<Extension> extensions;
  for (const RecurringTransfer& transfer : *transfers) {
    auto next = next_occurrences(transfer, calendars_, now, horizon_months_);
    if (!next) {
      log::error("transfer schedule unusable",
                 {{"transfer_id", transfer.id}, {"error", next.error().message}});
      continue;
    }
    extensions.push_back({transfer.id, now, std::move(next->jobs), next->next_due_at,
                          next->exhausted, schedule_end(transfer.schedule)});
  }
  // The page in one transaction; if it fails, one by one, so one bad transfer cannot hold
  // back the others.
  int created = 0;
  if (auto written = store_.extend_transfers(extensions)) {
    created = *written;
  } else {
    for (const Extension& extension : extensions) {
      auto one = store_.extend_transfer(extension);
      if (!one) {
        log::error("extending transfer failed",
                   {{"transfer_id", extension.transfer_id}, {"error", one.error().message}});
        continue;
      }
      created += *one;
    }
  }
  if (created > 0) log::info("occurrences created up to the horizon", {{"jobs", created}});
  return std::pair{created, static_cast<int>(transfers->size()) == kPage};
}

}  // namespace rtjobs
