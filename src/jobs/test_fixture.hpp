// What the jobs module's tests share (for *_test.cpp only): an in-memory SQLite store, a
// provider registry each test fills, the built-in calendars, a manual clock at kT0, and the
// create request of a monthly ACH transfer whose first occurrence is due at kT0.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "baas/registry.hpp"
#include "core/clock.hpp"
#include "core/time_format.hpp"
#include "jobs/transfer_service.hpp"
#include "schedule/calendar.hpp"
#include "store/store.hpp"

namespace rtjobs::jobs_test {

inline const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.000Z");

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = open_store("sqlite://:memory:");
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    ASSERT_TRUE(store_->migrate());
  }

  // Registers `provider`; returns it, for the test to script and inspect.
  template <class P>
  P* add_provider(std::unique_ptr<P> provider) {
    P* raw = provider.get();
    providers_.add(std::move(provider));
    return raw;
  }

  // Monthly on the 10th at 09:00 UTC from kT0's date, to the counterparty of an ACH transfer.
  static NewTransfer ach_transfer(std::string provider) {
    NewTransfer t;
    t.provider = std::move(provider);
    t.source_account = "acct-src";
    t.destination_account = "counterparty-1";
    t.amount = 5000;
    t.currency = "USD";
    t.description = "rent";
    t.rail = Rail::kAch;
    t.provider_options = R"({"sec_code":"PPD"})";
    t.schedule.start_date = std::chrono::floor<std::chrono::days>(kT0);
    t.schedule.execution_minutes = 9 * 60;
    t.request_hash = "hash";
    return t;
  }

  std::unique_ptr<Store> store_;
  ProviderRegistry providers_;
  CalendarSet calendars_ = CalendarSet::builtin();
  ManualClock clock_{kT0};
};

}  // namespace rtjobs::jobs_test
