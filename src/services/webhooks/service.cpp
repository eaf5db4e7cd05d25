#include "services/webhooks/service.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/metrics_text.hpp"
#include "core/time.hpp"

namespace taskhub::webhooks {

namespace json = boost::json;

namespace {

constexpr std::size_t kMinSecret = 16, kMaxSecret = 200;

json::value str_or_null(const std::string& s) {
  if (s.empty()) return nullptr;
  return json::value(s);
}

bool valid_type_pattern(const std::string& t) {
  if (t == "*") return true;
  if (t.empty() || t.size() > kMaxEventTypeLength || t.front() == '.' || t.back() == '.') return false;
  bool prev_dot = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '.') {
      if (prev_dot) return false;
      prev_dot = true;
      continue;
    }
    prev_dot = false;
    if (c == '*') {
      // Only as the whole last segment: "task.*".
      if (i + 1 != t.size() || i == 0 || t[i - 1] != '.') return false;
      continue;
    }
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

ApiError unsafe_url(const std::string& message) {
  return ApiError(422, "unsafe-url", "The webhook URL is not allowed.", {{"url", message}});
}

}  // namespace

bool type_matches(const std::vector<std::string>& patterns, const std::string& type) {
  for (const auto& p : patterns) {
    if (p == "*" || p == type) return true;
    if (p.size() >= 2 && p.back() == '*' && type.size() > p.size() - 1 && type.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0)
      return true;
  }
  return false;
}

std::string delivery_body(const events::Event& e) {
  boost::system::error_code ec;
  json::value payload = json::parse(e.payload, ec);
  if (ec) payload = json::object{};
  return json::serialize(json::object{{"id", e.id},
                                      {"type", e.type},
                                      {"time", format_rfc3339_ms(e.time_ms)},
                                      {"actor_id", str_or_null(e.actor_id)},
                                      {"workspace_id", str_or_null(e.workspace_id)},
                                      {"project_id", str_or_null(e.project_id)},
                                      {"task_id", str_or_null(e.task_id)},
                                      {"entity_type", str_or_null(e.entity_type)},
                                      {"entity_id", str_or_null(e.entity_id)},
                                      {"payload", std::move(payload)}});
}

WebhookService::WebhookService(sql::Database& db, projects::Client& projects, events::Outbox& outbox,
                               jobs::JobQueue& jobs, Mailer* mailer, EmailOf email_of, Clock& clock, Options options)
    : db_(db), projects_(projects), outbox_(outbox), jobs_(jobs), mailer_(mailer), email_of_(std::move(email_of)),
      clock_(clock), opt_(std::move(options)), holder_("webhooks-" + new_uuid_v7()),
      pacing_("webhooks", std::chrono::milliseconds(opt_.consumer_poll_ms)),
      consumer_("webhooks: consumer", std::chrono::milliseconds(opt_.consumer_poll_ms), [this] { return consume_tick(); }) {}

WebhookService::~WebhookService() { stop(); }

// ---------------------------------------------------------------------------------------------
// API

void WebhookService::require_admin(const std::string& user_id, const std::string& project_id, bool for_write) {
  auto access = projects_.project_access(user_id, project_id);
  if (!access) throw not_found("The project does not exist.");
  if (!access->is_admin()) throw forbidden("Only project admins manage webhooks.");
  if (for_write && access->archived)
    throw ApiError(409, "project-archived", "The project is archived (read-only); unarchive it first.");
}

Webhook WebhookService::visible_admin(const std::string& user_id, const std::string& id) {
  if (!is_uuid(id)) throw not_found("The webhook does not exist.");
  auto w = db_.read_value([&](sql::Connection& c) { return repo::find_webhook(c, id); });
  if (!w) throw not_found("The webhook does not exist.");
  auto access = projects_.project_access(user_id, w->project_id);
  if (!access) throw not_found("The webhook does not exist.");
  if (!access->is_admin()) throw forbidden("Only project admins manage webhooks.");
  return *w;
}

void WebhookService::check_url(const std::string& url) {
  std::string error;
  if (!resolve_and_check(url, opt_.allow, error)) throw unsafe_url(error);
}

namespace {

// Field-level checks shared by create and update; collects every error.
void validate(const WebhookInput& in, std::vector<FieldError>& errors) {
  if (in.url && in.url->size() > kMaxUrlLength)
    errors.push_back({"url", "must be at most " + std::to_string(kMaxUrlLength) + " characters"});
  if (in.secret) {
    if (in.secret->size() < kMinSecret || in.secret->size() > kMaxSecret)
      errors.push_back({"secret", "must be " + std::to_string(kMinSecret) + " to " + std::to_string(kMaxSecret) +
                                      " characters"});
    for (unsigned char c : *in.secret)
      if (c < 0x21 || c > 0x7e) {
        errors.push_back({"secret", "must be printable ASCII without spaces"});
        break;
      }
  }
  if (in.event_types) {
    if (in.event_types->empty()) errors.push_back({"event_types", "must name at least one type (or \"*\")"});
    if (in.event_types->size() > kMaxEventTypes)
      errors.push_back({"event_types", "at most " + std::to_string(kMaxEventTypes) + " types"});
    for (std::size_t i = 0; i < in.event_types->size(); ++i)
      if (!valid_type_pattern((*in.event_types)[i]))
        errors.push_back({"event_types[" + std::to_string(i) + "]",
                          "must be \"*\", a type like \"task.created\" or a prefix like \"task.*\""});
  }
}

std::vector<std::string> dedupe(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& s : v)
    if (seen.insert(s).second) out.push_back(s);
  return out;
}

}  // namespace

