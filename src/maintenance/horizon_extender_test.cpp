#include "maintenance/horizon_extender.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "core/time_format.hpp"
#include "core/uuid.hpp"
#include "jobs/occurrences.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;

const Timestamp kT0 = *parse_timestamp("2026-03-10T09:00:00.000Z");

// A real SQLite store in a temporary file, and a monthly transfer (the 10th at 09:00 UTC)
// created at kT0 with a horizon of one month: sequences 1 (due kT0) and 2 (due 2026-04-10).
class HorizonExtenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rtjobs-horizon-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auto store = open_store("sqlite://" + (dir_ / "test.db").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    ASSERT_TRUE(store_->migrate());

    RecurringTransfer t;
    t.id = new_uuid_v7(kT0);
    t.provider = "sandbox";
    t.source_account = "acct-src";
    t.destination_account = "acct-dst";
    t.amount = 5000;
    t.currency = "USD";
    t.description = "rent";
    t.schedule.day_of_month = 10;
    t.schedule.start_date = std::chrono::floor<std::chrono::days>(kT0);
    t.schedule.execution_minutes = 9 * 60;
    t.request_hash = "hash";
    t.created_at = kT0;
    t.updated_at = kT0;
    auto next = next_occurrences(t, calendars_, kT0, 1);
    ASSERT_TRUE(next) << next.error().message;
    ASSERT_EQ(next->jobs.size(), 2u);
    t.last_sequence = 2;
    t.next_occurrence_at = next->next_due_at;
    ASSERT_TRUE(store_->create_transfer(t, next->jobs));
    transfer_id_ = t.id;
  }

  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The due times of the transfer's jobs, in sequence order.
  std::vector<std::string> due_times() {
    JobFilter filter;
    filter.recurring_transfer_id = transfer_id_;
    filter.limit = 100;
    auto page = store_->list_jobs(filter);
    EXPECT_TRUE(page) << page.error().message;
    std::vector<std::string> out;
    for (const Job& j : page ? page->data : std::vector<Job>{}) {
      out.push_back(format_timestamp(j.due_at));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  int extend_at(Timestamp now) {
    clock_.set(now);
    HorizonExtender extender(*store_, calendars_, clock_, 1, 1min);
    auto r = extender.extend_once();
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->first : -1;
  }

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
  CalendarSet calendars_ = CalendarSet::builtin();
  ManualClock clock_{kT0};
  std::string transfer_id_;
};

// Sequence 3 (due 2026-05-10 09:00) enters the one-month horizon at 2026-04-10 09:00, the moment
// sequence 2 falls due; that job's completion creates it, so the extender waits the grace.
TEST_F(HorizonExtenderTest, LeavesAnOccurrenceThatJustEnteredTheHorizonToTheCompletion) {
  const Timestamp entered = *parse_timestamp("2026-04-10T09:00:00.000Z");
  EXPECT_EQ(extend_at(entered), 0);
  EXPECT_EQ(extend_at(entered + HorizonExtender::kCompletionGrace - 1ms), 0);
  EXPECT_EQ(due_times().size(), 2u);

  EXPECT_EQ(extend_at(entered + HorizonExtender::kCompletionGrace), 1);
  EXPECT_EQ(due_times(),
            (std::vector<std::string>{"2026-03-10T09:00:00.000Z", "2026-04-10T09:00:00.000Z",
                                      "2026-05-10T09:00:00.000Z"}));
  auto stored = store_->get_transfer(transfer_id_).value().value();
  EXPECT_EQ(stored.last_sequence, 3);
  EXPECT_EQ(format_timestamp(*stored.next_occurrence_at), "2026-06-10T09:00:00.000Z");
  EXPECT_EQ(extend_at(entered + HorizonExtender::kCompletionGrace + 1min), 0);
}

// A server that was down for months creates every missed occurrence up to the horizon at once.
TEST_F(HorizonExtenderTest, CatchesUpEveryOccurrenceWithinTheHorizon) {
  EXPECT_EQ(extend_at(*parse_timestamp("2026-07-01T00:00:00.000Z")), 3);
  EXPECT_EQ(due_times(),
            (std::vector<std::string>{"2026-03-10T09:00:00.000Z", "2026-04-10T09:00:00.000Z",
                                      "2026-05-10T09:00:00.000Z", "2026-06-10T09:00:00.000Z",
                                      "2026-07-10T09:00:00.000Z"}));
}

}  // namespace
}  // namespace rtjobs
