// The server against real sockets on an ephemeral port: keep-alive, limits, async responders,
// graceful shutdown.
#include "http/server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <thread>

namespace rtjobs::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  bhttp::response<bhttp::string_body> send(bhttp::verb verb, const std::string& target,
                                           std::string body = {}, bool keep_alive = true) {
    bhttp::request<bhttp::string_body> req(verb, target, 11);
    req.set(bhttp::field::host, "localhost");
    req.body() = std::move(body);
    req.keep_alive(keep_alive);
    req.prepare_payload();
    bhttp::write(socket_, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket_, buffer_, res);
    return res;
  }
  // True when the server closed the connection.
  bool closed() {
    char c;
    beast::error_code ec;
    socket_.read_some(net::buffer(&c, 1), ec);
    return ec == net::error::eof || ec == net::error::connection_reset;
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

Handler echo_handler() {
  return [](Request req, const Respond& respond) {
    if (req.path == "/slow") {
      std::thread([respond] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        respond(Response{200, "application/json", "{\"slow\":true}", {}});
      }).detach();
      return;
    }
    if (req.path == "/twice") {  // only the first answer counts
      respond(Response{200, "text/plain", "first", {}});
      respond(Response{500, "text/plain", "second", {}});
      return;
    }
    if (req.path == "/no-content") return respond(Response{204, "text/plain", {}, {}});
    if (req.path == "/bad-header") {
      return respond(Response{200, "text/plain", "ok", {{"X-Bad", "a\r\nX-Injected: 1"}}});
    }
    Response r;
    r.body = req.method + " " + req.path + " " + std::to_string(req.body.size());
    r.headers.emplace_back("X-Query", req.query.count("a") ? req.query.at("a") : "");
    respond(std::move(r));
  };
}

TEST(Server, ServesKeepAliveRequests) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  ASSERT_NE(server.port(), 0);
  Client c(server.port());
  for (int i = 0; i < 3; ++i) {
    auto res = c.send(bhttp::verb::post, "/x?a=b%20c", "hello");
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_EQ(res.body(), "POST /x 5");
    EXPECT_EQ(res[std::string_view("X-Query")], "b c");
    EXPECT_TRUE(res.keep_alive());
  }
  server.stop(std::chrono::seconds(1));
}

TEST(Server, AnswersFromAnotherThread) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  Client c(server.port());
  auto res = c.send(bhttp::verb::get, "/slow");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "{\"slow\":true}");
  server.stop(std::chrono::seconds(1));
}

TEST(Server, RejectsLargeBodiesWith413) {
  ServerOptions options{.port = 0};
  options.body_limit = 1024;
  Server server(options, echo_handler());
  ASSERT_TRUE(server.start());
  Client c(server.port());
  auto res = c.send(bhttp::verb::post, "/x", std::string(2048, 'a'));
  EXPECT_EQ(res.result_int(), 413);
  EXPECT_NE(res.body().find("payload_too_large"), std::string::npos);
  server.stop(std::chrono::seconds(1));
}

// Beast refuses a control character in a header value; the answer names the header.
TEST(Server, NamesTheHeaderWithAControlCharacter) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  for (char c : {'\0', '\x01', '\x1F', '\x7F'}) {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    std::string request = "POST /x HTTP/1.1\r\nHost: a\r\nIdempotency-Key: k";
    request += c;
    request += "x\r\nContent-Length: 0\r\n\r\n";
    net::write(socket, net::buffer(request));
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    EXPECT_EQ(res.result_int(), 400) << static_cast<int>(c);
    EXPECT_NE(res.body().find("\"field\":\"Idempotency-Key\""), std::string::npos) << res.body();
  }
  server.stop(std::chrono::seconds(1));
}