WebhookService::Created WebhookService::create(const std::string& user_id, const std::string& project_id,
                                               const WebhookInput& in) {
  if (!is_uuid(project_id)) throw not_found("The project does not exist.");
  require_admin(user_id, project_id, true);
  std::vector<FieldError> errors;
  if (!in.url) errors.push_back({"url", "is required"});
  validate(in, errors);
  if (!errors.empty()) throw validation_error(std::move(errors));
  check_url(*in.url);

  auto access = projects_.project_access(user_id, project_id);
  if (!access) throw not_found("The project does not exist.");
  const int64_t now = clock_.now_ms();
  Webhook w;
  w.id = new_uuid_v7();
  w.project_id = project_id;
  w.workspace_id = access->workspace_id;
  w.url = *in.url;
  w.secret = in.secret.value_or("whsec_" + random_token(32));
  w.event_types = dedupe(in.event_types.value_or(std::vector<std::string>{"*"}));
  w.active = in.active.value_or(true);
  w.created_by = user_id;
  w.created_at = w.updated_at = now;
  db_.write([&](sql::Connection& c) {
    if (repo::count_webhooks(c, project_id) >= kMaxWebhooksPerProject)
      throw conflict("webhook-limit", "A project has at most " + std::to_string(kMaxWebhooksPerProject) + " webhooks.");
    repo::insert_webhook(c, w);
  });
  return Created{w, w.secret};
}

std::vector<Webhook> WebhookService::list(const std::string& user_id, const std::string& project_id) {
  if (!is_uuid(project_id)) throw not_found("The project does not exist.");
  require_admin(user_id, project_id, false);
  return db_.read_value([&](sql::Connection& c) { return repo::project_webhooks(c, project_id, false); });
}

Webhook WebhookService::get(const std::string& user_id, const std::string& id) { return visible_admin(user_id, id); }

Webhook WebhookService::update(const std::string& user_id, const std::string& id, const WebhookInput& in) {
  Webhook w = visible_admin(user_id, id);
  std::vector<FieldError> errors;
  validate(in, errors);
  if (!errors.empty()) throw validation_error(std::move(errors));
  if (in.url && *in.url != w.url) check_url(*in.url);
  require_admin(user_id, w.project_id, true);
  Webhook out;
  db_.write([&](sql::Connection& c) {
    auto cur = repo::find_webhook(c, id);
    if (!cur) throw not_found("The webhook does not exist.");
    if (in.url) cur->url = *in.url;
    if (in.secret) cur->secret = *in.secret;
    if (in.event_types) cur->event_types = dedupe(*in.event_types);
    if (in.active) {
      if (*in.active && !cur->active) {
        // Re-enabled by an admin: the failure clock starts again.
        cur->disabled_reason.reset();
        cur->disabled_at.reset();
        cur->failing_since.reset();
      }
      cur->active = *in.active;
    }
    cur->updated_at = clock_.now_ms();
    repo::update_webhook(c, *cur);
    out = *cur;
  });
  return out;
}

