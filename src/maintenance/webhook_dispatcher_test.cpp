// The webhook dispatcher end to end against a real HTTP receiver on 127.0.0.1 and an in-memory
// SQLite store: events written by transfer changes are fanned out, signed, sent, retried after a
// non-2xx or no answer with the same webhook-id and bytes, and written delivered; a private
// address is refused at connect time unless allowed; a call abandoned at stop is sent again once
// its lease expires. The clock is a ManualClock: backoff is crossed by moving it, and every wait
// is on a condition with a deadline.
#include "maintenance/webhook_dispatcher.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "baas/sandbox_provider.hpp"
#include "baas/webhook_signature.hpp"
#include "core/uuid.hpp"
#include "jobs/test_fixture.hpp"
#include "maintenance/webhook_receiver_test_support.hpp"

namespace rtjobs {
namespace {

using namespace std::chrono_literals;
using webhook_test::Receiver;

const std::string kSecret = "whsec_" + bank::base64_encode("0123456789abcdef01234567");

// True once `done` holds, false at the deadline. Checks every few milliseconds.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class WebhookDispatcherTest : public jobs_test::JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    add_provider(std::make_unique<SandboxProvider>("sandbox"));
  }

  // Registers an endpoint at `url` (every event type) at the clock's now; its id.
  std::string endpoint(const std::string& url) {
    WebhookEndpoint e;
    e.id = new_uuid_v7(clock_.now());
    e.url = url;
    e.secret = kSecret;
    e.created_at = clock_.now();
    e.updated_at = clock_.now();
    auto created = store_->create_webhook_endpoint(e);
    EXPECT_TRUE(created) << created.error().message;
    return created ? created->id : "";
  }

  // Creates a transfer (its transfer.created event goes to the outbox); its id.
  std::string transfer(const std::string& hash = "h1") {
    NewTransfer t = ach_transfer("sandbox");
    t.rail = Rail::kBook;  // what the sandbox carries
    t.provider_options.reset();
    t.request_hash = hash;
    t.source_account = "acct-" + hash;
    TransferService service(*store_, providers_, calendars_, clock_, 1);
    auto created = service.create(t);
    EXPECT_TRUE(created) << created.error().message;
    return created ? created->transfer.id : "";
  }

  std::vector<WebhookDeliveryRecord> deliveries(const std::string& endpoint_id) {
    DeliveryFilter f;
    f.endpoint_id = endpoint_id;
    f.limit = 500;
    auto page = store_->list_webhook_deliveries(f);
    EXPECT_TRUE(page) << page.error().message;
    return page ? page->data : std::vector<WebhookDeliveryRecord>{};
  }

  // The only delivery of the endpoint's, once `done` holds of it.
  std::optional<WebhookDeliveryRecord> delivery_when(
      const std::string& endpoint_id,
      const std::function<bool(const WebhookDeliveryRecord&)>& done) {
    std::optional<WebhookDeliveryRecord> found;
    eventually([&] {
      auto all = deliveries(endpoint_id);
      if (all.size() != 1 || !done(all.front())) return false;
      found = all.front();
      return true;
    });
    return found;
  }

  std::optional<WebhookDeliveryRecord> tried_once(const std::string& endpoint_id) {
    return delivery_when(endpoint_id,
                         [](const auto& r) { return r.attempts == 1 && r.last_attempt_at; });
  }
  std::optional<WebhookDeliveryRecord> delivered(const std::string& endpoint_id) {
    return delivery_when(endpoint_id,
                         [](const auto& r) { return r.status == DeliveryStatus::kDelivered; });
  }

  std::unique_ptr<WebhookDispatcher> dispatcher(bool allow_private = true,
                                                WebhookDispatcherOptions o = {}) {
    o.timeout = 5s;
    o.allow_private = allow_private;
    o.interval = 20ms;
    o.stop_grace = 0ms;
    return std::make_unique<WebhookDispatcher>(*store_, clock_, o, &metrics_);
  }

  WebhookMetrics metrics_;
};

