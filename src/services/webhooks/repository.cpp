#include "services/webhooks/repository.hpp"

#include <boost/json.hpp>

namespace taskhub::webhooks::repo {

namespace json = boost::json;

namespace {

constexpr const char* kWebhookColumns =
    "id, project_id, workspace_id, url, secret, event_types, active, disabled_reason, disabled_at, failing_since, "
    "created_by, created_at, updated_at";
constexpr const char* kDeliveryColumns =
    "id, webhook_id, event_id, event_type, body, status, attempts, response_code, duration_ms, error, created_at, "
    "updated_at";

std::string types_json(const std::vector<std::string>& types) {
  json::array a;
  for (const auto& t : types) a.emplace_back(t);
  return json::serialize(a);
}

std::vector<std::string> types_from(const std::string& text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& t : v.as_array())
    if (t.is_string()) out.emplace_back(t.as_string());
  return out;
}

Webhook webhook_of(const sql::Row& r) {
  Webhook w;
  w.id = r.str(0);
  w.project_id = r.str(1);
  w.workspace_id = r.str(2);
  w.url = r.str(3);
  w.secret = r.str(4);
  w.event_types = types_from(r.str(5));
  w.active = r.boolean(6);
  w.disabled_reason = r.opt_str(7);
  w.disabled_at = r.opt_i64(8);
  w.failing_since = r.opt_i64(9);
  w.created_by = r.str(10);
  w.created_at = r.i64(11);
  w.updated_at = r.i64(12);
  return w;
}

Delivery delivery_of(const sql::Row& r) {
  Delivery d;
  d.id = r.str(0);
  d.webhook_id = r.str(1);
  d.event_id = r.str(2);
  d.event_type = r.str(3);
  d.body = r.str(4);
  d.status = r.str(5);
  d.attempts = static_cast<int>(r.i64(6));
  d.response_code = r.opt_i64(7);
  d.duration_ms = r.opt_i64(8);
  d.error = r.opt_str(9);
  d.created_at = r.i64(10);
  d.updated_at = r.i64(11);
  return d;
}

}  // namespace

void insert_webhook(sql::Connection& c, const Webhook& w) {
  c.exec(
      "INSERT INTO webhooks (id, project_id, workspace_id, url, secret, event_types, active, disabled_reason, "
      "disabled_at, failing_since, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {w.id, w.project_id, w.workspace_id, w.url, w.secret, types_json(w.event_types), w.active, w.disabled_reason,
       w.disabled_at, w.failing_since, w.created_by, w.created_at, w.updated_at});
}