void WebhookService::remove(const std::string& user_id, const std::string& id) {
  visible_admin(user_id, id);
  db_.write([&](sql::Connection& c) { repo::delete_webhook(c, id); });
}

std::vector<Delivery> WebhookService::deliveries(const std::string& user_id, const std::string& id,
                                                 const std::optional<std::string>& before_id, int limit) {
  visible_admin(user_id, id);
  return db_.read_value([&](sql::Connection& c) { return repo::list_deliveries(c, id, before_id, limit); });
}

void WebhookService::enqueue_delivery(sql::Connection& c, const std::string& delivery_id) {
  jobs::NewJob j;
  j.kind = kDeliverKind;
  j.payload = json::serialize(json::object{{"delivery_id", delivery_id}});
  j.key = delivery_id;
  j.max_attempts = opt_.max_attempts;
  jobs_.enqueue(c, j);
}

Delivery WebhookService::ping(const std::string& user_id, const std::string& id) {
  Webhook w = visible_admin(user_id, id);
  const int64_t now = clock_.now_ms();
  events::Event e;
  e.id = new_uuid_v7();
  e.type = kPingType;
  e.time_ms = now;
  e.actor_id = user_id;
  e.workspace_id = w.workspace_id;
  e.project_id = w.project_id;
  e.entity_type = "webhook";
  e.entity_id = w.id;
  e.payload = json::serialize(json::object{{"webhook_id", w.id}, {"event_types", json::value_from(w.event_types)}});
  Delivery d;
  d.id = new_uuid_v7();
  d.webhook_id = w.id;
  d.event_id = e.id;
  d.event_type = e.type;
  d.body = delivery_body(e);
  d.status = "pending";
  d.created_at = d.updated_at = now;
  db_.write([&](sql::Connection& c) {
    repo::insert_delivery(c, d);
    enqueue_delivery(c, d.id);
  });
  return d;
}

void WebhookService::project_deleted(const std::string& project_id) {
  db_.write([&](sql::Connection& c) { repo::delete_project_webhooks(c, project_id); });
}

// ---------------------------------------------------------------------------------------------
// Consumer

std::optional<std::size_t> WebhookService::consume_once(const std::string& holder) {
  const int64_t now = clock_.now_ms();
  events::LeaseState lease;
  db_.read([&](sql::Connection& c) {
    lease = events::read_lease(c, "webhook_consumer", holder, now, opt_.consumer_lease_ms);
  });
  if (!lease.free) return std::nullopt;
  auto batch = outbox_.since(lease.last_seq, kConsumerBatch);
  if (batch.empty() && lease.fresh) return std::size_t{0};  // idle: no write to renew a lease still half valid

  // The active webhooks of the batch's projects, read once per pass.
  std::map<std::string, std::vector<Webhook>> hooks;
  if (!batch.empty())
    db_.read([&](sql::Connection& c) {
      for (const auto& e : batch)
        if (!e.project_id.empty() && !hooks.count(e.project_id))
          hooks[e.project_id] = repo::project_webhooks(c, e.project_id, true);
    });
  std::vector<Delivery> todo;
  for (const auto& e : batch) {
    // The webhooks' own events (webhook.disabled) are for people, not for other webhooks.
    if (e.project_id.empty() || e.type.rfind("webhook.", 0) == 0) continue;
    for (const auto& w : hooks[e.project_id]) {
      // A webhook receives the events that happened after it was created, not the backlog.
      if (e.time_ms < w.created_at || !type_matches(w.event_types, e.type)) continue;
      Delivery d;
      d.id = new_uuid_v7();
      d.webhook_id = w.id;
      d.event_id = e.id;
      d.event_type = e.type;
      d.body = delivery_body(e);
      d.status = "pending";
      d.created_at = d.updated_at = now;
      todo.push_back(std::move(d));
    }
  }
  bool claimed = false;
  db_.write([&](sql::Connection& c) {
    // Fenced on the cursor read: a consumer that lost its lease meanwhile writes nothing.
    if (!events::claim_lease(c, "webhook_consumer", holder, now, opt_.consumer_lease_ms, lease.last_seq)) return;
    claimed = true;
    if (batch.empty()) return;  // the lease renewed, nothing else
    events::move_cursor(c, "webhook_consumer", batch.back().seq);
    for (const auto& d : todo)
      if (repo::insert_delivery(c, d)) enqueue_delivery(c, d.id);
  });
  if (!claimed) return std::nullopt;
  if (batch.empty()) return std::size_t{0};
  cursor_ = batch.back().seq;
  fanned_out_ += static_cast<int64_t>(todo.size());
  return batch.size();
}

