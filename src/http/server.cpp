#include "http/server.hpp"

#include <sys/resource.h>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "core/log.hpp"
#include "core/thread_name.hpp"
#include "http/errors.hpp"
#include "http/text.hpp"

namespace rtjobs::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

class Session;

// The io_context the calling thread runs, on an IO thread (defer_on_io_thread).
thread_local net::io_context* t_io_context = nullptr;

// What sessions share with the server: the io_contexts (kept alive by every session, so a
// Respond callback outliving the Server never touches a destroyed context), the handler, the
// options and the registry of open sessions used by stop().
//
// One io_context per IO thread, each run by its one thread: a connection lives on one context,
// so its handlers never run concurrently (no strand needed), and a request answered on its IO
// thread never wakes another thread.
struct Shared {
  std::vector<std::unique_ptr<net::io_context>> iocs;
  Handler handler;
  ServerOptions options;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;  // by mutex
  std::atomic<size_t> count{0};
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Shared> shared, tcp::socket socket)
      : shared_(std::move(shared)), stream_(std::move(socket)) {
    shared_->count.fetch_add(1);
    beast::error_code ec;
    // Each answer is one write; it must not wait for the ACK of the previous one (Nagle).
    stream_.socket().set_option(tcp::no_delay(true), ec);
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() { shared_->count.fetch_sub(1); }

  void start() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->sessions.insert(weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

  // From stop(): close now when idle, or after the current answer when busy.
  void shutdown() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->close_after_write_ = true;
      if (self->reading_ && !(self->parser_ && self->parser_->got_some())) self->close();
    });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    if (shared_->stopping.load()) close_after_write_ = true;
    if (close_after_write_ && buffer_.size() == 0) return finish();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_->options.header_limit));
    parser_->body_limit(shared_->options.body_limit);
    stream_.expires_after(shared_->options.idle_timeout);
    reading_ = true;
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    reading_ = false;
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof) {
      return finish();
    }
    if (ec) {
      Response r;
      if (ec == bhttp::error::body_limit) {
        r = error_response(413, "payload_too_large", "the request body exceeds 1 MiB");
      } else if (ec == bhttp::error::header_limit) {
        r = error_response(431, "headers_too_large", "the request headers are too large");
      } else if (auto name = header_with_control(std::string_view(
                     static_cast<const char*>(buffer_.data().data()), buffer_.size()))) {
        // Beast refuses a control character in a header value without saying which header.
        r = error_response(400, "invalid_argument",
                           "the header " + *name +
                               " must not contain control characters (U+0000 to U+001F, U+007F)",
                           *name);
      } else {
        r = error_response(400, "bad_request", "malformed HTTP request");
      }
      log::info("http request rejected",
                {{"status", r.status}, {"reason", ec.message()}, {"remote", remote_}});
      close_after_write_ = true;
      keep_alive_ = false;
      version_ = 11;
      return write(r);
    }
    auto& message = parser_->get();
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    Request req;
    req.method = message.method_string();
    req.target = message.target();
    req.path.reserve(req.target.size());
    req.remote = remote_;
    req.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
    for (const auto& f : message) {
      auto& [name, value] = req.headers.emplace_back(f.name_string(), f.value());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    req.body = std::move(message.body());
    if (!parse_target(req.target, req)) {
      return write(error_response(400, "bad_request", "malformed request target"));
    }
    // The handler answers through `respond`, from any thread; the write goes back to our
    // executor. Only the first answer to this request counts.
    uint64_t request_number = ++requests_;
    Respond respond = [self = shared_from_this(), request_number](Response r) {
      if (self->answered_.exchange(request_number) == request_number) return;
      net::dispatch(self->stream_.get_executor(), [self, r = std::move(r)] { self->write(r); });
    };
    stream_.expires_never();
    try {
      shared_->handler(std::move(req), respond);
    } catch (const std::exception& e) {
      log::error("http handler threw", {{"error", e.what()}});
      respond(error_response(500, "internal", "internal error"));
    }
  }

  void write(const Response& r) {
    if (shared_->stopping.load()) close_after_write_ = true;
    bool keep_alive = keep_alive_ && !close_after_write_;
    serialize(r, keep_alive, out_);
    stream_.expires_after(shared_->options.idle_timeout);
    net::async_write(stream_, net::buffer(out_),
                     [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                       if (ec || !keep_alive) return self->finish();
                       self->read();
                     });
  }

  // The response head and body into `out`, whose capacity is kept from one answer to the next
  // (Beast's message and serializer cost a dozen allocations per answer).
  void serialize(const Response& r, bool keep_alive, std::string& out) const {
    out.clear();
    out += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    append_number(out, r.status);
    out += ' ';
    out += bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    out += "\r\nServer: rtjobs\r\n";
    append_field(out, "Content-Type", r.content_type);
    for (const auto& [name, value] : r.headers) append_field(out, name, value);
    // As Beast's prepare_payload(): no length and no body for 1xx, 204 and 304.
    bool bodiless = (r.status >= 100 && r.status < 200) || r.status == 204 || r.status == 304;
    if (!bodiless) {
      out += "Content-Length: ";
      append_number(out, static_cast<int64_t>(r.body.size()));
      out += "\r\n";
    }
    if (version_ >= 11 && !keep_alive) out += "Connection: close\r\n";
    if (version_ < 11 && keep_alive) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (!bodiless) out += r.body;
  }

  static void append_number(std::string& out, int64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }

  // Header names and values come from the handlers, never from clients unchecked; a line break
  // would still split the response, so such a field is dropped.
  static void append_field(std::string& out, std::string_view name, std::string_view value) {
    if (name.empty() || name.find_first_of("\r\n: ") != std::string_view::npos ||
        value.find_first_of("\r\n") != std::string_view::npos) {
      return;
    }
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }

  void finish() {
    close();
    std::lock_guard lock(shared_->mutex);
    shared_->sessions.erase(weak_from_this());
  }

  std::shared_ptr<Shared> shared_;  // declared first: destroyed after the stream
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string remote_;
  std::string out_;                    // the answer being written; capacity kept
  uint64_t requests_ = 0;              // requests read on this connection
  std::atomic<uint64_t> answered_{0};  // the last request whose answer was taken
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool reading_ = false;
  bool close_after_write_ = false;
};

}  // namespace

