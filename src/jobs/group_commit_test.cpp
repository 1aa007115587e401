// GroupCommit (the CompletionWriter's engine) with a scripted batch writer: batches form while a
// write is in progress, a failed batch is written again one item at a time, an item's callback
// runs only after its write returned, and the destructor writes what is queued.
#include "jobs/group_commit.hpp"

#include <gtest/gtest.h>

#include <future>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <vector>

namespace rtjobs {
namespace {

// Records every batch it is given; each item's result is the item times 10.
class ScriptedWriter {
 public:
  Result<std::vector<int>> write(std::span<const int> batch) {
    {
      std::lock_guard lock(mutex_);
      batches_.emplace_back(batch.begin(), batch.end());
    }
    if (hold_) {
      entered_.set_value();
      release_.get_future().wait();
      hold_ = false;
    }
    std::lock_guard lock(mutex_);
    for (int item : batch) {
      if (refused_.contains(item) && batch.size() > 1) {
        return std::unexpected(Error{ErrorCode::kUnavailable, "batch refused", {}, {}});
      }
      if (refused_.contains(item)) {
        return std::unexpected(Error{ErrorCode::kInternal, "item refused", {}, {}});
      }
    }
    std::vector<int> out;
    for (int item : batch) {
      committed_.insert(item);
      out.push_back(item * 10);
    }
    return out;
  }

  bool committed(int item) {
    std::lock_guard lock(mutex_);
    return committed_.contains(item);
  }
  std::vector<std::vector<int>> batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

  bool hold_ = false;  // the first write waits for release_
  std::promise<void> entered_;
  std::promise<void> release_;
  std::set<int> refused_;  // a batch holding one of these fails; alone, the item fails

 private:
  std::mutex mutex_;
  std::vector<std::vector<int>> batches_;
  std::set<int> committed_;
};

// Each item's result or error, and whether its write had returned when its callback ran.
struct Answers {
  explicit Answers(int n) : done(n) {}
  std::mutex mutex;
  std::map<int, Result<int>> results;
  bool ran_before_commit = false;
  std::latch done;
};

GroupCommit<int, int>::Done answer(Answers& answers, ScriptedWriter& writer, int item) {
  return [&answers, &writer, item](Result<int> r) {
    {
      std::lock_guard lock(answers.mutex);
      if (r && !writer.committed(item)) answers.ran_before_commit = true;
      answers.results.emplace(item, std::move(r));
    }
    answers.done.count_down();
  };
}

GroupCommit<int, int>::WriteBatch through(ScriptedWriter& writer) {
  return [&writer](std::span<const int> batch) { return writer.write(batch); };
}

// Writes items 1..n through a GroupCommit of `max_batch`: item 1 alone, then 2..n while the
// writer is inside item 1's batch; returns once the GroupCommit is destroyed.
void write_during_first(ScriptedWriter& writer, Answers& answers, size_t max_batch, int n) {
  writer.hold_ = true;
  GroupCommit<int, int> commit(through(writer), 1, max_batch, "items");
  commit.write(1, answer(answers, writer, 1));
  writer.entered_.get_future().wait();  // the writer is inside the first batch
  for (int i = 2; i <= n; ++i) commit.write(i, answer(answers, writer, i));
  writer.release_.set_value();
}

TEST(GroupCommit, OutcomesQueuedDuringAWriteGoInTheNextBatchesUpToTheMaximum) {
  ScriptedWriter writer;
  Answers answers(10);
  write_during_first(writer, answers, 4, 10);
  EXPECT_EQ(writer.batches(),
            (std::vector<std::vector<int>>{{1}, {2, 3, 4, 5}, {6, 7, 8, 9}, {10}}));
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(answers.results.at(i));
    EXPECT_EQ(*answers.results.at(i), i * 10);
  }
  EXPECT_FALSE(answers.ran_before_commit);
}

TEST(GroupCommit, AFailedBatchIsWrittenOneByOneSoOneBadItemFailsAlone) {
  ScriptedWriter writer;
  writer.refused_ = {3};
  Answers answers(5);
  write_during_first(writer, answers, 16, 5);
  EXPECT_EQ(writer.batches(),
            (std::vector<std::vector<int>>{{1}, {2, 3, 4, 5}, {2}, {3}, {4}, {5}}));
  for (int i : {1, 2, 4, 5}) EXPECT_TRUE(answers.results.at(i)) << i;
  ASSERT_FALSE(answers.results.at(3));
  EXPECT_EQ(answers.results.at(3).error().message, "item refused");
  EXPECT_FALSE(answers.ran_before_commit);
}

TEST(GroupCommit, TheDestructorWritesWhatIsQueued) {
  ScriptedWriter writer;
  Answers answers(3);
  write_during_first(writer, answers, 16, 3);  // destroyed with 2 and 3 maybe still queued
  EXPECT_TRUE(answers.done.try_wait());
  EXPECT_EQ(answers.results.size(), 3u);
  for (int i = 1; i <= 3; ++i) EXPECT_TRUE(writer.committed(i)) << i;
}

}  // namespace
}  // namespace rtjobs
