#include "app/application.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <optional>

#include "baas/registry.hpp"
#include "backup/backup_service.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "flow/provider_flow.hpp"
#include "http/api.hpp"
#include "http/server.hpp"
#include "jobs/bank_webhooks.hpp"
#include "jobs/processor.hpp"
#include "jobs/settlement_metrics.hpp"
#include "jobs/transfer_service.hpp"
#include "maintenance/flow_heartbeat.hpp"
#include "maintenance/horizon_extender.hpp"
#include "maintenance/in_flight_limit.hpp"
#include "maintenance/job_backlog.hpp"
#include "maintenance/job_producer.hpp"
#include "maintenance/lease_rescuer.hpp"
#include "maintenance/settlement_follower.hpp"
#include "maintenance/webhook_dispatcher.hpp"
#include "maintenance/webhook_metrics.hpp"
#include "schedule/calendar.hpp"
#include "store/store.hpp"

namespace rtjobs {

// Members are declared in dependency order, so they are destroyed users first.
struct Application::Impl {
  Config config;
  SystemClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<ProviderRegistry> providers;
  std::unique_ptr<FlowControl> flows;  // each provider's limits, Retry-After and circuit
  std::optional<CalendarSet> calendars;
  std::unique_ptr<boost::asio::thread_pool> blocking_pool;
  std::unique_ptr<CompletionWriter> completions;
  std::unique_ptr<JobProcessor> processor;
  std::unique_ptr<TransferService> transfers;
  SettlementMetrics settlement_metrics;
  std::unique_ptr<SettlementFollower> follower;      // settlement and returns
  std::unique_ptr<BankWebhookIntake> bank_webhooks;  // POST /v1/bank-webhooks/{provider}
  WebhookMetrics webhook_metrics;
  JobBacklog backlog;  // the job loops tell the webhook dispatcher when due jobs wait
  std::unique_ptr<WebhookDispatcher> webhooks;  // events to the main API (RT_WEBHOOKS_ENABLED)
  std::unique_ptr<InFlightLimit> in_flight;     // bank calls of the loops (RT_CONCURRENCY)
  std::unique_ptr<InFlightLimit> unwritten;     // claimed jobs whose outcome is not committed
  std::unique_ptr<JobProducer> scheduler;       // due PENDING jobs (RT_SCHEDULER_ENABLED)
  std::unique_ptr<JobProducer> retrier;         // due RETRY jobs (RT_RETRIES_ENABLED)
  std::unique_ptr<LeaseRescuer> rescuer;
  std::unique_ptr<FlowHeartbeat> heartbeat;  // shares the banks' limits among instances
  std::unique_ptr<HorizonExtender> horizon;
  std::unique_ptr<Subscription> jobs_due;  // PostgreSQL notifications from other instances
  std::chrono::milliseconds drain_deadline{0};
  std::unique_ptr<backup::BackupService> backups;
  std::unique_ptr<backup::BackupCron> backup_cron;  // RT_BACKUP_ENABLED
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::Server> server;
  bool stopped = false;
};

Application::Application() : impl_(std::make_unique<Impl>()) {}

Application::~Application() { stop(); }

Result<void> check_exposure(const Config& config) {
  if (config.api_token || !config.api_tokens.empty() || is_loopback_host(config.listen_host)) {
    return {};
  }
  return invalid("RT_API_TOKEN",
                 "RT_API_TOKEN is required to listen on the non-loopback address " +
                     config.listen_host +
                     " (RT_LISTEN); set RT_API_TOKEN (or RT_API_TOKENS) or listen on "
                     "127.0.0.1");
}

namespace {

// The built-in loops that replace the seed's Lambdas. The rescuer and the horizon extender
// always run (they only repair and extend); the scheduler and retries loops follow their switches.
void start_loops(Application::Impl& s) {
  const Config& c = s.config;
  // A job is claimed only when its call can start: no claimed job waits under its lease.
  s.in_flight = std::make_unique<InFlightLimit>(c.concurrency);
  s.unwritten = std::make_unique<InFlightLimit>(std::max(4 * c.concurrency, 2048));
  const int batch = 500;
  if (c.scheduler_enabled) {
    s.scheduler = std::make_unique<JobProducer>(
        *s.store, *s.processor, *s.flows, *s.in_flight, *s.unwritten, s.clock,
        JobProducerOptions{"scheduler", true, false, batch, std::chrono::seconds(1), &s.backlog});
  }
  if (c.retries_enabled) {
    s.retrier = std::make_unique<JobProducer>(
        *s.store, *s.processor, *s.flows, *s.in_flight, *s.unwritten, s.clock,
        JobProducerOptions{"retries", false, true, batch, std::chrono::seconds(1), &s.backlog});
  }
  // Shares of the banks' limits are only needed where a provider sets one.
  bool shared = std::ranges::any_of(
      c.providers, [](const auto& p) { return p.second.max_rps || p.second.max_in_flight; });
  if (shared) s.heartbeat = std::make_unique<FlowHeartbeat>(*s.store, *s.flows, s.clock);
  auto rescue_every = std::clamp(s.processor->lease() / 4, std::chrono::milliseconds(250),
                                 std::chrono::milliseconds(5000));
  s.rescuer = std::make_unique<LeaseRescuer>(*s.store, s.clock, c.max_retries, rescue_every);
  s.horizon = std::make_unique<HorizonExtender>(*s.store, *s.calendars, s.clock, c.horizon_months,
                                                std::chrono::minutes(1));
  SettlementOptions settlement;
  settlement.poll = c.settlement_poll;
  settlement.poll_max = c.settlement_poll_max;
  settlement.follow_window = std::chrono::hours(24 * c.settlement_follow_days);
  settlement.represent_max = c.represent_max;
  settlement.represent_after = std::chrono::hours(24 * c.represent_after_days);
  settlement.pause_on_account_return = c.pause_on_account_return;
  s.follower = std::make_unique<SettlementFollower>(*s.store, *s.providers, s.flows.get(), s.clock,
                                                    settlement, &s.settlement_metrics);
  s.bank_webhooks = std::make_unique<BankWebhookIntake>(*s.store, *s.providers, s.clock,
                                                        s.store->backend() == "sqlite" ? 1 : 3,
                                                        [&s] { s.follower->wake(); });
  auto wake = [&s] {
    if (s.scheduler) s.scheduler->wake();
    if (s.retrier) s.retrier->wake();
  };
  s.transfers->on_jobs_ready(wake);
  s.jobs_due = s.store->subscribe_jobs_due(wake);
  s.drain_deadline = s.processor->lease();
  for (JobProducer* p : {s.scheduler.get(), s.retrier.get()}) {
    if (p) p->start();
  }
  if (s.heartbeat) s.heartbeat->start();
  s.rescuer->start();
  s.horizon->start();
  s.follower->start();
}

}  // namespace

Result<std::unique_ptr<Application>> Application::start(Config config) {
  std::unique_ptr<Application> app(new Application());
  Impl& s = *app->impl_;
  s.config = std::move(config);
  const Config& c = s.config;

  auto store = open_store(c.database_url);
  if (!store) return std::unexpected(store.error().context("opening the database"));
  s.store = std::move(*store);
  auto migrated = s.store->migrate();
  if (!migrated) return std::unexpected(migrated.error().context("migrating the database"));
  if (!migrated->applied.empty()) {
    log::info("database migrated", {{"schema_version", migrated->version},
                                    {"applied", static_cast<long>(migrated->applied.size())}});
  }

  auto providers = ProviderRegistry::from_config(c);
  if (!providers) return std::unexpected(providers.error().context("configuring providers"));
  s.providers = std::move(*providers);
  std::map<std::string, FlowLimits> limits;
  for (const std::string& name : s.providers->names()) {
    auto p = c.providers.find(name);
    limits[name] = p == c.providers.end() ? FlowLimits{}
                                          : FlowLimits{p->second.max_rps, p->second.max_in_flight};
  }
  s.flows = std::make_unique<FlowControl>(limits);

  auto calendars = CalendarSet::make(c.calendars);
  if (!calendars) return std::unexpected(calendars.error().context("loading calendars"));
  s.calendars.emplace(std::move(*calendars));

  // Database work of the handlers and the processor runs here, never on the IO threads.
  const int pool_size = std::clamp(c.concurrency / 4, 8, 32);
  s.blocking_pool = std::make_unique<boost::asio::thread_pool>(pool_size);
  Executor blocking = [pool = s.blocking_pool.get()](Task task) {
    boost::asio::post(*pool, std::move(task));
  };

  // An attempt's whole length, a look-up before the create included (Provider::timeout).
  const std::chrono::milliseconds longest_timeout = s.providers->longest_timeout();
  ProcessorOptions options;
  options.retry = RetryPolicy{c.max_retries, c.retry_backoff};
  options.horizon_months = c.horizon_months;
  options.lease = lease_for(longest_timeout);
  options.settlement_poll = c.settlement_poll;
  // SQLite has one writer; PostgreSQL overlaps a few round trips.
  const int writers = s.store->backend() == "sqlite" ? 1 : 3;
  s.completions = std::make_unique<CompletionWriter>(*s.store, writers, 1000);
  s.processor = std::make_unique<JobProcessor>(*s.store, *s.completions, *s.providers, *s.calendars,
                                               s.clock, blocking, options, s.flows.get());
  s.transfers = std::make_unique<TransferService>(*s.store, *s.providers, *s.calendars, s.clock,
                                                  c.horizon_months);

  start_loops(s);

  // On SQLite the backup writes through the store's one writer: one writer per process.
  auto backups = backup::BackupService::open(c, s.clock, {}, s.store.get());
  if (!backups) return std::unexpected(backups.error().context("configuring backups"));
  s.backups = std::move(*backups);
  if (c.backup_enabled) {
    auto cron = s.backups->make_cron();
    if (!cron) return std::unexpected(cron.error().context("configuring the backup cron"));
    s.backup_cron = std::move(*cron);
    s.backup_cron->start();
  }

  if (c.webhooks_enabled) {
    WebhookDispatcherOptions hooks;
    hooks.timeout = c.webhook_timeout;
    hooks.lease = c.webhook_timeout + std::chrono::seconds(30);
    hooks.retry_window = c.webhook_retry_window;
    hooks.backoff_base = c.webhook_backoff;
    hooks.backoff_max = c.webhook_backoff_max;
    hooks.disable_after = c.webhook_disable_after;
    hooks.concurrency = c.webhook_concurrency;
    hooks.retention = std::chrono::hours(24 * c.event_retention_days);
    hooks.allow_private = c.webhook_allow_private;
    hooks.jobs_waiting = [&s] { return s.backlog.waiting(); };
    hooks.busy_rate = c.webhook_busy_rate;
    try {
      s.webhooks =
          std::make_unique<WebhookDispatcher>(*s.store, s.clock, hooks, &s.webhook_metrics);
    } catch (const std::exception& e) {
      return fail(ErrorCode::kInternal,
                  std::string("starting the webhook dispatcher: ") + e.what());
    }
    s.webhooks->start();
  }

  http::ApiDependencies deps{
      *s.store,        *s.processor,          *s.transfers,         s.clock, blocking, c.api_token,
      s.backups.get(), s.bank_webhooks.get(), &s.settlement_metrics};
  for (const ApiToken& t : c.api_tokens) deps.named_tokens.emplace_back(t.name, t.token);
  deps.webhook_allow_private = c.webhook_allow_private;
  deps.webhook_metrics = &s.webhook_metrics;
  if (s.webhooks) deps.wake_webhooks = [&s] { s.webhooks->wake(); };
  s.api = std::make_unique<http::Api>(std::move(deps));
  http::ServerOptions server_options;
  server_options.host = c.listen_host;
  server_options.port = c.listen_port;
  s.server = std::make_unique<http::Server>(server_options, s.api->handler());
  if (auto r = s.server->start(); !r) return std::unexpected(r.error());

  log::info("listening", {{"host", s.server->host()},
                          {"port", static_cast<int>(s.server->port())},
                          {"database", s.store->backend()},
                          {"auth", c.api_token.has_value() || !c.api_tokens.empty()}});
  return app;
}

std::string Application::host() const {
  return impl_->server ? impl_->server->host() : std::string();
}

uint16_t Application::port() const { return impl_->server ? impl_->server->port() : 0; }

void Application::stop(std::chrono::milliseconds deadline) {
  Impl& s = *impl_;
  if (s.stopped) return;
  s.stopped = true;
  // No new claims, then no new requests; jobs already at the bank are seen through (their
  // outcome written) within the lease, after which another instance could take them anyway.
  s.jobs_due.reset();
  for (JobProducer* p : {s.scheduler.get(), s.retrier.get()}) {
    if (p) p->stop();
  }
  if (s.server) s.server->stop(deadline);
  if (s.in_flight && !s.in_flight->drain(s.drain_deadline)) {
    log::warn("jobs still in flight at shutdown; their leases will expire and they will be retried",
              {{"jobs", s.in_flight->in_flight()}});
  }
  if (s.unwritten && !s.unwritten->drain(s.drain_deadline)) {
    log::warn("job outcomes still unwritten at shutdown", {{"jobs", s.unwritten->in_flight()}});
  }
  // A backup run in progress stops (recorded failed; what it had not deleted stays, and is in
  // its verified objects), so shutdown does not wait for an upload; then the cron.
  if (s.backups) s.backups->stop_runs();
  if (s.backup_cron) s.backup_cron->stop();
  if (s.heartbeat) s.heartbeat->stop();
  if (s.rescuer) s.rescuer->stop();
  if (s.horizon) s.horizon->stop();
  if (s.follower) s.follower->stop();
  if (s.webhooks) s.webhooks->stop();
  if (s.blocking_pool) s.blocking_pool->join();
  // Bank calls still open past the deadline end as "shutdown" (retried later with the same
  // key); then every queued outcome is written before the store closes.
  s.providers.reset();
  s.completions.reset();
}

}  // namespace rtjobs
