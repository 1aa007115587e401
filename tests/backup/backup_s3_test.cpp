// The backup against a real S3 protocol server: @20minutes/s3rver on loopback, started and
// stopped through scripts/s3rver.sh. Objects are read back with the AWS CLI and compared byte
// for byte; multipart uploads are forced with a small part size; wrong credentials and a server
// killed in the middle of a multipart upload fail the run with a clear error and delete nothing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "backup/backup_runner.hpp"
#include "backup/restore.hpp"
#include "backup/s3_object_store.hpp"
#include "backup_test_db.hpp"
#include "core/time_format.hpp"

namespace rtjobs::backup_test {
namespace {

namespace fs = std::filesystem;
using backup::BackupOutcome;

const std::string kBucket = "rtjobs-backups";

std::string script() {
  const char* s = std::getenv("RT_S3RVER_SCRIPT");
  return s ? s : "scripts/s3rver.sh";
}

// Runs a shell command; returns its stdout (binary-safe) and sets `status`.
std::string run_command(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (status) *status = rc;
  return out;
}

class S3Server {
 public:
  static std::string env() {
    static const std::string dir =
        (fs::temp_directory_path() / ("rtjobs-s3rver-" + std::to_string(::getpid()))).string();
    return "RT_S3RVER_DIR=" + dir + " RT_S3RVER_PORT=" + std::to_string(port()) +
           " RT_S3RVER_BUCKETS=" + kBucket + " ";
  }
  // A free port below the kernel's ephemeral range (32768 and up), so no outgoing connection of
  // this or another test can hold it; chosen once, checked by binding it.
  static int port() {
    static const int chosen = [] {
      for (int i = 0; i < 200; ++i) {
        int candidate = 20000 + (::getpid() + i * 37) % 10000;
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(candidate));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        if (free) return candidate;
      }
      return 20000 + ::getpid() % 10000;
    }();
    return chosen;
  }
  static std::string start() {
    int status = 0;
    std::string out = run_command(env() + "bash " + script() + " start", &status);
    while (!out.empty() && (out.back() == '\n')) out.pop_back();
    EXPECT_EQ(status, 0) << out;
    return out;
  }
  static void stop() { run_command(env() + "bash " + script() + " stop"); }
};

// Hands out writers that feed their object in 4 KiB slices and stop the S3 server before slice
// number `writes` of the provider-status object: a server dying in the middle of a multipart
// upload.
class KillingStore final : public backup::ObjectStore {
 public:
  KillingStore(backup::ObjectStore& inner, int writes) : inner_(inner), writes_(writes) {}
  std::string url(std::string_view k) const override { return inner_.url(k); }
  Result<std::unique_ptr<backup::ObjectWriter>> create(std::string_view key) override {
    auto w = inner_.create(key);
    if (!w) return w;
    int& left = key.find("provider_status") != std::string_view::npos ? writes_ : never_;
    return std::unique_ptr<backup::ObjectWriter>(new Writer(std::move(*w), left));
  }
  Result<std::optional<backup::ObjectInfo>> head(std::string_view k) override {
    return inner_.head(k);
  }
  Result<void> verify(const backup::ObjectInfo& i) override { return inner_.verify(i); }
  Result<void> get(std::string_view k, const backup::ChunkSink& s) override {
    return inner_.get(k, s);
  }
  Result<std::vector<backup::ObjectInfo>> list(std::string_view p) override {
    return inner_.list(p);
  }

 private:
  struct Writer final : backup::ObjectWriter {
    Writer(std::unique_ptr<backup::ObjectWriter> inner, int& left)
        : inner(std::move(inner)), left(left) {}
    Result<void> write(std::string_view bytes) override {
      while (!bytes.empty()) {
        if (--left == 0) S3Server::stop();
        size_t n = std::min<size_t>(bytes.size(), 4096);
        if (auto r = inner->write(bytes.substr(0, n)); !r) return r;
        bytes.remove_prefix(n);
      }
      return {};
    }
    Result<backup::ObjectInfo> finish() override { return inner->finish(); }
    std::unique_ptr<backup::ObjectWriter> inner;
    int& left;
  };
  backup::ObjectStore& inner_;
  int writes_;
  int never_ = -1;
};

class BackupS3Test : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() { endpoint_ = S3Server::start(); }
  static void TearDownTestSuite() { S3Server::stop(); }

  void SetUp() override {
    ASSERT_FALSE(endpoint_.empty()) << "s3rver did not start (npm ci in tools/s3rver?)";
    db_ = TestDb::create(GetParam(), "test");
    ASSERT_TRUE(db_);
    transfer_ = db_->add_transfer();
    // Enough rows for several 8 KiB parts per object.
    for (int seq = 1; seq <= 60; ++seq) {
      auto job = db_->add_job(transfer_, seq, seq % 3 ? JobStatus::kFinished : JobStatus::kFailed,
                              "2026-03-01");
      for (int attempt = 1; attempt <= 3; ++attempt) {
        db_->add_status(job, attempt,
                        "{\"error\":{\"code\":\"x\",\"message\":\"a, \\\"quoted\\\"\r\nü\"}}");
      }
    }
    db_->add_job(transfer_, 61, JobStatus::kRetry, "2026-03-01");
    jobs_before_ = db_->dump(BackupTable::kJobs);
    statuses_before_ = db_->dump(BackupTable::kProviderStatuses);
  }

