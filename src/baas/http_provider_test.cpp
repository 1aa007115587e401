// HttpProvider against the real fake BaaS (tools/fake_baas/server.js) run as a separate node
// process on a free loopback port. Needs `node` on PATH: without it these tests fail.
#include "baas/http_provider.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

extern char** environ;

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kToken = "test-token-123";

// The fake BaaS child process: started with --port 0, reads {"listening": PORT} from its stdout.
class FakeBaas {
 public:
  void start() {
    const auto script =
        std::filesystem::path(__FILE__).parent_path() / "../../tools/fake_baas/server.js";
    ASSERT_TRUE(std::filesystem::exists(script)) << script;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    const std::string script_path = script.lexically_normal().string();
    std::vector<std::string> args = {"node",   script_path, "--port",  "0",
                                     "--host", "127.0.0.1", "--token", kToken};
    std::vector<char*> argv;
    argv.reserve(args.size());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawnp(&pid_, "node", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    ASSERT_EQ(rc, 0) << "cannot start node (is it on PATH?): " << std::strerror(rc);
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      const ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    close(fds[0]);
    const json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("listening")) << "fake BaaS said: " << line;
    port_ = j["listening"].get<int>();
  }

  ~FakeBaas() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }

  bool running() const { return port_ != 0; }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // A blocking control-API call; returns the parsed body.
  json control(const std::string& method, const std::string& path, const std::string& body = "") {
    CURL* easy = curl_easy_init();
    std::string out;
    const std::string full = url() + path;
    curl_easy_setopt(easy, CURLOPT_URL, full.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (method == "POST") curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(
        easy, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
          static_cast<std::string*>(u)->append(d, s * n);
          return s * n;
        });
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &out);
    const CURLcode rc = curl_easy_perform(easy);
    curl_easy_cleanup(easy);
    EXPECT_EQ(rc, CURLE_OK) << path;
    return json::parse(out, nullptr, false);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

FakeBaas* fake = nullptr;

class HttpProviderTest : public ::testing::Test {
 protected:
  // Started by the first test rather than in SetUpTestSuite, so that a missing `node` fails
  // every test instead of skipping them.
  static void TearDownTestSuite() {
    delete fake;
    fake = nullptr;
  }
  void SetUp() override {
    if (fake == nullptr || !fake->running()) {
      delete fake;
      fake = new FakeBaas();
      fake->start();
      ASSERT_FALSE(HasFatalFailure()) << "the fake BaaS did not start";
    }
    fake->control("POST", "/_control/reset");
  }

  std::unique_ptr<Provider> provider(std::chrono::milliseconds timeout = 5000ms,
                                     std::string token = kToken, const std::string& url = {}) {
    HttpProviderOptions o;
    o.name = "fake";
    o.base_url = url.empty() ? fake->url() : url;
    o.token = std::move(token);
    o.timeout = timeout;
    auto p = make_http_provider(std::move(o));
    EXPECT_TRUE(p) << p.error().message;
    return p ? std::move(*p) : nullptr;
  }
};

TransferRequest request(std::string key, std::string source = "acc_a", int64_t amount = 5000) {
  TransferRequest r;
  r.idempotency_key = std::move(key);
  r.reference = "job-" + r.idempotency_key;
  r.amount = amount;
  r.currency = "EUR";
  r.source_account = std::move(source);
  r.destination_account = "acc_b";
  r.description = "rent \xC3\xA9t\xC3\xA9";
  return r;
}

// Runs one call and waits for its answer, checking `done` runs once, off the caller's thread.
TransferResult run(Provider& p, TransferRequest r) {
  std::promise<TransferResult> promise;
  auto answer = promise.get_future();
  std::atomic<int> calls{0};
  const auto caller = std::this_thread::get_id();
  p.execute(std::move(r), [&](TransferResult result) {
    EXPECT_NE(std::this_thread::get_id(), caller);
    if (calls++ == 0) promise.set_value(std::move(result));
  });
  if (answer.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 30 s";
    std::abort();  // `done` still references this frame
  }
  TransferResult result = answer.get();
  std::this_thread::sleep_for(1ms);
  EXPECT_EQ(calls.load(), 1);
  return result;
}