TEST_F(WebhookDispatcherTest, A500ThenA200DeliversWithTheSameIdAndBytes) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  receiver.script({500, 200});
  const std::string ep = endpoint(receiver.url());
  const std::string transfer_id = transfer();
  auto d = dispatcher();
  d->start();

  ASSERT_TRUE(receiver.wait_for(1));
  auto first = tried_once(ep);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, DeliveryStatus::kPending);
  EXPECT_EQ(first->last_http_status, 500);
  EXPECT_EQ(first->last_error, "HTTP 500: status 500");
  EXPECT_GE(first->next_attempt_at, clock_.now() + 4s);
  EXPECT_LE(first->next_attempt_at, clock_.now() + 6s);

  clock_.advance(6s);  // past the first backoff (5 s, +20% at most)
  d->wake();
  ASSERT_TRUE(receiver.wait_for(2));
  auto done = delivered(ep);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->attempts, 2);
  EXPECT_EQ(done->last_http_status, 200);
  d->stop();

  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/hooks");
    EXPECT_EQ(r.headers.at("content-type"), "application/json");
    EXPECT_EQ(r.headers.at("user-agent"), "rtjobs");
    EXPECT_EQ(r.headers.at("webhook-id"), done->event_id);
    EXPECT_EQ(r.body, requests[0].body);
    WebhookDelivery wd;
    for (const char* h : {"webhook-id", "webhook-timestamp", "webhook-signature"}) {
      wd.headers.emplace_back(h, r.headers.at(h));
    }
    wd.body = r.body;
    wd.now = clock_.now();
    const std::vector<std::string> keys = {*bank::standard_webhook_key(kSecret)};
    EXPECT_TRUE(bank::verify_standard_webhook(wd, keys)) << r.headers.at("webhook-signature");
  }
  EXPECT_NE(requests[0].headers.at("webhook-timestamp"),
            requests[1].headers.at("webhook-timestamp"));
  EXPECT_TRUE(requests[0].body.starts_with(R"({"type":"transfer.created","timestamp":")"))
      << requests[0].body;
  EXPECT_NE(requests[0].body.find(transfer_id), std::string::npos);

  const std::string text = metrics_.render(std::nullopt, clock_.now());
  EXPECT_NE(text.find("{endpoint=\"" + ep + "\",result=\"retry\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("{endpoint=\"" + ep + "\",result=\"delivered\"} 1"), std::string::npos);
}

TEST_F(WebhookDispatcherTest, AnEndpointThatIsDownGetsTheDeliveryOnceItIsUp) {
  const int port = webhook_test::free_port();
  ASSERT_NE(port, 0);
  const std::string ep = endpoint("http://127.0.0.1:" + std::to_string(port) + "/hooks");
  transfer();
  auto d = dispatcher();
  d->start();
  auto refused = tried_once(ep);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, DeliveryStatus::kPending);
  EXPECT_FALSE(refused->last_http_status);
  EXPECT_TRUE(refused->last_error && !refused->last_error->empty());

  Receiver receiver(port);
  ASSERT_TRUE(receiver.listening());
  clock_.advance(6s);
  d->wake();
  ASSERT_TRUE(receiver.wait_for(1));
  auto done = delivered(ep);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->attempts, 2);
  EXPECT_EQ(receiver.requests().front().headers.at("webhook-id"), done->event_id);
}

TEST_F(WebhookDispatcherTest, APrivateAddressIsRefusedAtConnectTimeUnlessAllowed) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  const std::string ep = endpoint(receiver.url());
  transfer();
  auto d = dispatcher(/*allow_private=*/false);
  d->start();
  auto refused = tried_once(ep);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, DeliveryStatus::kPending);
  ASSERT_TRUE(refused->last_error);
  EXPECT_NE(refused->last_error->find("refused to connect to a private address (127.0.0.1"),
            std::string::npos)
      << *refused->last_error;
  d->stop();
  EXPECT_TRUE(receiver.requests().empty());
}

TEST_F(WebhookDispatcherTest, ARedirectIsNotFollowed) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  receiver.script({307});
  const std::string ep = endpoint(receiver.url());
  transfer();
  auto d = dispatcher();
  d->start();
  auto redirected = tried_once(ep);
  ASSERT_TRUE(redirected);
  EXPECT_EQ(redirected->status, DeliveryStatus::kPending);
  EXPECT_EQ(redirected->last_http_status, 307);
  d->stop();
  ASSERT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(receiver.requests().front().target, "/hooks");
}

TEST_F(WebhookDispatcherTest, EventsOfATransferArriveInOrder) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  const std::string ep = endpoint(receiver.url());
  const std::string id = transfer();
  TransferService service(*store_, providers_, calendars_, clock_, 1);
  ASSERT_TRUE(service.change_status(id, TransferAction::kPause));
  ASSERT_TRUE(service.change_status(id, TransferAction::kResume));
  auto d = dispatcher();
  d->start();
  ASSERT_TRUE(receiver.wait_for(3));
  ASSERT_TRUE(eventually([&] {
    auto all = deliveries(ep);
    return all.size() == 3 && std::all_of(all.begin(), all.end(), [](const auto& r) {
             return r.status == DeliveryStatus::kDelivered;
           });
  }));
  d->stop();
  std::vector<std::string> types;
  for (const auto& r : receiver.requests()) {
    types.push_back(r.body.substr(9, r.body.find('"', 9) - 9));
  }
  EXPECT_EQ(types,
            (std::vector<std::string>{"transfer.created", "transfer.paused", "transfer.resumed"}));
}

