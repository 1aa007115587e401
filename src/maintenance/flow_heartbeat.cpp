#include "maintenance/flow_heartbeat.hpp"

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {

FlowHeartbeat::FlowHeartbeat(Store& store, FlowControl& flows, const Clock& clock,
                             std::chrono::milliseconds interval)
    : store_(store),
      flows_(flows),
      clock_(clock),
      interval_(interval),
      instance_id_(new_uuid_v7(clock.now())),
      worker_("flow", interval, [this] { return tick(); }) {}

bool FlowHeartbeat::tick() {
  auto live = store_.heartbeat_instance(instance_id_, clock_.now(), 3 * interval_);
  if (!live) {
    // The shares stay as they were: the count is only ever stale, never guessed.
    log::warn("instance heartbeat failed", {{"error", live.error().message}});
    return false;
  }
  if (++beats_ >= 2) flows_.set_instances(*live, clock_.now());
  return false;
}

void FlowHeartbeat::stop() {
  worker_.stop();
  if (beats_ == 0) return;
  if (auto left = store_.leave_instance(instance_id_); !left) {
    log::warn("leaving the instance table failed", {{"error", left.error().message}});
  }
}

}  // namespace rtjobs