TEST_F(HttpProviderTest, SuccessReturnsTheBanksTransferId) {
  auto p = provider();
  const TransferResult r = run(*p, request("k-success"));
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(r.http_status, 201);
  ASSERT_TRUE(r.reference);
  EXPECT_TRUE(r.reference->starts_with("tr_")) << *r.reference;
  const json transfers = fake->control("GET", "/_control/transfers")["transfers"];
  ASSERT_EQ(transfers.size(), 1u);
  EXPECT_EQ(transfers[0]["id"], *r.reference);
  EXPECT_EQ(transfers[0]["idempotency_key"], "k-success");
  EXPECT_EQ(transfers[0]["amount"], 5000);
  EXPECT_EQ(transfers[0]["currency"], "EUR");
  EXPECT_EQ(transfers[0]["source"], "acc_a");
  EXPECT_EQ(transfers[0]["destination"], "acc_b");
  EXPECT_EQ(transfers[0]["reference"], "job-k-success");
}

TEST_F(HttpProviderTest, TheSameIdempotencyKeyTwiceMovesMoneyOnce) {
  auto p = provider();
  const TransferResult first = run(*p, request("k-twice"));
  const TransferResult second = run(*p, request("k-twice"));
  ASSERT_EQ(first.outcome, Outcome::kSucceeded);
  ASSERT_EQ(second.outcome, Outcome::kSucceeded);
  EXPECT_EQ(first.reference, second.reference);
  EXPECT_EQ(fake->control("GET", "/_control/transfers")["transfers"].size(), 1u);
  const json stats = fake->control("GET", "/_control/stats");
  EXPECT_EQ(stats["requests"], 2);
  EXPECT_EQ(stats["connections"], 1) << "the connection is reused";
}

TEST_F(HttpProviderTest, AnUnreadableSuccessIsStillASuccessWithoutReference) {
  auto p = provider();
  const TransferResult r = run(*p, request("k-noid", "noid_acc"));
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(r.http_status, 201);
  EXPECT_FALSE(r.reference);
  EXPECT_TRUE(r.message && r.message->find("without a transfer id") != std::string::npos);
  EXPECT_EQ(r.response_body, "accepted");
}

TEST_F(HttpProviderTest, RefusalsAreDeclinedWithTheBanksCode) {
  auto p = provider();
  TransferResult r = run(*p, request("k-decline", "decline_acc"));
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.http_status, 422);
  EXPECT_EQ(r.code, "insufficient_funds");
  EXPECT_EQ(r.message, "insufficient funds");
  ASSERT_TRUE(r.response_body);
  EXPECT_EQ(json::parse(*r.response_body)["error"]["code"], "insufficient_funds");
  EXPECT_FALSE(r.reference);
  r = run(*p, request("k-closed", "closed_acc"));
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.code, "account_closed");
  EXPECT_TRUE(fake->control("GET", "/_control/transfers")["transfers"].empty());
}

// A refusal whose error names an empty code or message keeps the status's own: a decline always
// names a code (found by the bank_answer fuzzer).
TEST(HttpProviderAnswer, AnEmptyErrorCodeIsReplacedByTheStatus) {
  auto api = make_rtjobs_api("https://rtjobs.test", "token");
  HttpAnswer answer;
  answer.status = 422;
  answer.body = R"({"error": {"code": "", "message": ""}})";
  const TransferResult r = api->read_answer(request("k-empty"), answer);
  EXPECT_EQ(r.outcome, Outcome::kDeclined);
  EXPECT_EQ(r.code, "http_422");
  EXPECT_EQ(r.message, "the bank answered HTTP 422");
}

