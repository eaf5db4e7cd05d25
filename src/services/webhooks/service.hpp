#pragma once
// Webhooks: the rules (project admins only, bounds, SSRF check at creation), the durable
// consumer that fans outbox events out into deliveries, and the delivery job.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/background_loop.hpp"
#include "ports/clock.hpp"
#include "services/events/consumer_pacing.hpp"
#include "ports/event_bus.hpp"
#include "ports/job_queue.hpp"
#include "ports/mailer.hpp"
#include "ports/sql.hpp"
#include "services/projects/client.hpp"
#include "services/webhooks/address.hpp"
#include "services/webhooks/repository.hpp"
#include "services/webhooks/sender.hpp"

namespace taskhub::webhooks {

inline constexpr const char* kDeliverKind = "webhook.deliver";
inline constexpr const char* kDisabledMailKind = "webhook.disabled_mail";
inline constexpr const char* kPurgeKind = "webhooks.purge";
inline constexpr int64_t kLogRetentionMs = 30LL * 24 * 3600 * 1000;  // finished deliveries kept 30 days
inline constexpr const char* kPingType = "webhook.ping";
inline constexpr const char* kDisabledType = "webhook.disabled";
inline constexpr int kMaxWebhooksPerProject = 20;
inline constexpr std::size_t kMaxUrlLength = 2048;
inline constexpr std::size_t kMaxEventTypes = 50;
inline constexpr std::size_t kMaxEventTypeLength = 100;
inline constexpr std::size_t kConsumerBatch = 200;

struct Options {
  AllowList allow;
  SendOptions send;
  int max_attempts = 8;
  int64_t disable_after_ms = 24 * 3600 * 1000LL;
  int64_t consumer_lease_ms = 10'000;
  int64_t consumer_poll_ms = 1000;
  std::string public_url;
};

struct WebhookInput {
  std::optional<std::string> url, secret;
  std::optional<std::vector<std::string>> event_types;
  std::optional<bool> active;
};

// "*" matches everything, "task.*" every type starting with "task.", else exact.
bool type_matches(const std::vector<std::string>& patterns, const std::string& type);
// The JSON body of a delivery of `e`.
std::string delivery_body(const events::Event& e);

class WebhookService {
 public:
  using EmailOf = std::function<std::optional<std::string>(const std::string& user_id)>;

  WebhookService(sql::Database& db, projects::Client& projects, events::Outbox& outbox, jobs::JobQueue& jobs,
                 Mailer* mailer, EmailOf email_of, Clock& clock, Options options);
  ~WebhookService();

  // ---- API (throw ApiError: 404 not visible, 403 not a project admin, 400/422 bad input)
  struct Created {
    Webhook webhook;
    std::string secret;
  };
  Created create(const std::string& user_id, const std::string& project_id, const WebhookInput& in);
  std::vector<Webhook> list(const std::string& user_id, const std::string& project_id);
  Webhook get(const std::string& user_id, const std::string& id);
  Webhook update(const std::string& user_id, const std::string& id, const WebhookInput& in);
  void remove(const std::string& user_id, const std::string& id);
  std::vector<Delivery> deliveries(const std::string& user_id, const std::string& id,
                                   const std::optional<std::string>& before_id, int limit);
  Delivery ping(const std::string& user_id, const std::string& id);
  void project_deleted(const std::string& project_id);

  // ---- consumer: one pass; nullopt when another process holds the lease, else events consumed
  std::optional<std::size_t> consume_once(const std::string& holder);
  void start();  // the consumer thread
  void stop();
  void wake();

  // ---- job handlers
  void deliver(const jobs::Job& job);
  void send_disabled_mail(const jobs::Job& job);
  // Deletes finished deliveries older than kLogRetentionMs (bounded work per run); returns how many.
  int64_t purge_log();
  // Prometheus text: attempts by outcome, webhooks disabled, the consumer's cursor (this process).
  std::string metrics() const;

  // 404 when the project is not visible (or the id malformed), 403 when the user is not its admin.
  void authorize(const std::string& user_id, const std::string& project_id);

 private:
  Webhook visible_admin(const std::string& user_id, const std::string& id);
  void require_admin(const std::string& user_id, const std::string& project_id, bool for_write);
  void check_url(const std::string& url);
  void enqueue_delivery(sql::Connection& c, const std::string& delivery_id);
  BackgroundLoop::Next consume_tick();  // one pass of the consumer thread

  sql::Database& db_;
  projects::Client& projects_;
  events::Outbox& outbox_;
  jobs::JobQueue& jobs_;
  Mailer* mailer_;
  EmailOf email_of_;
  Clock& clock_;
  Options opt_;

  std::string holder_;

  std::atomic<int64_t> attempts_ok_{0}, attempts_failed_{0}, disabled_total_{0}, fanned_out_{0};
  std::atomic<int64_t> cursor_{0};

  events::ConsumerPacing pacing_;  // the consumer thread's own
  BackgroundLoop consumer_;  // last: stopped before the members its tick uses are destroyed
};

}  // namespace taskhub::webhooks
