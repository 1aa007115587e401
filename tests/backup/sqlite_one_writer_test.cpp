// One SQLite writer per process (issue 17): inside `rtjobs serve` the backup writes through the
// main store's write connection (BackupService::open with the server's Store, as application.cpp
// opens it), so a backup's deletions and the server's own writes queue in the process instead
// of meeting in SQLite's busy timeout.
//
// Measured with a VFS shim registered as SQLite's default for the test: it records every
// connection (its main database file) that takes the WAL write lock (shm lock 0, exclusive) and
// every sleep of a busy handler. A backup run with the server writing all along must show one
// writing connection and no busy wait. With its own write connection (before the change) the
// backup showed two writers and busy-timeout sleeps.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "backup/backup_service.hpp"
#include "backup_test_db.hpp"
#include "core/time_format.hpp"

namespace rtjobs::backup_test {
namespace {

namespace fs = std::filesystem;

// --- The counting VFS: the default VFS ("unix") with every file wrapped. ---

struct ShimFile {
  sqlite3_file base;
  sqlite3_file* real;  // the default VFS's file, right after this struct
};

sqlite3_vfs* g_real = nullptr;
sqlite3_vfs g_shim{};
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_sleeps{0};
std::mutex g_mutex;
std::set<const sqlite3_file*> g_writers;  // guarded by g_mutex

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f)->real; }
const sqlite3_io_methods& m(sqlite3_file* f) { return *real(f)->pMethods; }

int x_close(sqlite3_file* f) { return m(f).xClose(real(f)); }
int x_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) {
  return m(f).xRead(real(f), b, n, o);
}
int x_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return m(f).xWrite(real(f), b, n, o);
}
int x_truncate(sqlite3_file* f, sqlite3_int64 n) { return m(f).xTruncate(real(f), n); }
int x_sync(sqlite3_file* f, int flags) { return m(f).xSync(real(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* n) { return m(f).xFileSize(real(f), n); }
int x_lock(sqlite3_file* f, int l) { return m(f).xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return m(f).xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return m(f).xCheckReservedLock(real(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return m(f).xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return m(f).xSectorSize(real(f)); }
int x_device(sqlite3_file* f) { return m(f).xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** p) {
  return m(f).xShmMap(real(f), page, size, extend, p);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  int rc = m(f).xShmLock(real(f), offset, n, flags);
  // WAL_WRITE_LOCK is shm lock 0: taken exclusive by the connection that writes.
  if (rc == SQLITE_OK && g_counting && offset == 0 && (flags & SQLITE_SHM_LOCK) &&
      (flags & SQLITE_SHM_EXCLUSIVE)) {
    std::lock_guard lock(g_mutex);
    g_writers.insert(f);
  }
  return rc;
}
void x_shm_barrier(sqlite3_file* f) { m(f).xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return m(f).xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) {
  return m(f).xFetch(real(f), o, n, p);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return m(f).xUnfetch(real(f), o, p); }

const sqlite3_io_methods kMethods = {3,           x_close,          x_read,         x_write,
                                     x_truncate,  x_sync,           x_file_size,    x_lock,
                                     x_unlock,    x_check_reserved, x_file_control, x_sector_size,
                                     x_device,    x_shm_map,        x_shm_lock,     x_shm_barrier,
                                     x_shm_unmap, x_fetch,          x_unfetch};

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
  auto* shim = reinterpret_cast<ShimFile*>(f);
  shim->real = reinterpret_cast<sqlite3_file*>(shim + 1);
  int rc = g_real->xOpen(g_real, name, shim->real, flags, out);
  // SQLite calls xClose when pMethods is set, whatever xOpen answered.
  shim->base.pMethods = shim->real->pMethods ? &kMethods : nullptr;
  return rc;
}

int x_sleep(sqlite3_vfs*, int microseconds) {
  if (g_counting) ++g_sleeps;
  return g_real->xSleep(g_real, microseconds);
}

// Registers the shim as the default VFS for its lifetime (every connection opened meanwhile
// must be closed before it ends).
class CountingVfs {
 public:
  CountingVfs() {
    g_real = sqlite3_vfs_find(nullptr);
    g_shim = *g_real;
    g_shim.zName = "rtjobs-counting";
    g_shim.pNext = nullptr;
    g_shim.szOsFile = static_cast<int>(sizeof(ShimFile)) + g_real->szOsFile;
    g_shim.xOpen = x_open;
    g_shim.xSleep = x_sleep;
    EXPECT_EQ(sqlite3_vfs_register(&g_shim, 1), SQLITE_OK);
  }
  ~CountingVfs() {
    g_counting = false;
    sqlite3_vfs_unregister(&g_shim);
  }
  void start() {
    std::lock_guard lock(g_mutex);
    g_writers.clear();
    g_sleeps = 0;
    g_counting = true;
  }
  void stop() { g_counting = false; }
  size_t writers() {
    std::lock_guard lock(g_mutex);
    return g_writers.size();
  }
  int64_t sleeps() const { return g_sleeps; }
};

TEST(SqliteOneWriter, TheBackupInsideServeWritesThroughTheServersWriter) {
  CountingVfs vfs;  // first: every connection below is wrapped, and closed before it goes
  const fs::path dir =
      fs::temp_directory_path() / ("rtjobs-one-writer-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    auto db = TestDb::create(Backend::kSqlite, "one-writer");
    ASSERT_TRUE(db);
    auto transfer = db->add_transfer();
    // 3,000 eligible jobs with a status row each: several deletion batches.
    db->exec("BEGIN");
    for (int seq = 1; seq <= 3000; ++seq) {
      auto job = db->add_job(transfer, seq, JobStatus::kFinished, "2026-01-10");
      db->add_status(job, 1, "body");
    }
    db->exec("COMMIT");

    // As `rtjobs serve` opens it: over the server's Store.
    Config config;
    config.database_url = db->url();
    config.backup_url = "file://" + (dir / "objects").string();
    ManualClock clock(*parse_timestamp("2026-11-28T00:00:00.250Z"));
    auto service = backup::BackupService::open(config, clock, {}, &db->store());
    ASSERT_TRUE(service) << service.error().message;

    vfs.start();
    // The server writes all along (heartbeats: one short write transaction each).
    std::atomic<bool> done{false};
    std::atomic<int64_t> server_writes{0};
    std::vector<std::thread> server;
    server.reserve(2);
    for (int i = 0; i < 2; ++i) {
      server.emplace_back([&, i] {
        while (!done) {
          auto r = db->store().heartbeat_instance("instance-" + std::to_string(i), clock.now(),
                                                  std::chrono::seconds(3));
          EXPECT_TRUE(r) << r.error().message;
          ++server_writes;
        }
      });
    }
    auto result = (*service)->run(true);
    done = true;
    for (auto& t : server) t.join();
    vfs.stop();

    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->job_rows, 3000);
    EXPECT_EQ(db->count("recurring_transfer_job"), 0);
    EXPECT_GT(server_writes, 0);
    EXPECT_EQ(vfs.writers(), 1u) << "connections that took the database's write lock";
    EXPECT_EQ(vfs.sleeps(), 0) << "busy-handler sleeps (a writer waiting for another)";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace rtjobs::backup_test
