#include "store/sqlite/sqlite_checkpointer.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace rtjobs::store_detail {
namespace {

namespace fs = std::filesystem;

// A database file of the test's own, its WAL and the writer's connection, whose commits call the
// checkpointer as SqliteStore's do.
class CheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> n{0};
    dir_ = fs::temp_directory_path() /
           ("rtjobs-checkpointer-" + std::to_string(getpid()) + "-" + std::to_string(n++));
    fs::create_directories(dir_);
    path_ = (dir_ / "db.sqlite").string();
    auto opened = SqliteConnection::open(path_, false);
    ASSERT_TRUE(opened) << opened.error().message;
    writer_ = std::move(*opened);
    ASSERT_TRUE(writer_->exec("CREATE TABLE t (v BLOB NOT NULL)"));
  }
  void TearDown() override {
    writer_.reset();
    fs::remove_all(dir_);
  }

  // One transaction of `rows` rows of 3.5 kB each (a WAL page a row).
  void write(int rows) {
    ASSERT_TRUE(writer_->exec("BEGIN IMMEDIATE"));
    for (int i = 0; i < rows; ++i) {
      ASSERT_TRUE(writer_->run("INSERT INTO t (v) VALUES (zeroblob(3500))", {}));
    }
    ASSERT_TRUE(writer_->exec("COMMIT"));
  }
  uintmax_t wal_bytes() const { return fs::file_size(path_ + "-wal"); }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<SqliteConnection> writer_;
};

TEST(SqliteCheckpointerRule, WakesPastSqlitesThresholdAndHandsBackFarPastIt) {
  auto dir = fs::temp_directory_path() / ("rtjobs-checkpointer-rule-" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    SqliteCheckpointer checkpointer((dir / "db.sqlite").string());
    EXPECT_FALSE(checkpointer.on_commit(SqliteCheckpointer::kPages - 1));
    EXPECT_FALSE(checkpointer.on_commit(SqliteCheckpointer::kPages));
    EXPECT_FALSE(checkpointer.on_commit(SqliteCheckpointer::kWriterPages - 1));
    EXPECT_TRUE(checkpointer.on_commit(SqliteCheckpointer::kWriterPages));
    checkpointer.wait_idle();
  }
  fs::remove_all(dir);
}

// The thread's checkpoint copies the whole WAL back, so the writer's next transaction starts the
// WAL over from its beginning: the file does not grow. Without a checkpoint it grows.
TEST_F(CheckpointerTest, ThreadCheckpointsWhatTheWriterCommitted) {
  SqliteCheckpointer checkpointer(path_);
  writer_->set_wal_hook([&](int pages) { return checkpointer.on_commit(pages); });
  write(SqliteCheckpointer::kPages + 200);
  checkpointer.wait_idle();
  const uintmax_t after_checkpoint = wal_bytes();
  write(10);
  EXPECT_EQ(wal_bytes(), after_checkpoint);
}

TEST_F(CheckpointerTest, WithoutACheckpointTheWalGrows) {
  writer_->set_wal_hook([](int) { return false; });
  write(SqliteCheckpointer::kPages + 200);
  const uintmax_t before = wal_bytes();
  write(10);
  EXPECT_GT(wal_bytes(), before);
}

// The writer's own checkpoint, which bounds the WAL should the thread fall behind: a hook that
// answers true past kWriterPages (on_commit's rule, without a thread) keeps the WAL near it.
TEST_F(CheckpointerTest, HookAnsweringTrueCheckpointsOnTheWriter) {
  writer_->set_wal_hook([](int pages) { return pages >= SqliteCheckpointer::kWriterPages; });
  for (int i = 0; i < 40; ++i) write(SqliteCheckpointer::kWriterPages / 20);
  const uintmax_t page = 4096 + 24;  // a WAL frame
  EXPECT_LE(wal_bytes(),
            32 + (SqliteCheckpointer::kWriterPages + SqliteCheckpointer::kPages) * page);
}

}  // namespace
}  // namespace rtjobs::store_detail