struct Server::Impl {
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::unique_ptr<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  // Keep the IO threads running while a session waits for its handler and nothing else is
  // pending (during a graceful stop, once the listener and idle connections are closed).
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::string host;
  uint16_t port = 0;
  bool stopped = false;
  size_t next_ioc = 0;  // round robin of new connections over the IO threads

  // Accept errors (EMFILE when the open-file limit is reached, ENFILE, ENOBUFS) last as long as
  // their cause: retried at once, the accept loop would spin a core and log each failure (300,000
  // lines a second). The next accept waits, 10 ms doubling to 1 s while they persist, and the
  // failures are logged one line per kAcceptLogEvery with the count of those not logged. All of
  // it on the acceptor's thread (the first io_context), like the accept handlers.
  static constexpr std::chrono::milliseconds kFirstAcceptDelay{10};
  static constexpr std::chrono::milliseconds kMaxAcceptDelay{1000};
  static constexpr std::chrono::seconds kAcceptLogEvery{10};
  std::unique_ptr<net::steady_timer> accept_timer;  // on the first io_context
  std::chrono::milliseconds accept_delay{0};        // 0: the last accept succeeded
  uint64_t accept_failures = 0;                     // since the last "recovered" line
  uint64_t accept_unlogged = 0;                     // since the last "failed" line
  std::optional<std::chrono::steady_clock::time_point> accept_logged_at;
  std::optional<std::chrono::steady_clock::time_point> accept_recovery_logged_at;

  net::io_context& next_context() { return *shared->iocs[next_ioc++ % shared->iocs.size()]; }

  void accept() {
    acceptor->async_accept(next_context(), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (ec == net::error::connection_aborted) return accept();  // that client left: the next
      if (ec) return accept_failed(ec);
      accept_delay = std::chrono::milliseconds(0);
      if (accept_failures > 0) {
        // Also at most a line per kAcceptLogEvery: a server hovering at its limit succeeds and
        // fails in turn.
        auto now = std::chrono::steady_clock::now();
        if (!accept_recovery_logged_at || now - *accept_recovery_logged_at >= kAcceptLogEvery) {
          log::info("http accept recovered", {{"failures", accept_failures}});
          accept_recovery_logged_at = now;
          accept_failures = 0;
        }
      }
      std::make_shared<Session>(shared, std::move(socket))->start();
      accept_waiting();
      accept();
    });
  }

  void accept_failed(const beast::error_code& ec) {
    accept_delay =
        accept_delay.count() == 0 ? kFirstAcceptDelay : std::min(accept_delay * 2, kMaxAcceptDelay);
    ++accept_failures;
    ++accept_unlogged;
    auto now = std::chrono::steady_clock::now();
    if (!accept_logged_at || now - *accept_logged_at >= kAcceptLogEvery) {
      log::warn("http accept failed", {{"error", ec.message()},
                                       {"failures", accept_unlogged},
                                       {"retry_in_ms", accept_delay.count()}});
      accept_logged_at = now;
      accept_unlogged = 0;
    }
    accept_timer->expires_after(accept_delay);
    accept_timer->async_wait([this](beast::error_code wait_ec) {
      if (wait_ec || !acceptor->is_open()) return;
      accept();
    });
  }

  // Takes the connections already waiting in the listen queue (the acceptor is non-blocking):
  // one accept per turn of a busy IO thread would leave a burst of new clients waiting seconds.
  void accept_waiting() {
    for (int i = 0; i < 1024; ++i) {
      tcp::socket socket(next_context());
      beast::error_code ec;
      acceptor->accept(socket, ec);
      if (ec) return;  // would_block: the queue is empty
      std::make_shared<Session>(shared, std::move(socket))->start();
    }
  }
};

