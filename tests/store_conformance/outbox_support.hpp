// What the outbox tests (events_test.cpp, webhooks_test.cpp) share: reading the events a change
// wrote, and checking one against the row it is about, as the store reads that row back.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/object_json.hpp"
#include "store/store.hpp"

namespace rtjobs::store_conformance {

// The events after `after` (all when absent), in id order.
inline std::vector<Event> events_after(Store& store,
                                       const std::optional<std::string>& after = std::nullopt) {
  auto r = store.list_events(after, 500);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  return r ? *r : std::vector<Event>{};
}

// The newest event's id: what a change writes after it is events_after(store, mark).
inline std::optional<std::string> last_event_id(Store& store) {
  std::vector<Event> all = events_after(store);
  return all.empty() ? std::nullopt : std::optional<std::string>(all.back().id);
}

inline std::vector<std::string> types_of(const std::vector<Event>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const Event& e : events) out.push_back(e.type);
  return out;
}

// The events of one transfer, in their order (across transfers the outbox promises none).
inline std::vector<Event> of_transfer(const std::vector<Event>& events,
                                      const std::string& transfer_id) {
  std::vector<Event> out;
  for (const Event& e : events) {
    if (e.transfer_id == transfer_id) out.push_back(e);
  }
  return out;
}

// The one event about job `job_id` (a failure when there is not exactly one).
inline Event event_of_job(const std::vector<Event>& events, const std::string& job_id) {
  std::vector<Event> found;
  for (const Event& e : events) {
    if (e.job_id == job_id) found.push_back(e);
  }
  EXPECT_EQ(found.size(), 1u) << "events of job " << job_id;
  return found.empty() ? Event{} : found.front();
}

// `e` is a `type` event of `job` at `at`, its data the job as stored (to_json of the row).
inline void expect_job_event(const Event& e, std::string_view type, const Job& job, Timestamp at) {
  EXPECT_EQ(e.type, type);
  EXPECT_EQ(e.transfer_id, job.recurring_transfer_id);
  EXPECT_EQ(e.job_id, job.id);
  EXPECT_EQ(e.created_at, at);
  EXPECT_EQ(nlohmann::json::parse(e.data), to_json(job)) << type;
}

inline void expect_transfer_event(const Event& e, std::string_view type,
                                  const RecurringTransfer& transfer, Timestamp at) {
  EXPECT_EQ(e.type, type);
  EXPECT_EQ(e.transfer_id, transfer.id);
  EXPECT_FALSE(e.job_id);
  EXPECT_EQ(e.created_at, at);
  EXPECT_EQ(nlohmann::json::parse(e.data), to_json(transfer)) << type;
}

}  // namespace rtjobs::store_conformance
