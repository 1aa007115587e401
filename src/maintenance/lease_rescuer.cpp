#include "maintenance/lease_rescuer.hpp"

#include "core/log.hpp"

namespace rtjobs {

namespace {
constexpr int kBatch = 500;
}

LeaseRescuer::LeaseRescuer(Store& store, const Clock& clock, int max_retries,
                           std::chrono::milliseconds interval)
    : store_(store), clock_(clock), max_retries_(max_retries), worker_("rescuer", interval, [this] {
        auto n = rescue_once();
        return n && *n == kBatch;
      }) {}

Result<int> LeaseRescuer::rescue_once() {
  auto rescued = store_.rescue_expired_leases(clock_.now(), max_retries_, kBatch);
  if (!rescued) {
    log::error("rescuing expired leases failed", {{"error", rescued.error().message}});
    return rescued;
  }
  if (*rescued > 0) log::warn("rescued jobs whose lease expired", {{"jobs", *rescued}});
  return rescued;
}

}  // namespace rtjobs
