// FlowHeartbeat: how the instances on one database share each bank's limits (SPEC section 8:
// `max_rps` and `max_in_flight` are the bank's, not each instance's). Every second each instance
// renews its row in the database (Store::heartbeat_instance, with a 3 s lease) and learns how
// many instances are live; each then takes an equal share of every provider's limits.
//
// Error bound. A newcomer takes a share only after two heartbeats, by when every other instance
// has counted it and shrunk its own share, so a join never lets the instances together exceed a
// limit. An instance that stops leaves its share unused until its lease runs out (3 s): less
// than the limit, never more. Between those, the shares add up to the limit, and each instance's
// bucket keeps any one-second window at or below its share (ProviderFlow).
// Thread-safe; start()/stop() from the owner.
#pragma once

#include <optional>
#include <string>

#include "core/clock.hpp"
#include "flow/provider_flow.hpp"
#include "maintenance/periodic_worker.hpp"
#include "store/store.hpp"

namespace rtjobs {

class FlowHeartbeat {
 public:
  FlowHeartbeat(Store& store, FlowControl& flows, const Clock& clock,
                std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

  void start() { worker_.start(); }
  // Stops and removes this instance's row, so the others take over its share at once.
  void stop();

 private:
  bool tick();

  Store& store_;
  FlowControl& flows_;
  const Clock& clock_;
  const std::chrono::milliseconds interval_;
  const std::string instance_id_;
  int beats_ = 0;  // successful heartbeats so far; the worker thread's only
  PeriodicWorker worker_;
};

}  // namespace rtjobs