void WebhookService::wake() { consumer_.wake(); }

void WebhookService::start() {
  if (consumer_.running()) return;
  consumer_.start();
}

void WebhookService::stop() {
  if (!consumer_.stop()) return;  // never started: no lease to release
  try {
    db_.write([&](sql::Connection& c) { repo::release_consumer(c, holder_); });
  } catch (const std::exception& e) {
    spdlog::warn("webhooks: releasing the consumer lease: {}", e.what());
  }
}

BackgroundLoop::Next WebhookService::consume_tick() {
  return pacing_.run([&] {
    auto n = consume_once(holder_);
    return n && *n == kConsumerBatch;  // more may be waiting
  });
}

// ---------------------------------------------------------------------------------------------
// Delivery job

void WebhookService::deliver(const jobs::Job& job) {
  std::string delivery_id;
  {
    boost::system::error_code ec;
    auto v = json::parse(job.payload, ec);
    if (ec || !v.is_object() || !v.as_object().if_contains("delivery_id"))
      throw std::runtime_error("webhook.deliver: payload without delivery_id");
    delivery_id = std::string(v.as_object().at("delivery_id").as_string());
  }
  std::optional<Delivery> d;
  std::optional<Webhook> w;
  db_.read([&](sql::Connection& c) {
    d = repo::find_delivery(c, delivery_id);
    if (d) w = repo::find_webhook(c, d->webhook_id);
  });
  if (!d || !w) return;  // the webhook was deleted meanwhile
  if (d->status == "succeeded" || d->status == "failed" || d->status == "skipped") return;  // already final
  const bool is_ping = d->event_type == kPingType;
  if (!w->active && !is_ping) {
    db_.write([&](sql::Connection& c) { repo::set_delivery_status(c, d->id, "skipped", clock_.now_ms()); });
    return;
  }

  Attempt a;
  a.attempt = job.attempt;
  std::string error;
  auto target = resolve_and_check(w->url, opt_.allow, error);
  SendResult r;
  if (!target) {
    r.transport_failed = true;
    r.error = "refused: URL " + error;
  } else {
    const std::string ts = std::to_string(clock_.now_s());
    r = post_json(*target, w->url,
                  {{"X-Taskhub-Event", d->event_type},
                   {"X-Taskhub-Delivery", d->id},
                   {"X-Taskhub-Timestamp", ts},
                   {"X-Taskhub-Signature", signature_header(w->secret, ts, d->body)}},
                  d->body, opt_.send);
  }
  const int64_t now = clock_.now_ms();
  a.status = r.ok() ? "succeeded" : "failed";
  if (r.status > 0) a.response_code = r.status;
  a.duration_ms = r.duration_ms;
  if (!r.error.empty()) a.error = r.error.substr(0, 500);
  a.created_at = now;
  const bool last = job.attempt >= job.max_attempts;
  const std::string status = r.ok() ? "succeeded" : (last ? "failed" : "retrying");

  bool disabled = false;
  db_.write([&](sql::Connection& c) {
    repo::record_attempt(c, d->id, a, status);
    if (is_ping) return;  // a test must not change the webhook's health
    if (r.ok()) {
      repo::mark_healthy(c, w->id);
      return;
    }
    repo::mark_failing(c, w->id, now);
    const int hours = static_cast<int>(opt_.disable_after_ms / 3600000);
    std::string reason = "Deliveries failed for " + std::to_string(hours) + " hours; last error: " + a.error.value_or("");
    if (!repo::disable_if_failing(c, w->id, now - opt_.disable_after_ms, reason.substr(0, 500), now)) return;
    disabled = true;
    events::Event e;
    e.type = kDisabledType;
    e.workspace_id = w->workspace_id;
    e.project_id = w->project_id;
    e.user_id = w->created_by;
    e.entity_type = "webhook";
    e.entity_id = w->id;
    e.payload = json::serialize(json::object{
        {"id", w->id}, {"project_id", w->project_id}, {"url", w->url}, {"disabled_reason", reason.substr(0, 500)}});
    outbox_.append(c, e);
    jobs::NewJob mail;
    mail.kind = kDisabledMailKind;
    mail.payload = json::serialize(json::object{
        {"webhook_id", w->id}, {"user_id", w->created_by}, {"url", w->url}, {"project_id", w->project_id},
        {"reason", reason.substr(0, 500)}});
    mail.key = "webhook-disabled:" + w->id + ":" + std::to_string(now);
    jobs_.enqueue(c, mail);
  });
  (r.ok() ? attempts_ok_ : attempts_failed_) += 1;
  if (disabled) disabled_total_ += 1;
  if (disabled) spdlog::warn("webhooks: webhook {} disabled after failing deliveries", w->id);
  if (!r.ok()) throw std::runtime_error("webhook delivery " + d->id + ": " + r.error);
}