TEST(Server, ClosesIdleConnections) {
  ServerOptions options{.port = 0};
  options.idle_timeout = std::chrono::milliseconds(200);
  Server server(options, echo_handler());
  ASSERT_TRUE(server.start());
  Client c(server.port());
  EXPECT_EQ(c.send(bhttp::verb::get, "/x").result_int(), 200);
  EXPECT_TRUE(c.closed());
  server.stop(std::chrono::seconds(1));
}

TEST(Server, GracefulStopFinishesInFlightAndClosesIdle) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  Client idle(server.port());
  EXPECT_EQ(idle.send(bhttp::verb::get, "/x").result_int(), 200);
  Client busy(server.port());
  bhttp::response<bhttp::string_body> slow;
  std::thread t([&] { slow = busy.send(bhttp::verb::get, "/slow"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.stop(std::chrono::seconds(2));
  t.join();
  EXPECT_EQ(slow.result_int(), 200);
  EXPECT_FALSE(slow.keep_alive());
  EXPECT_TRUE(idle.closed());
  EXPECT_EQ(server.connections(), 0u);
}

TEST(Server, WritesWellFormedAnswers) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  Client c(server.port());
  auto res = c.send(bhttp::verb::get, "/twice");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.body(), "first");
  EXPECT_EQ(res[bhttp::field::server], "rtjobs");
  EXPECT_EQ(res[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(res[bhttp::field::content_length], "5");
  res = c.send(bhttp::verb::get, "/no-content");
  EXPECT_EQ(res.result_int(), 204);
  EXPECT_EQ(res.count(bhttp::field::content_length), 0u);
  res = c.send(bhttp::verb::get, "/bad-header");  // a field with a line break is dropped
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res.count("X-Bad"), 0u);
  EXPECT_EQ(res.count("X-Injected"), 0u);
  res = c.send(bhttp::verb::get, "/x", {}, /*keep_alive=*/false);
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c.closed());
  server.stop(std::chrono::seconds(1));
}

TEST(Server, Http10KeepsAliveOnlyWhenAsked) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  for (bool keep_alive : {true, false}) {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), server.port()));
    bhttp::request<bhttp::string_body> req(bhttp::verb::get, "/x", 10);
    req.keep_alive(keep_alive);
    bhttp::write(socket, req);
    beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(socket, buffer, res);
    EXPECT_EQ(res.version(), 10);
    EXPECT_EQ(res.keep_alive(), keep_alive);
    EXPECT_EQ(res.body(), "GET /x 0");
  }
  server.stop(std::chrono::seconds(1));
}

TEST(Server, HoldsManyConnections) {
  Server server(ServerOptions{.port = 0}, echo_handler());
  ASSERT_TRUE(server.start());
  std::vector<std::unique_ptr<Client>> clients;
  clients.reserve(200);
  for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<Client>(server.port()));
  for (auto& c : clients) EXPECT_EQ(c->send(bhttp::verb::get, "/x").result_int(), 200);
  EXPECT_EQ(server.connections(), 200u);
  server.stop(std::chrono::seconds(1));
}

// defer_on_io_thread runs its work on the handler's own IO thread, once the handler has returned;
// off an IO thread it runs at once.
TEST(Server, DeferredWorkRunsOnTheIoThreadAfterTheHandler) {
  Server server(ServerOptions{.port = 0}, [](const Request&, const Respond& respond) {
    auto handler_thread = std::this_thread::get_id();
    auto returned = std::make_shared<bool>(false);
    defer_on_io_thread([respond, handler_thread, returned] {
      bool same = std::this_thread::get_id() == handler_thread;
      respond(Response{200, "text/plain", same && *returned ? "after, same thread" : "wrong", {}});
    });
    *returned = true;
  });
  ASSERT_TRUE(server.start());
  Client client(server.port());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(client.send(bhttp::verb::get, "/").body(), "after, same thread");
  }
  server.stop(std::chrono::seconds(1));

  bool ran = false;
  defer_on_io_thread([&ran] { ran = true; });
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace rtjobs::http
