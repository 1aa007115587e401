#include "store/postgres/pg_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "core/log.hpp"

namespace rtjobs::store_detail {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kConnectTimeout = 10s;
constexpr auto kFirstBackoff = 100ms;
constexpr auto kMaxBackoff = 5s;

std::string connection_error(PGconn* conn) {
  std::string out = conn ? PQerrorMessage(conn) : "out of memory";
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

bool any_due(const std::vector<Job>& jobs, Timestamp now) {
  return std::any_of(jobs.begin(), jobs.end(), [&](const Job& j) { return j.due_at <= now; });
}

PgJobsDueListener::PgJobsDueListener(std::string url, std::function<void()> on_jobs_due)
    : url_(std::move(url)), on_jobs_due_(std::move(on_jobs_due)) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  thread_ = std::thread([this] { run(); });
}

PgJobsDueListener::~PgJobsDueListener() {
  stopping_.store(true);
  uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
}

void PgJobsDueListener::run() {
  auto backoff = std::chrono::milliseconds(kFirstBackoff);
  bool missed = false;  // notifications may have been sent while we were not listening
  while (!stopping_.load()) {
    PGconn* conn = connect_and_listen();
    if (conn) {
      backoff = kFirstBackoff;
      if (missed) on_jobs_due_();
      receive(conn);
      if (!stopping_.load()) {
        log::warn("PostgreSQL jobs-due listener disconnected; reconnecting",
                  {{"error", connection_error(conn)}});
      }
    }
    PQfinish(conn);
    if (stopping_.load()) break;
    missed = true;
    wait_for(-1, 0, SteadyClock::now() + backoff);
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
  }
}

PGconn* PgJobsDueListener::connect_and_listen() {
  // Keywords after the expanded URL would override it; these come first, as defaults.
  const char* keywords[] = {"application_name",
                            "keepalives",
                            "keepalives_idle",
                            "keepalives_interval",
                            "keepalives_count",
                            "dbname",
                            nullptr};
  const char* values[] = {"rtjobs-listener", "1", "30", "10", "3", url_.c_str(), nullptr};
  PGconn* conn = PQconnectStartParams(keywords, values, 1);
  auto deadline = SteadyClock::now() + kConnectTimeout;
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (conn && PQstatus(conn) != CONNECTION_BAD && state != PGRES_POLLING_OK &&
         state != PGRES_POLLING_FAILED) {
    short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (!wait_for(PQsocket(conn), events, deadline)) {
      if (!stopping_.load()) log::warn("PostgreSQL jobs-due listener: connection timed out");
      PQfinish(conn);
      return nullptr;
    }
    state = PQconnectPoll(conn);
  }
  if (!conn || state != PGRES_POLLING_OK) {
    log::warn("PostgreSQL jobs-due listener cannot connect", {{"error", connection_error(conn)}});
    PQfinish(conn);
    return nullptr;
  }
  // The server's notices (e.g. "terminating connection") would go to stderr; failures are
  // logged here instead.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(conn, "LISTEN rtjobs_jobs_due");
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  if (!ok) {
    log::warn("PostgreSQL jobs-due listener: LISTEN failed", {{"error", connection_error(conn)}});
    PQfinish(conn);
    return nullptr;
  }
  return conn;
}

void PgJobsDueListener::receive(PGconn* conn) {
  while (!stopping_.load()) {
    if (!wait_for(PQsocket(conn), POLLIN, SteadyClock::time_point::max())) return;
    if (PQconsumeInput(conn) != 1) return;  // the connection failed
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn)) {
      notified = true;
      PQfreemem(n);
    }
    if (notified) on_jobs_due_();  // one call for everything that arrived together
    if (PQstatus(conn) != CONNECTION_OK) return;
  }
}

bool PgJobsDueListener::wait_for(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    if (stopping_.load()) return false;
    int timeout = -1;
    if (deadline != SteadyClock::time_point::max()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return false;
      timeout = static_cast<int>(left.count());
    }
    pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {fd, events, 0}};
    int n = ::poll(fds, fd >= 0 ? 2 : 1, timeout);
    if (n < 0 && errno != EINTR) return false;
    if (fds[0].revents != 0) return false;
    if (fd >= 0 && fds[1].revents != 0) return true;  // ready, or an error libpq will report
  }
}

}  // namespace rtjobs::store_detail