  backup::S3Settings settings(std::string secret = "S3RVER") {
    return {.endpoint = endpoint_,
            .region = "us-east-1",
            .access_key_id = "S3RVER",
            .secret_access_key = std::move(secret),
            .part_size = 8 * 1024};
  }
  std::string prefix() {
    return std::string("run-") + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  std::string prefix_safe() {
    std::string p = prefix();
    for (char& c : p) {
      if (c == '/') c = '-';
    }
    return "tests/" + p;
  }
  std::string aws_cat(const std::string& url) {
    return run_command(
        "AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER "
        "AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url " +
        endpoint_ + " s3 cp " + url + " - 2>/dev/null");
  }

  static inline std::string endpoint_;
  std::unique_ptr<TestDb> db_;
  RecurringTransfer transfer_;
  std::string jobs_before_, statuses_before_;
  ManualClock clock_{*parse_timestamp("2026-11-28T00:00:00.000Z")};
};

TEST_P(BackupS3Test, MultipartBackupIsReadBackByTheAwsCliByteForByteAndRestores) {
  backup::S3ObjectStore objects(kBucket, prefix_safe(), settings());
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {});
  auto r = runner.run(false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_EQ(r->job_rows, 60);
  EXPECT_EQ(r->provider_status_rows, 180);
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].url, "s3://" + kBucket + "/" + prefix_safe() +
                                   "/recurring_transfer_job/2026/11/"
                                   "recurring_transfer_job-20261128T000000.000Z.csv");
  EXPECT_NE(r->objects[1].etag.find('-'), std::string::npos) << "expected a multipart upload";
  EXPECT_GT(r->objects[1].bytes, 3 * 8 * 1024);
  // The job object holds every job but the live one, as it was.
  std::string jobs_object = aws_cat(r->objects[0].url);
  EXPECT_EQ(jobs_object.size(), static_cast<size_t>(r->objects[0].bytes));
  EXPECT_EQ(jobs_object + db_->dump(BackupTable::kJobs).substr(jobs_object.find("\r\n") + 2),
            jobs_before_);
  // Live job stays; the rest went.
  EXPECT_EQ(db_->count("recurring_transfer_job"), 1);
  EXPECT_EQ(db_->count("recurring_transfer_provider_status"), 0);

  auto empty = TestDb::create(GetParam(), "restore");
  ASSERT_TRUE(empty);
  empty->add_transfer(transfer_);
  backup::Restorer restorer(empty->backup_store(), settings());
  for (const auto& o : r->objects) {
    auto restored = restorer.restore(o.url, {});
    ASSERT_TRUE(restored) << restored.error().message;
  }
  EXPECT_EQ(aws_cat(r->objects[1].url), statuses_before_);
  EXPECT_EQ(empty->dump(BackupTable::kProviderStatuses), statuses_before_);
  EXPECT_EQ(empty->count("recurring_transfer_job"), 60);
}

TEST_P(BackupS3Test, WrongCredentialsFailClearlyAndDeleteNothing) {
  backup::S3ObjectStore objects(kBucket, prefix_safe(), settings("not-the-secret"));
  backup::BackupRunner runner(db_->backup_store(), objects, clock_, {});
  auto r = runner.run(false);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("HTTP 403"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_EQ(r.error().message.find("not-the-secret"), std::string::npos);
  EXPECT_EQ(db_->dump(BackupTable::kJobs), jobs_before_);
  EXPECT_EQ(db_->dump(BackupTable::kProviderStatuses), statuses_before_);
  EXPECT_FALSE(db_->backup_store().last_backup_at()->has_value());
}

TEST_P(BackupS3Test, ServerStoppedMidMultipartFailsDeletesNothingAndAReRunConverges) {
  backup::S3ObjectStore s3(kBucket, prefix_safe(), settings());
  {
    // The provider-status object's fifth 4 KiB slice: two 8 KiB parts of it are up by then.
    KillingStore killing(s3, 5);
    backup::BackupRunner runner(db_->backup_store(), killing, clock_, {});
    auto r = runner.run(false);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("s3://" + kBucket), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("uploading part 3"), std::string::npos) << r.error().message;
    EXPECT_EQ(db_->dump(BackupTable::kJobs), jobs_before_);
    EXPECT_EQ(db_->dump(BackupTable::kProviderStatuses), statuses_before_);
  }
  ASSERT_FALSE(S3Server::start().empty());
  clock_.advance(std::chrono::seconds(5));
  backup::BackupRunner runner(db_->backup_store(), s3, clock_, {});
  auto r = runner.run(false);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->outcome, BackupOutcome::kBackedUp);
  EXPECT_EQ(r->job_rows, 60);
  EXPECT_EQ(aws_cat(r->objects[1].url), statuses_before_);
  EXPECT_EQ(db_->count("recurring_transfer_job"), 1);
}

INSTANTIATE_TEST_SUITE_P(Databases, BackupS3Test,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace rtjobs::backup_test
