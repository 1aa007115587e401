// CutProxy: a TCP proxy in front of PostgreSQL that cuts one connection at a chosen point of the
// protocol, as a network fault or a crashed client host does. It reads the server's messages
// (type byte, 32-bit length, payload) to find the point; everything else passes through as is.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rtjobs::store_conformance {

class CutProxy {
 public:
  enum class Cut {
    kNone,
    // The server answered a COMMIT: the transaction is committed, the client never reads so.
    kAfterCommit,
    // The server is ready for the next statement inside a transaction: the client's next round
    // trip never reaches it, and the server rolls the transaction back when the connection ends.
    kBeforeNextRoundTrip,
  };

  // Proxies to the server of the libpq URL `server_url` (postgresql://[user@]host:port/db).
  explicit CutProxy(const std::string& server_url);
  ~CutProxy();
  CutProxy(const CutProxy&) = delete;
  CutProxy& operator=(const CutProxy&) = delete;

  // `server_url` with the proxy in its place, and SSL/GSS off (their negotiation bytes are not
  // protocol messages).
  const std::string& url() const { return url_; }
  // The next connection to reach `cut` is cut there (one connection, once).
  void arm(Cut cut) { armed_ = cut; }
  int cuts() const { return cuts_; }

 private:
  void accept_loop();
  void pump(int client);

  std::string host_;
  int port_ = 0;
  std::string url_;
  int listener_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<Cut> armed_{Cut::kNone};
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> connections_;  // guarded by mutex_
};

}  // namespace rtjobs::store_conformance