std::optional<Webhook> find_webhook(sql::Connection& c, const std::string& id) {
  auto r = c.query(std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE id = ?", {id});
  if (r.empty()) return std::nullopt;
  return webhook_of(r[0]);
}

std::vector<Webhook> project_webhooks(sql::Connection& c, const std::string& project_id, bool active_only) {
  auto r = active_only ? c.query(std::string("SELECT ") + kWebhookColumns +
                                     " FROM webhooks WHERE project_id = ? AND active = ? ORDER BY id",
                                 {project_id, true})
                       : c.query(std::string("SELECT ") + kWebhookColumns +
                                     " FROM webhooks WHERE project_id = ? ORDER BY id",
                                 {project_id});
  std::vector<Webhook> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(webhook_of(r[i]));
  return out;
}

int64_t count_webhooks(sql::Connection& c, const std::string& project_id) {
  return c.query("SELECT COUNT(*) FROM webhooks WHERE project_id = ?", {project_id})[0].i64(0);
}

void update_webhook(sql::Connection& c, const Webhook& w) {
  c.exec(
      "UPDATE webhooks SET url = ?, secret = ?, event_types = ?, active = ?, disabled_reason = ?, disabled_at = ?, "
      "failing_since = ?, updated_at = ? WHERE id = ?",
      {w.url, w.secret, types_json(w.event_types), w.active, w.disabled_reason, w.disabled_at, w.failing_since,
       w.updated_at, w.id});
}

void delete_webhook(sql::Connection& c, const std::string& id) {
  // Explicit child deletes: the schema cascades, but this does not depend on SQLite's
  // foreign_keys pragma being on for every connection.
  c.exec("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE webhook_id = ?)",
         {id});
  c.exec("DELETE FROM webhook_deliveries WHERE webhook_id = ?", {id});
  c.exec("DELETE FROM webhooks WHERE id = ?", {id});
}

void delete_project_webhooks(sql::Connection& c, const std::string& project_id) {
  for (const auto& w : project_webhooks(c, project_id, false)) delete_webhook(c, w.id);
}

bool insert_delivery(sql::Connection& c, const Delivery& d) {
  return c.exec("INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body, status, attempts, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (webhook_id, event_id) DO NOTHING",
                {d.id, d.webhook_id, d.event_id, d.event_type, d.body, d.status, d.created_at, d.updated_at}) > 0;
}

std::optional<Delivery> find_delivery(sql::Connection& c, const std::string& id) {
  auto r = c.query(std::string("SELECT ") + kDeliveryColumns + " FROM webhook_deliveries WHERE id = ?", {id});
  if (r.empty()) return std::nullopt;
  return delivery_of(r[0]);
}

void set_delivery_status(sql::Connection& c, const std::string& id, const std::string& status, int64_t now) {
  c.exec("UPDATE webhook_deliveries SET status = ?, updated_at = ? WHERE id = ?", {status, now, id});
}

void record_attempt(sql::Connection& c, const std::string& delivery_id, const Attempt& a,
                    const std::string& delivery_status) {
  c.exec("INSERT INTO webhook_attempts (delivery_id, attempt, status, response_code, duration_ms, error, created_at) "
         "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, attempt) DO NOTHING",
         {delivery_id, a.attempt, a.status, a.response_code, a.duration_ms, a.error, a.created_at});
  c.exec("UPDATE webhook_deliveries SET status = ?, attempts = ?, response_code = ?, duration_ms = ?, error = ?, "
         "updated_at = ? WHERE id = ?",
         {delivery_status, a.attempt, a.response_code, a.duration_ms, a.error, a.created_at, delivery_id});
}

std::vector<Delivery> list_deliveries(sql::Connection& c, const std::string& webhook_id,
                                      const std::optional<std::string>& before_id, int limit) {
  auto r = before_id ? c.query(std::string("SELECT ") + kDeliveryColumns +
                                   " FROM webhook_deliveries WHERE webhook_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                               {webhook_id, *before_id, limit})
                     : c.query(std::string("SELECT ") + kDeliveryColumns +
                                   " FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?",
                               {webhook_id, limit});
  std::vector<Delivery> out;
  for (std::size_t i = 0; i < r.size(); ++i) out.push_back(delivery_of(r[i]));
  if (out.empty()) return out;
  // One query for the attempts of the whole page (bounded: page size x max attempts).
  auto a = c.query(
      "SELECT a.delivery_id, a.attempt, a.status, a.response_code, a.duration_ms, a.error, a.created_at "
      "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
      "WHERE d.webhook_id = ? AND d.id <= ? AND d.id >= ? ORDER BY a.delivery_id, a.attempt",
      {webhook_id, out.front().id, out.back().id});
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto row = a[i];
    std::string did = row.str(0);
    for (auto& d : out)
      if (d.id == did) {
        d.attempt_log.push_back(Attempt{static_cast<int>(row.i64(1)), row.str(2), row.opt_i64(3), row.i64(4),
                                        row.opt_str(5), row.i64(6)});
        break;
      }
  }
  return out;
}

void mark_failing(sql::Connection& c, const std::string& webhook_id, int64_t now) {
  c.exec("UPDATE webhooks SET failing_since = ? WHERE id = ? AND failing_since IS NULL", {now, webhook_id});
}

void mark_healthy(sql::Connection& c, const std::string& webhook_id) {
  c.exec("UPDATE webhooks SET failing_since = NULL WHERE id = ? AND failing_since IS NOT NULL", {webhook_id});
}

bool disable_if_failing(sql::Connection& c, const std::string& webhook_id, int64_t failing_before,
                        const std::string& reason, int64_t now) {
  return c.exec("UPDATE webhooks SET active = ?, disabled_reason = ?, disabled_at = ?, updated_at = ? "
                "WHERE id = ? AND active = ? AND failing_since IS NOT NULL AND failing_since <= ?",
                {false, reason, now, now, webhook_id, true, failing_before}) > 0;
}

int64_t purge_deliveries(sql::Connection& c, int64_t before_ms, int batch) {
  constexpr const char* kOldest =
      "SELECT id FROM webhook_deliveries WHERE created_at < ? AND status IN ('succeeded', 'failed', 'skipped') "
      "ORDER BY created_at, id LIMIT ?";
  c.exec(std::string("DELETE FROM webhook_attempts WHERE delivery_id IN (") + kOldest + ")", {before_ms, batch});
  return c.exec(std::string("DELETE FROM webhook_deliveries WHERE id IN (") + kOldest + ")", {before_ms, batch});
}

void release_consumer(sql::Connection& c, const std::string& holder) {
  c.exec("UPDATE webhook_consumer SET holder = '', lease_until = 0 WHERE id = 1 AND holder = ?", {holder});
}

}  // namespace taskhub::webhooks::repo