// SPEC section 8: the operator's credentials failing is not the customer's transfer refused.
TEST_F(HttpProviderTest, AWrongTokenIsUnavailableNotARefusal) {
  auto p = provider(5000ms, "wrong-token");
  const TransferResult r = run(*p, request("k-auth"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.http_status, 401);
  EXPECT_EQ(r.code, "unauthorized");
}

TEST_F(HttpProviderTest, ServerErrorsRateLimitsAnd408AreUnavailable) {
  auto p = provider();
  const struct {
    const char* account;
    int status;
    const char* code;
  } cases[] = {{"down_acc", 503, "service_unavailable"},
               {"ratelimit_acc", 429, "rate_limited"},
               {"timeout408_acc", 408, "request_timeout"}};
  for (const auto& c : cases) {
    const TransferResult r = run(*p, request(std::string("k-") + c.account, c.account));
    EXPECT_EQ(r.outcome, Outcome::kUnavailable) << c.account;
    EXPECT_EQ(r.http_status, c.status) << c.account;
    EXPECT_EQ(r.code, c.code) << c.account;
    EXPECT_TRUE(r.response_body) << c.account;
  }
  EXPECT_TRUE(fake->control("GET", "/_control/transfers")["transfers"].empty());
}

TEST_F(HttpProviderTest, AFlakyBankSucceedsOnTheThirdAttemptOfTheSameKey) {
  auto p = provider();
  EXPECT_EQ(run(*p, request("k-flaky", "flaky2_acc")).outcome, Outcome::kUnavailable);
  EXPECT_EQ(run(*p, request("k-flaky", "flaky2_acc")).outcome, Outcome::kUnavailable);
  EXPECT_EQ(run(*p, request("k-flaky", "flaky2_acc")).outcome, Outcome::kSucceeded);
  EXPECT_EQ(fake->control("GET", "/_control/transfers")["transfers"].size(), 1u);
  EXPECT_EQ(fake->control("GET", "/_control/attempts")["attempts"].size(), 3u);
}

TEST_F(HttpProviderTest, NoAnswerWithinTheTimeoutIsUnavailableWithoutStatus) {
  auto p = provider(300ms);
  const auto start = std::chrono::steady_clock::now();
  const TransferResult r = run(*p, request("k-slow", "slow3000_acc"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_FALSE(r.http_status);
  EXPECT_EQ(r.code, "timeout");
  EXPECT_TRUE(r.message && !r.message->empty());
}

TEST_F(HttpProviderTest, NothingListeningIsAConnectionFailure) {
  // A port that was free a moment ago: bind to port 0, read it back, close.
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(s);
  auto p = provider(5000ms, kToken, "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)));
  const TransferResult r = run(*p, request("k-refused"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_FALSE(r.http_status);
  EXPECT_EQ(r.code, "connection_failed");
  EXPECT_TRUE(r.message && !r.message->empty());
}

TEST_F(HttpProviderTest, KeepsAtMost64KiBOfAResponseBody) {
  auto p = provider();
  const TransferResult r = run(*p, request("k-big", "bigerror_acc"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.http_status, 500);
  ASSERT_TRUE(r.response_body);
  EXPECT_EQ(r.response_body->size(), 64u * 1024u);
  EXPECT_EQ(r.code, "http_500");  // the truncated body is no longer JSON
}

TEST_F(HttpProviderTest, TwoHundredCallsAreInFlightAtOnce) {
  auto p = provider(20000ms);
  constexpr int kCalls = 200;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0, succeeded = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCalls; ++i) {
    p->execute(request("k-many-" + std::to_string(i), "slow1000_acc", 100),
               [&](const TransferResult& r) {
                 std::lock_guard lock(mu);
                 ++finished;
                 if (r.outcome == Outcome::kSucceeded) ++succeeded;
                 cv.notify_all();
               });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return finished == kCalls; })) << finished;
  EXPECT_EQ(succeeded, kCalls);
  // 200 one-second answers in far less than 200 s: they were concurrent.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  const json stats = fake->control("GET", "/_control/stats");
  EXPECT_EQ(stats["executed"], kCalls);
  EXPECT_GE(stats["peak_in_flight"].get<int>(), kCalls * 3 / 4) << stats.dump();
  EXPECT_LE(stats["connections"].get<int>(), kCalls) << stats.dump();
}

TEST_F(HttpProviderTest, DestroyingTheProviderCompletesCallsInFlight) {
  auto p = provider(20000ms);
  std::atomic<int> shutdowns{0}, calls{0};
  for (int i = 0; i < 5; ++i) {
    p->execute(request("k-stop-" + std::to_string(i), "slow5000_acc"),
               [&](const TransferResult& r) {
                 ++calls;
                 if (r.outcome == Outcome::kUnavailable && r.code == "shutdown") ++shutdowns;
               });
  }
  std::this_thread::sleep_for(200ms);
  p.reset();
  EXPECT_EQ(calls.load(), 5);
  EXPECT_EQ(shutdowns.load(), 5);
}

// Never sent, so never a refusal the bank made: unavailable, and the outcome is known.
TEST_F(HttpProviderTest, AMalformedIdempotencyKeyIsUnavailableWithoutACall) {
  auto p = provider();
  const TransferResult r = run(*p, request("bad\r\nX-Injected: 1"));
  EXPECT_EQ(r.outcome, Outcome::kUnavailable);
  EXPECT_EQ(r.code, "invalid_transfer");
  EXPECT_FALSE(r.outcome_unknown);
  EXPECT_EQ(fake->control("GET", "/_control/stats")["requests"], 0);
}

TEST(HttpProviderCreate, RejectsUnusableOptions) {
  HttpProviderOptions o;
  o.name = "x";
  o.base_url = "ftp://bank";
  auto p = make_http_provider(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().field, "base_url");
  o.base_url = "http://bank/";
  o.timeout = 0ms;
  p = make_http_provider(o);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().field, "timeout_ms");
}

}  // namespace
}  // namespace rtjobs