// Events yield to jobs: while due jobs wait, a round comes at most once an interval and sends at
// most busy_rate x interval deliveries (claimed and fanned out together); once none wait, the
// rest goes at once. Deliveries are counted in the store right after each round: its fan-out
// and claim are done when dispatch_once returns.
TEST_F(WebhookDispatcherTest, WhileJobsWaitDeliveriesGoOutAtTheBusyRate) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  const std::string ep = endpoint(receiver.url());
  for (int i = 0; i < 5; ++i) transfer("h" + std::to_string(i));
  bool jobs_waiting = true;
  WebhookDispatcherOptions o;
  o.jobs_waiting = [&] { return jobs_waiting; };
  o.busy_rate = 100;  // 2 a round of 20 ms
  auto d = dispatcher(true, o);

  ASSERT_TRUE(d->dispatch_once());
  EXPECT_EQ(deliveries(ep).size(), 2u);
  EXPECT_NE(metrics_.render(std::nullopt, clock_.now()).find("rtjobs_webhook_yielding 1\n"),
            std::string::npos);
  ASSERT_TRUE(receiver.wait_for(2));
  auto more = d->dispatch_once();  // within the interval: nothing
  ASSERT_TRUE(more);
  EXPECT_FALSE(*more);
  EXPECT_EQ(deliveries(ep).size(), 2u);

  clock_.advance(20ms);
  more = d->dispatch_once();
  ASSERT_TRUE(more);
  EXPECT_FALSE(*more) << "a full round while jobs wait is not followed at once by another";
  EXPECT_EQ(deliveries(ep).size(), 4u);

  jobs_waiting = false;
  ASSERT_TRUE(d->dispatch_once());
  EXPECT_EQ(deliveries(ep).size(), 5u);
  EXPECT_NE(metrics_.render(std::nullopt, clock_.now()).find("rtjobs_webhook_yielding 0\n"),
            std::string::npos);
  ASSERT_TRUE(receiver.wait_for(5));
  d->start();  // writes the answers
  ASSERT_TRUE(eventually([&] {
    auto all = deliveries(ep);
    return std::all_of(all.begin(), all.end(),
                       [](const auto& r) { return r.status == DeliveryStatus::kDelivered; });
  }));
  d->stop();
}

// RT_WEBHOOK_BUSY_RATE=0: deliveries never yield, whatever the job loops say.
TEST_F(WebhookDispatcherTest, ABusyRateOfZeroNeverYields) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  const std::string ep = endpoint(receiver.url());
  for (int i = 0; i < 5; ++i) transfer("h" + std::to_string(i));
  WebhookDispatcherOptions o;
  o.jobs_waiting = [] { return true; };
  o.busy_rate = 0;
  auto d = dispatcher(true, o);
  ASSERT_TRUE(d->dispatch_once());
  EXPECT_EQ(deliveries(ep).size(), 5u);
  ASSERT_TRUE(receiver.wait_for(5));
}

TEST_F(WebhookDispatcherTest, ADeliveryLeftByAStoppedDispatcherIsSentAgain) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  receiver.script({503});
  const std::string ep = endpoint(receiver.url());
  transfer();
  {
    auto d = dispatcher();
    ASSERT_TRUE(d->dispatch_once());  // claims and sends; the answer is never written
    ASSERT_TRUE(receiver.wait_for(1));
    // stop_grace 0: whatever is still in flight is abandoned, whatever came is written.
  }
  auto claimed = deliveries(ep);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed.front().status, DeliveryStatus::kPending);
  clock_.advance(2min);  // past the lease (60 s) and any backoff
  auto d = dispatcher();
  d->start();
  ASSERT_TRUE(receiver.wait_for(2));
  auto done = delivered(ep);
  ASSERT_TRUE(done);
  const auto requests = receiver.requests();
  EXPECT_EQ(requests[0].headers.at("webhook-id"), requests[1].headers.at("webhook-id"));
  EXPECT_EQ(requests[0].body, requests[1].body);
}

TEST_F(WebhookDispatcherTest, PastTheRetryWindowTheDeliveryFailsAndALongFailingEndpointIsDisabled) {
  Receiver receiver;
  ASSERT_TRUE(receiver.listening());
  receiver.script({500});
  const std::string ep = endpoint(receiver.url());
  transfer();
  WebhookDispatcherOptions o;
  o.retry_window = 0h;   // the first non-2xx is the last
  o.disable_after = 0h;  // an endpoint is disabled by its first failure
  auto d = dispatcher(true, o);
  d->start();
  auto failed =
      delivery_when(ep, [](const auto& r) { return r.status == DeliveryStatus::kFailed; });
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->attempts, 1);
  EXPECT_EQ(failed->last_http_status, 500);
  EXPECT_TRUE(failed->finished_at);

  ASSERT_TRUE(eventually([&] {
    auto e = store_->get_webhook_endpoint(ep);
    return e && *e && (*e)->status == EndpointStatus::kDisabled;
  }));
  d->stop();
  const std::string text = metrics_.render(std::nullopt, clock_.now());
  EXPECT_NE(text.find("{endpoint=\"" + ep + "\",result=\"failed\"} 1"), std::string::npos) << text;
}

}  // namespace
}  // namespace rtjobs
