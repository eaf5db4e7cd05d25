#pragma once
// The notifications service (issue 4): a durable consumer of the event outbox that turns
// events into per-user notifications, the in-app API's rules, preferences, and e-mail
// (batched, capped, sent by the worker, at most once per batch row). See docs/architecture.md
// "Notifications".
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/job_queue.hpp"
#include "ports/mailer.hpp"
#include "ports/sql.hpp"

namespace taskhub::notifications {

// The kinds, in API order. Defaults: in-app on for all; e-mail on for the direct ones.
struct KindInfo {
  const char* name;
  bool email_default;
};
const std::vector<KindInfo>& kinds();
bool is_kind(std::string_view k);

struct Options {
  int64_t due_soon_ms = 24LL * 3600 * 1000;  // NOTIFY_DUE_SOON_HOURS
  int64_t batch_ms = 120'000;                // NOTIFY_EMAIL_BATCH_SECONDS
  int email_hourly_cap = 20;                 // NOTIFY_EMAIL_HOURLY_CAP
  std::string public_url = "http://localhost:5000";
  std::string token_key;                     // HMAC key of unsubscribe tokens
  std::string zoneinfo_dir = "/usr/share/zoneinfo";
  // Testing only (TASKHUB_ENV=testing): "fail_after_send" makes the send job throw after the
  // e-mail was recorded as sent; "crash_after_smtp" ends the process (_exit) between the SMTP
  // hand-off and recording it.
  std::string test_hook;
};

struct Recipient {
  std::string email;
  std::string name;
  std::string timezone;  // the account's own setting, used when notifications has none
};
struct ProjectView {
  std::string key;
  std::string name;
};

// What notifications need from other services (auth, projects), as functions so that unit
// tests pass fakes. Each may block (database reads).
struct Directory {
  std::function<std::optional<Recipient>(const std::string& user_id)> user;
  // The project as `user` sees it; nullopt when they cannot see it (no notification then).
  std::function<std::optional<ProjectView>(const std::string& user_id, const std::string& project_id)> project;
  std::function<std::optional<std::string>(const std::string& project_id, const std::string& state_id)> state_name;
};

struct Notification {
  std::string id;
  std::string user_id;
  std::string kind;
  std::string actor_id;
  std::string workspace_id;
  std::string project_id;
  std::string task_id;
  std::string title;
  std::string body;
  std::string data = "{}";
  int64_t created_at = 0;
  std::optional<int64_t> read_at;
};

// The API and event representation.
boost::json::object notification_to_json(const Notification& n);

struct NotificationPage {
  std::vector<Notification> items;
  std::optional<std::string> next_cursor;  // opaque
};

struct Preference {
  std::string kind;
  bool in_app = true;
  bool email = false;
};
struct Preferences {
  std::string timezone;
  std::vector<Preference> kinds;
};
struct PreferencesPatch {
  std::optional<std::string> timezone;
  std::vector<std::tuple<std::string, std::optional<bool>, std::optional<bool>>> kinds;  // kind, in_app, email
};

class NotificationsService {
 public:
  NotificationsService(sql::Database& db, events::Outbox& outbox, jobs::JobQueue& jobs, Mailer& mailer, Clock& clock,
                       Directory dir, Options opt);

  // --- the consumer
  // One pass as `holder`: takes (or renews) the consumer lease, reads at most `limit` events
  // after the stored cursor, writes their notifications and advances the cursor in one
  // transaction. Returns the events consumed; nullopt when another process holds the lease.
  std::optional<std::size_t> consume_once(const std::string& holder, int64_t lease_ms, std::size_t limit = 200);
  void release(const std::string& holder);
  int64_t cursor();

  // --- periodic jobs
  std::size_t scan_due();                 // due soon / overdue notifications (once per task, date, kind)
  std::size_t run_digest();               // enqueues today's digest for users whose local time is 08:00 or later (once per local day)
  // --- e-mail jobs
  void run_batch(const std::string& user_id, int64_t window);  // "notifications.email_batch"
  void send_email(const std::string& email_id);                // "notifications.email_send"
  void register_jobs(jobs::JobQueue& q, const std::string& digest_schedule);

  // --- the API (user is the caller; another user's ids answer 404)
  NotificationPage list(const std::string& user, bool unread_only, const std::optional<std::string>& cursor, int limit);
  int64_t unread_count(const std::string& user);
  Notification mark_read(const std::string& user, const std::string& id);
  int64_t mark_all_read(const std::string& user);
  void remove(const std::string& user, const std::string& id);
  Preferences preferences(const std::string& user);
  Preferences update_preferences(const std::string& user, const PreferencesPatch& patch);

  // Unsubscribe tokens: HMAC-signed (user, kinds). verify() returns nullopt when tampered.
  std::string make_token(const std::string& user, const std::vector<std::string>& kinds) const;
  std::optional<std::pair<std::string, std::vector<std::string>>> verify_token(std::string_view token) const;
  // Turns e-mail off for the token's kinds; returns them. Throws 400 on a bad token.
  std::vector<std::string> unsubscribe(std::string_view token);

  // The zone used for `user` (own setting, else the account's, else UTC).
  std::string timezone_of(const std::string& user);

 private:
  struct Draft {
    std::string user_id, kind, source_key, title, body, data = "{}";
  };
  std::vector<Draft> drafts_for(const events::Event& e);
  // Inserts (idempotently) and, for new rows, emits notification.created and schedules e-mail.
  std::size_t store(sql::Connection& c, const events::Event* e, const std::vector<Draft>& drafts, int64_t now);
  void track_task(sql::Connection& c, const events::Event& e);
  std::string actor_name(const std::string& actor_id);

  sql::Database& db_;
  events::Outbox& outbox_;
  jobs::JobQueue& jobs_;
  Mailer& mailer_;
  Clock& clock_;
  Directory dir_;
  Options opt_;
};

}  // namespace taskhub::notifications