std::string WebhookService::metrics() const {
  std::string out;
  auto line = [&](const char* name, const char* type, const char* help, const std::string& labels, int64_t v) {
    append_metric(out, name, type, help, v, labels);
  };
  line("taskhub_webhook_attempts_succeeded_total", "counter", "Webhook delivery attempts answered 2xx (this process).",
       "", attempts_ok_.load());
  line("taskhub_webhook_attempts_failed_total", "counter",
       "Webhook delivery attempts that failed: non-2xx, timeout, refused (this process).", "", attempts_failed_.load());
  line("taskhub_webhook_disabled_total", "counter", "Webhooks disabled after failing too long (this process).", "",
       disabled_total_.load());
  line("taskhub_webhook_deliveries_created_total", "counter", "Deliveries the outbox consumer created (this process).",
       "", fanned_out_.load());
  line("taskhub_webhook_consumer_seq", "gauge", "Outbox seq up to which this process's consumer fanned out.", "",
       cursor_.load());
  return out;
}

int64_t WebhookService::purge_log() {
  const int64_t before = clock_.now_ms() - kLogRetentionMs;
  int64_t total = 0;
  for (int i = 0; i < 100; ++i) {
    int64_t n = db_.write_value([&](sql::Connection& c) { return repo::purge_deliveries(c, before, 1000); });
    total += n;
    if (n < 1000) break;
  }
  return total;
}

void WebhookService::authorize(const std::string& user_id, const std::string& project_id) {
  if (!is_uuid(project_id)) throw not_found("The project does not exist.");
  require_admin(user_id, project_id, false);
}

void WebhookService::send_disabled_mail(const jobs::Job& job) {
  auto v = json::parse(job.payload).as_object();
  auto field = [&](const char* k) {
    auto* p = v.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  if (!mailer_) return;
  auto to = email_of_ ? email_of_(field("user_id")) : std::nullopt;
  if (!to) return;  // the account is gone: nobody to tell
  EmailMessage m;
  m.to = *to;
  m.subject = "Webhook disabled: " + field("url").substr(0, 100);
  m.text_body = "The webhook " + field("url") + " of project " + field("project_id") +
                " was disabled because its deliveries kept failing.\n\n" + field("reason") +
                "\n\nFix the receiver, then re-enable the webhook (PATCH /api/v1/webhooks/" + field("webhook_id") +
                " with {\"active\": true}).\n" + (opt_.public_url.empty() ? "" : opt_.public_url + "\n");
  mailer_->send(m);
}

}  // namespace taskhub::webhooks
