#include "maintenance/webhook_dispatcher.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "core/log.hpp"
#include "core/uuid.hpp"

namespace rtjobs {
namespace {

constexpr std::chrono::minutes kPurgeEvery{10};
constexpr int kPurgeBatch = 1000;

std::unique_ptr<HttpTransport> make_transport(const WebhookDispatcherOptions& options) {
  if (options.concurrency < 1) throw std::invalid_argument("webhook concurrency must be >= 1");
  if (options.batch < 1) throw std::invalid_argument("webhook batch must be >= 1");
  HttpTransportOptions t;
  t.timeout = options.timeout;
  t.connect_timeout = std::min<std::chrono::milliseconds>(options.timeout, std::chrono::seconds(5));
  t.max_connections = options.concurrency;
  t.refuse_private_addresses = !options.allow_private;
  t.thread_name = "rt-webhooks";
  auto transport = HttpTransport::create(t);
  if (!transport) {
    throw std::runtime_error("webhook transport: " + transport.error().message);
  }
  return std::move(*transport);
}

// A URL as logs may show it: a receiver's token may sit in its query.
std::string_view without_query(std::string_view url) {
  return url.substr(0, url.find_first_of("?#"));
}

}  // namespace

// A delivery on its way: what judging and logging its answer needs.
struct WebhookDispatcher::Sent {
  WebhookDeliveryRecord delivery;  // as claimed (attempts counts this try)
  std::string lease;
  std::string url;
};

struct WebhookDispatcher::Answered {
  std::shared_ptr<const Sent> sent;
  HttpAnswer answer;
  Timestamp at;
};

WebhookDispatcher::WebhookDispatcher(Store& store, const Clock& clock,
                                     WebhookDispatcherOptions options, WebhookMetrics* metrics)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      rule_{options_.backoff_base, options_.backoff_max, options_.retry_window},
      lease_(std::max<std::chrono::milliseconds>(options_.lease,
                                                 options_.timeout + std::chrono::seconds(30))),
      metrics_(metrics),
      random_(std::random_device{}()),
      transport_(make_transport(options_)),
      worker_("webhooks", options_.interval, [this] {
        auto more = dispatch_once();
        if (!more) {
          log::error("dispatching webhooks failed", {{"error", more.error().message}});
          return false;
        }
        return *more;
      }) {}

WebhookDispatcher::~WebhookDispatcher() { stop(); }

void WebhookDispatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  worker_.stop();
  {
    std::unique_lock lock(mutex_);
    idle_.wait_for(lock, options_.stop_grace, [this] { return in_flight_ == 0; });
  }
  transport_.reset();  // answers what is still in flight with kShutdown: not written
  if (auto r = write_answers(); !r) {
    log::error("writing webhook answers at shutdown failed", {{"error", r.error().message}});
  }
}

int WebhookDispatcher::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

std::optional<int> WebhookDispatcher::yield_budget(Timestamp now) {
  const bool waiting = options_.busy_rate > 0 && options_.jobs_waiting && options_.jobs_waiting();
  if (metrics_) metrics_->yielding(waiting);
  if (!waiting) {
    last_busy_round_.reset();
    return std::nullopt;
  }
  // A clock set back counts as a full interval.
  if (last_busy_round_ && now >= *last_busy_round_ && now - *last_busy_round_ < options_.interval) {
    worker_.wake_after(std::chrono::duration_cast<std::chrono::milliseconds>(
        options_.interval - (now - *last_busy_round_)));
    return 0;
  }
  last_busy_round_ = now;
  const long long per_round = (options_.busy_rate * options_.interval.count() + 500) / 1000;
  return static_cast<int>(std::clamp<long long>(per_round, 1, options_.concurrency));
}

Result<bool> WebhookDispatcher::dispatch_once() {
  const Timestamp now = clock_.now();
  const std::optional<int> budget = yield_budget(now);
  if (budget == 0) return false;  // the answers wait for the next round too
  if (auto r = write_answers(); !r) {
    // Those deliveries stay claimed until their leases expire, then are sent again.
    log::error("writing webhook answers failed", {{"error", r.error().message}});
  }
  int room = 0;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return false;
    room = std::min(options_.concurrency - in_flight_, budget.value_or(options_.concurrency));
  }
  const FanOutLease lease{new_request_id(now), now + lease_, 0};
  bool more = false;
  // The due deliveries first, oldest event first: retries, and what a fan-out did not lease.
  const int limit = std::min(room, options_.batch);
  if (limit > 0) {
    auto tasks = store_.claim_webhook_deliveries(now, lease.lease, lease.until, limit);
    if (!tasks) return std::unexpected(tasks.error().context("claiming webhook deliveries"));
    if (static_cast<int>(tasks->size()) == limit) more = true;
    room -= static_cast<int>(tasks->size());
    for (DeliveryTask& task : *tasks) send(std::move(task), lease.lease, now);
  }
  // Then new events, no more than the room left can send: their deliveries the claim would take
  // at once are born under this round's lease and skip the claim. Events beyond the room wait
  // unfanned (the backlog counts them) rather than as due deliveries.
  if (const int events = std::min(room, options_.batch); events > 0) {
    FanOutLease fan = lease;
    fan.limit = events;
    if (auto fanned = store_.fan_out_and_lease(now, events, fan); !fanned) {
      // The deliveries fanned out before still go out.
      log::error("fanning out events failed", {{"error", fanned.error().message}});
    } else {
      if (fanned->events == events) more = true;
      for (DeliveryTask& task : fanned->leased) send(std::move(task), lease.lease, now);
    }
  }
  purge(now);
  return more && !budget;  // while jobs wait, never a round at once after this one
}

