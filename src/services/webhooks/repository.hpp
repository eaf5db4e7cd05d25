#pragma once
// The webhooks tables (migration 009_webhooks.sql) over the SQL port. Every function runs on
// the caller's connection, inside the caller's transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::webhooks {

struct Webhook {
  std::string id, project_id, workspace_id, url, secret;
  std::vector<std::string> event_types;
  bool active = true;
  std::optional<std::string> disabled_reason;
  std::optional<int64_t> disabled_at, failing_since;
  std::string created_by;
  int64_t created_at = 0, updated_at = 0;
};

struct Attempt {
  int attempt = 0;
  std::string status;  // succeeded | failed
  std::optional<int64_t> response_code;
  int64_t duration_ms = 0;
  std::optional<std::string> error;
  int64_t created_at = 0;
};

struct Delivery {
  std::string id, webhook_id, event_id, event_type, body;
  std::string status;  // pending | retrying | succeeded | failed | skipped
  int attempts = 0;
  std::optional<int64_t> response_code, duration_ms;
  std::optional<std::string> error;
  int64_t created_at = 0, updated_at = 0;
  std::vector<Attempt> attempt_log;  // filled by list_deliveries
};

namespace repo {

void insert_webhook(sql::Connection& c, const Webhook& w);
std::optional<Webhook> find_webhook(sql::Connection& c, const std::string& id);
std::vector<Webhook> project_webhooks(sql::Connection& c, const std::string& project_id, bool active_only);
int64_t count_webhooks(sql::Connection& c, const std::string& project_id);
void update_webhook(sql::Connection& c, const Webhook& w);
void delete_webhook(sql::Connection& c, const std::string& id);
void delete_project_webhooks(sql::Connection& c, const std::string& project_id);

// false when (webhook, event) already has a delivery.
bool insert_delivery(sql::Connection& c, const Delivery& d);
std::optional<Delivery> find_delivery(sql::Connection& c, const std::string& id);
void set_delivery_status(sql::Connection& c, const std::string& id, const std::string& status, int64_t now);
// Records one attempt and its outcome on the delivery (status, counters).
void record_attempt(sql::Connection& c, const std::string& delivery_id, const Attempt& a,
                    const std::string& delivery_status);
// Newest first, keyset on id (before_id: exclusive), with each delivery's attempts.
std::vector<Delivery> list_deliveries(sql::Connection& c, const std::string& webhook_id,
                                      const std::optional<std::string>& before_id, int limit);

// Marks the webhook failing since now (kept if already failing) or healthy again.
void mark_failing(sql::Connection& c, const std::string& webhook_id, int64_t now);
void mark_healthy(sql::Connection& c, const std::string& webhook_id);
// Deactivates the webhook if it is active and has been failing since at most `failing_before`;
// true when this call disabled it (exactly one caller wins).
bool disable_if_failing(sql::Connection& c, const std::string& webhook_id, int64_t failing_before,
                        const std::string& reason, int64_t now);

// Deletes at most `batch` finished deliveries (and their attempts) created before `before_ms`.
int64_t purge_deliveries(sql::Connection& c, int64_t before_ms, int batch);

// The consumer's lease and cursor: events::read_lease / claim_lease / move_cursor (table
// webhook_consumer).
void release_consumer(sql::Connection& c, const std::string& holder);

}  // namespace repo
}  // namespace taskhub::webhooks