void defer_on_io_thread(std::function<void()> f) {
  if (t_io_context == nullptr) return f();
  // Like a handler, deferred work must not take its IO thread down with an exception.
  net::post(*t_io_context, [f = std::move(f)] {
    try {
      f();
    } catch (const std::exception& e) {
      log::error("deferred http work threw", {{"error", e.what()}});
    }
  });
}

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  auto& s = *impl_->shared;
  s.options = std::move(options);
  s.handler = std::move(handler);
  for (int i = 0; i < std::max(1, s.options.io_threads); ++i) {
    s.iocs.push_back(std::make_unique<net::io_context>(1));
  }
}

Server::~Server() { stop(std::chrono::milliseconds(1000)); }

namespace {

// Each connection holds a file: the soft open-file limit (often 1,024) would stop the accepts of a
// server holding a couple of thousand idle keep-alive connections long before anything else
// does. It is raised to the hard limit, as far as kMaxOpenFiles, once per process.
void raise_open_file_limit() {
  static std::once_flag once;
  std::call_once(once, [] {
    constexpr rlim_t kMaxOpenFiles = 1 << 20;
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    rlim_t want =
        limit.rlim_max == RLIM_INFINITY ? kMaxOpenFiles : std::min(limit.rlim_max, kMaxOpenFiles);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < want) {
      rlim_t before = limit.rlim_cur;
      limit.rlim_cur = want;
      if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
        log::info("open-file limit raised",
                  {{"from", static_cast<int64_t>(before)}, {"to", static_cast<int64_t>(want)}});
      }
    }
  });
}

}  // namespace

Result<void> Server::start() {
  raise_open_file_limit();
  auto& s = *impl_->shared;
  std::string host = s.options.host == "localhost" ? "127.0.0.1" : s.options.host;
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "invalid listen address " + host, "RT_LISTEN");
  tcp::endpoint endpoint(address, s.options.port);
  auto acceptor = std::make_unique<tcp::acceptor>(*s.iocs.front());
  std::string where = host + ":" + std::to_string(s.options.port);
  if (acceptor->open(endpoint.protocol(), ec); ec) {
    return fail(ErrorCode::kUnavailable, "cannot open socket for " + where + ": " + ec.message());
  }
  acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor->bind(endpoint, ec); ec) {
    return fail(ErrorCode::kUnavailable, "cannot bind " + where + ": " + ec.message(), "RT_LISTEN");
  }
  if (acceptor->listen(s.options.backlog, ec); ec) {
    return fail(ErrorCode::kUnavailable, "cannot listen on " + where + ": " + ec.message());
  }
  auto local = acceptor->local_endpoint();
  impl_->host = local.address().to_string();
  impl_->port = local.port();
  acceptor->non_blocking(true, ec);
  impl_->acceptor = std::move(acceptor);
  impl_->accept_timer = std::make_unique<net::steady_timer>(*s.iocs.front());
  for (auto& ioc : s.iocs) impl_->work.push_back(net::make_work_guard(*ioc));
  impl_->accept();
  for (auto& ioc : s.iocs) {
    impl_->threads.emplace_back([shared = impl_->shared, ioc = ioc.get()] {
      name_this_thread("rt-http");
      t_io_context = ioc;
      ioc->run();
    });
  }
  return {};
}

std::string Server::host() const { return impl_->host; }
uint16_t Server::port() const { return impl_->port; }
size_t Server::connections() const { return impl_->shared->count.load(); }

void Server::stop(std::chrono::milliseconds deadline) {
  if (impl_->stopped) return;
  impl_->stopped = true;
  auto shared = impl_->shared;
  if (impl_->acceptor) {
    shared->stopping.store(true);
    std::promise<void> closed;
    net::post(*shared->iocs.front(), [this, &closed] {
      beast::error_code ec;
      impl_->acceptor->close(ec);
      impl_->accept_timer->cancel();
      closed.set_value();
    });
    if (!impl_->threads.empty()) closed.get_future().wait();
    std::vector<std::shared_ptr<Session>> open;
    {
      std::lock_guard lock(shared->mutex);
      for (const auto& w : shared->sessions) {
        if (auto s = w.lock()) open.push_back(std::move(s));
      }
    }
    for (auto& s : open) s->shutdown();
    open.clear();
    auto until = std::chrono::steady_clock::now() + deadline;
    while (shared->count.load() > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (shared->count.load() > 0) {
      log::warn("http shutdown deadline reached", {{"connections", shared->count.load()}});
    }
  }
  impl_->work.clear();
  for (auto& ioc : shared->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->accept_timer.reset();
  impl_->acceptor.reset();
}

}  // namespace rtjobs::http