void WebhookDispatcher::send(DeliveryTask task, std::string lease, Timestamp now) {
  auto call = webhook_call(task, now, options_.user_agent);
  auto sent = std::make_shared<const Sent>(
      Sent{std::move(task.delivery), std::move(lease), std::move(task.url)});
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  if (!call) {
    HttpAnswer none;
    none.failure = HttpAnswer::Failure::kNotSent;
    none.error = call.error().message;
    answered(sent, std::move(none));
    return;
  }
  log::debug("sending webhook", {{"delivery_id", sent->delivery.id},
                                 {"event_id", sent->delivery.event_id},
                                 {"endpoint_id", sent->delivery.endpoint_id},
                                 {"attempt", sent->delivery.attempts}});
  transport_->send(std::move(*call),
                   [this, sent](HttpAnswer answer) { answered(sent, std::move(answer)); });
}

// On the transport's thread: hand over, never touch the store.
void WebhookDispatcher::answered(const std::shared_ptr<const Sent>& sent, HttpAnswer answer) {
  const Timestamp at = clock_.now();
  {
    std::lock_guard lock(mutex_);
    answers_.push_back(Answered{sent, std::move(answer), at});
    if (--in_flight_ == 0) idle_.notify_all();
  }
  worker_.wake();
}

Result<void> WebhookDispatcher::write_answers() {
  std::vector<Answered> answers;
  {
    std::lock_guard lock(mutex_);
    answers.swap(answers_);
  }
  std::vector<DeliveryAttempt> attempts;
  std::vector<const Sent*> sent;
  attempts.reserve(answers.size());
  sent.reserve(answers.size());
  for (Answered& a : answers) {
    // Abandoned at shutdown: not a try of the endpoint. Its lease expires and it goes out again.
    if (a.answer.failure == HttpAnswer::Failure::kShutdown) continue;
    attempts.push_back(
        judge_answer(a.sent->delivery, a.sent->lease, a.answer, a.at, rule_, jitter()));
    sent.push_back(a.sent.get());
  }
  if (attempts.empty()) return {};
  auto outcomes = store_.finish_webhook_deliveries(
      attempts, std::chrono::duration_cast<std::chrono::seconds>(options_.disable_after));
  if (!outcomes) {
    return std::unexpected(outcomes.error().context("writing " + std::to_string(attempts.size()) +
                                                    " webhook delivery answers"));
  }
  for (size_t i = 0; i < attempts.size() && i < outcomes->size(); ++i) {
    const DeliveryAttempt& attempt = attempts[i];
    const WebhookDeliveryRecord& delivery = sent[i]->delivery;
    const DeliveryOutcome& outcome = (*outcomes)[i];
    if (!outcome.written) {
      log::info("webhook answer not written: another claim holds the delivery",
                {{"delivery_id", delivery.id}});
      continue;
    }
    const std::string_view result = attempt.delivered         ? "delivered"
                                    : attempt.next_attempt_at ? "retry"
                                                              : "failed";
    if (metrics_) metrics_->delivery(delivery.endpoint_id, result);
    const std::string error = attempt.error.value_or("");
    if (result == "failed") {
      log::warn("webhook delivery failed for good: no 2xx within the retry window",
                {{"delivery_id", delivery.id},
                 {"event_id", delivery.event_id},
                 {"endpoint_id", delivery.endpoint_id},
                 {"attempts", delivery.attempts},
                 {"error", error}});
    } else {
      log::debug("webhook answered", {{"delivery_id", delivery.id},
                                      {"endpoint_id", delivery.endpoint_id},
                                      {"result", result},
                                      {"error", error}});
    }
    if (outcome.endpoint_disabled) {
      log::warn("webhook endpoint disabled: its deliveries failed for too long",
                {{"endpoint_id", delivery.endpoint_id},
                 {"url", without_query(sent[i]->url)},
                 {"disable_after_hours", static_cast<long>(options_.disable_after.count())}});
    }
  }
  return {};
}

void WebhookDispatcher::purge(Timestamp now) {
  if (last_purge_ && now - *last_purge_ < kPurgeEvery) return;
  last_purge_ = now;
  for (;;) {
    auto purged = store_.purge_events(now - options_.retention, kPurgeBatch);
    if (!purged) {
      log::error("purging delivered events failed", {{"error", purged.error().message}});
      return;
    }
    if (*purged < kPurgeBatch) return;
    std::lock_guard lock(mutex_);
    if (stopped_) return;
  }
}

double WebhookDispatcher::jitter() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

}  // namespace rtjobs
