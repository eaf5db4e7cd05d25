#include "services/notifications/service.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/pagination.hpp"
#include "core/time.hpp"
#include "services/auth/jwt.hpp"
#include "services/events/consumer_pacing.hpp"
#include "services/notifications/render.hpp"
#include "core/tz.hpp"

namespace taskhub::notifications {

namespace json = boost::json;

namespace {

constexpr std::size_t kBodyMax = 4000;        // bytes of a comment kept in a notification
constexpr std::size_t kBatchMax = 100;        // notifications per e-mail
constexpr std::size_t kScanMax = 2000;        // tasks per due scan / digest run
constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kDayMs = 24 * kHourMs;

const json::value* member(const json::value& v, std::string_view k) {
  if (!v.is_object()) return nullptr;
  return v.as_object().if_contains(k);
}
std::string jstr(const json::value* v) { return v && v->is_string() ? std::string(v->as_string()) : std::string(); }
int64_t jint(const json::value* v) { return v && v->is_int64() ? v->as_int64() : 0; }
std::vector<std::string> jstrs(const json::value* v) {
  std::vector<std::string> out;
  if (v && v->is_array())
    for (const auto& x : v->as_array())
      if (x.is_string()) out.emplace_back(x.as_string());
  return out;
}

// Cut at a code point boundary.
std::string bounded(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s + "…";
}

}  // namespace

json::object notification_to_json(const Notification& n) {
  boost::system::error_code ec;
  json::value data = json::parse(n.data, ec);
  if (ec || !data.is_object()) data = json::object{};
  return json::object{{"id", n.id},
                      {"kind", n.kind},
                      {"actor_id", n.actor_id.empty() ? json::value(nullptr) : json::value(n.actor_id)},
                      {"workspace_id", n.workspace_id.empty() ? json::value(nullptr) : json::value(n.workspace_id)},
                      {"project_id", n.project_id.empty() ? json::value(nullptr) : json::value(n.project_id)},
                      {"task_id", n.task_id.empty() ? json::value(nullptr) : json::value(n.task_id)},
                      {"title", n.title},
                      {"body", n.body},
                      {"data", data},
                      {"created_at", format_rfc3339_ms(n.created_at)},
                      {"read_at", n.read_at ? json::value(format_rfc3339_ms(*n.read_at)) : json::value(nullptr)}};
}

namespace {

const char* kCols =
    "id, user_id, kind, actor_id, workspace_id, project_id, task_id, title, body, data, created_at, read_at";

Notification row_to_notification(const sql::Row& r) {
  Notification n;
  n.id = r.str(0);
  n.user_id = r.str(1);
  n.kind = r.str(2);
  n.actor_id = r.str(3);
  n.workspace_id = r.str(4);
  n.project_id = r.str(5);
  n.task_id = r.str(6);
  n.title = r.str(7);
  n.body = r.str(8);
  n.data = r.str(9);
  n.created_at = r.i64(10);
  n.read_at = r.opt_i64(11);
  return n;
}

std::optional<Notification> find_own(sql::Connection& c, const std::string& user, const std::string& id) {
  auto res = c.query(std::string("SELECT ") + kCols + " FROM notifications WHERE id = ? AND user_id = ? AND hidden = 0",
                     {id, user});
  if (auto r = res.first()) return row_to_notification(*r);
  return std::nullopt;
}

Preference pref_of(sql::Connection& c, const std::string& user, const std::string& kind) {
  Preference p{kind, true, false};
  for (const auto& k : kinds())
    if (kind == k.name) p.email = k.email_default;
  auto res = c.query("SELECT in_app, email FROM notification_prefs WHERE user_id = ? AND kind = ?", {user, kind});
  if (auto r = res.first()) {
    p.in_app = r->i64(0) != 0;
    p.email = r->i64(1) != 0;
  }
  return p;
}

void set_pref(sql::Connection& c, const Preference& p, const std::string& user) {
  c.exec(
      "INSERT INTO notification_prefs (user_id, kind, in_app, email) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (user_id, kind) DO UPDATE SET in_app = excluded.in_app, email = excluded.email",
      {user, p.kind, p.in_app ? 1 : 0, p.email ? 1 : 0});
}

struct TaskRow {
  std::string task_id, workspace_id, project_id, title, due_date;
  int64_t number = 0;
  std::vector<std::string> assignees;
};

std::vector<TaskRow> due_tasks(sql::Connection& c, const std::string& from_date, const std::string& to_date) {
  auto res = c.query(
      "SELECT task_id, workspace_id, project_id, number, title, due_date, assignee_ids FROM notification_tasks "
      "WHERE open = 1 AND due_date IS NOT NULL AND due_date >= ? AND due_date <= ? ORDER BY due_date, task_id LIMIT ?",
      {from_date, to_date, static_cast<int64_t>(kScanMax)});
  std::vector<TaskRow> out;
  for (std::size_t i = 0; i < res.size(); ++i) {
    auto r = res[i];
    TaskRow t{r.str(0), r.str(1), r.str(2), r.str(4), r.str(5), r.i64(3), {}};
    boost::system::error_code ec;
    auto v = json::parse(r.str(6), ec);
    if (!ec) t.assignees = jstrs(&v);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

const std::vector<KindInfo>& kinds() {
  static const std::vector<KindInfo> k = {
      {"assigned", true},       {"mentioned", true},  {"commented", false}, {"state_changed", false},
      {"due_soon", true},       {"overdue", true},    {"invited", true},    {"added_to_project", true},
  };
  return k;
}

bool is_kind(std::string_view k) {
  for (const auto& x : kinds())
    if (k == x.name) return true;
  return false;
}

NotificationsService::NotificationsService(sql::Database& db, events::Outbox& outbox, jobs::JobQueue& jobs,
                                           Mailer& mailer, Clock& clock, Directory dir, Options opt)
    : db_(db), outbox_(outbox), jobs_(jobs), mailer_(mailer), clock_(clock), dir_(std::move(dir)), opt_(std::move(opt)) {
  if (opt_.batch_ms <= 0) opt_.batch_ms = 1000;
}

// ------------------------------------------------------------------------------ the consumer

std::string NotificationsService::actor_name(const std::string& actor_id) {
  if (actor_id.empty()) return "taskhub";
  auto u = dir_.user(actor_id);
  if (!u) return "Someone";
  return u->name.empty() ? u->email : u->name;
}

std::vector<NotificationsService::Draft> NotificationsService::drafts_for(const events::Event& e) {
  std::vector<Draft> out;
  if (e.type.rfind("notification.", 0) == 0) return out;
  static const std::set<std::string> wanted = {"task.created", "task.updated", "task.moved", "comment.created",
                                               "invitation.created", "invitation.resent", "project_member.added"};
  if (!wanted.count(e.type)) return out;
  boost::system::error_code ec;
  json::value p = json::parse(e.payload, ec);
  if (ec || !p.is_object()) return out;
  std::string actor = actor_name(e.actor_id);

  // The task as "WEB-12 Title": from the event when it carries the task, else the projection.
  std::string ref;
  auto task_ref = [&](const std::string& key) {
    if (!ref.empty()) return key + "-" + ref;
    const json::value* t = member(p, "task");
    std::string num, title;
    if (t) {
      num = std::to_string(jint(member(*t, "number")));
      title = jstr(member(*t, "title"));
    } else {
      db_.read([&](sql::Connection& c) {
        auto res = c.query("SELECT number, title FROM notification_tasks WHERE task_id = ?", {e.task_id});
        auto r = res.first();
        if (r) {
          num = std::to_string(r->i64(0));
          title = r->str(1);
        }
      });
    }
    if (num.empty()) return std::string("a task");
    ref = num + " " + title;
    return key + "-" + ref;
  };
  json::object base{{"event_id", e.id}, {"event_type", e.type}};

  auto add = [&](const std::string& user, const std::string& kind, const std::function<std::string(const ProjectView*)>& title,
                 std::string body = {}, json::object extra = {}) {
    if (user.empty() || user == e.actor_id) return;  // never about one's own action
    for (const auto& d : out)
      if (d.user_id == user) return;  // one notification per user per event (the first, most direct kind)
    std::optional<ProjectView> pv;
    if (!e.project_id.empty()) {
      pv = dir_.project(user, e.project_id);
      if (!pv) return;  // cannot see it (any more)
    }
    json::object data = base;
    for (auto& kv : extra) data[kv.key()] = kv.value();
    if (pv) data["project_key"] = pv->key;
    out.push_back(Draft{user, kind, e.id, bounded(title(pv ? &*pv : nullptr), 500), bounded(std::move(body), kBodyMax),
                        json::serialize(data)});
  };

  if (e.type == "task.created") {
    const json::value* t = member(p, "task");
    for (const auto& a : jstrs(t ? member(*t, "assignee_ids") : nullptr))
      add(a, "assigned", [&](const ProjectView* pv) { return actor + " assigned you to " + task_ref(pv->key); });
  } else if (e.type == "task.updated" || e.type == "task.moved") {
    const json::value* changes = member(p, "changes");
    if (const json::value* ch = changes ? member(*changes, "assignee_ids") : nullptr) {
      auto before = jstrs(member(*ch, "old"));
      for (const auto& a : jstrs(member(*ch, "new")))
        if (std::find(before.begin(), before.end(), a) == before.end())
          add(a, "assigned", [&](const ProjectView* pv) { return actor + " assigned you to " + task_ref(pv->key); });
    }
    if (const json::value* ch = changes ? member(*changes, "state_id") : nullptr) {
      std::string to = jstr(member(*ch, "new")), from = jstr(member(*ch, "old"));
      std::string state = dir_.state_name ? dir_.state_name(e.project_id, to).value_or("another state") : to;
      for (const auto& w : jstrs(member(p, "watcher_ids")))
        add(w, "state_changed",
            [&](const ProjectView* pv) { return actor + " moved " + task_ref(pv->key) + " to " + state; }, {},
            json::object{{"from_state_id", from}, {"to_state_id", to}, {"to_state", state}});
    }
  } else if (e.type == "comment.created") {
    std::string body = jstr(member(p, "body"));
    json::object extra{{"comment_id", jstr(member(p, "id"))}};
    for (const auto& m : jstrs(member(p, "mention_ids")))
      add(m, "mentioned", [&](const ProjectView* pv) { return actor + " mentioned you on " + task_ref(pv->key); },
          body, extra);
    for (const auto& w : jstrs(member(p, "watcher_ids")))
      add(w, "commented", [&](const ProjectView* pv) { return actor + " commented on " + task_ref(pv->key); }, body,
          extra);
  } else if (e.type == "invitation.created" || e.type == "invitation.resent") {
    std::string role = jstr(member(p, "role"));
    add(e.user_id, "invited",
        [&](const ProjectView*) { return actor + " invited you to join a workspace" + (role.empty() ? "" : " as " + role); },
        {}, json::object{{"invitation_id", jstr(member(p, "id"))}, {"role", role}});
  } else if (e.type == "project_member.added") {
    add(e.user_id, "added_to_project",
        [&](const ProjectView* pv) { return actor + " added you to the project " + (pv ? pv->name : std::string()); },
        {}, json::object{{"role", jstr(member(p, "role"))}});
  }
  return out;
}

void NotificationsService::track_task(sql::Connection& c, const events::Event& e) {
  if (e.type == "project.deleted") {
    c.exec("DELETE FROM notification_tasks WHERE project_id = ?", {e.project_id});
    return;
  }
  if (e.type.rfind("task.", 0) != 0) return;
  boost::system::error_code ec;
  json::value p = json::parse(e.payload, ec);
  const json::value* t = ec ? nullptr : member(p, "task");
  if (!t || !t->is_object()) return;
  std::string group = jstr(member(*t, "state_group"));
  bool open = group != "completed" && group != "cancelled" && jstr(member(*t, "archived_at")).empty() &&
              (!member(*t, "archived_at") || member(*t, "archived_at")->is_null()) &&
              (!member(*t, "deleted_at") || member(*t, "deleted_at")->is_null());
  const json::value* due = member(*t, "due_date");
  std::optional<std::string> due_date;
  if (due && due->is_string()) due_date = std::string(due->as_string());
  json::array assignees;
  for (const auto& a : jstrs(member(*t, "assignee_ids"))) assignees.push_back(json::value(a));
  c.exec(
      "INSERT INTO notification_tasks (task_id, workspace_id, project_id, number, title, due_date, open, assignee_ids, "
      "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET workspace_id = "
      "excluded.workspace_id, project_id = excluded.project_id, number = excluded.number, title = excluded.title, "
      "due_date = excluded.due_date, open = excluded.open, assignee_ids = excluded.assignee_ids, updated_at = "
      "excluded.updated_at",
      {e.task_id, e.workspace_id, e.project_id, jint(member(*t, "number")), bounded(jstr(member(*t, "title")), 500),
       due_date, open ? 1 : 0, json::serialize(assignees), e.time_ms});
}

std::size_t NotificationsService::store(sql::Connection& c, const events::Event* e, const std::vector<Draft>& drafts,
                                        int64_t now) {
  std::size_t created = 0;
  for (const auto& d : drafts) {
    Preference pref = pref_of(c, d.user_id, d.kind);
    if (!pref.in_app && !pref.email) continue;
    // Overdue tasks reach e-mail through the daily digest, never one by one.
    bool email = pref.email && d.kind != "overdue";
    Notification n;
    n.id = new_uuid_v7();
    n.user_id = d.user_id;
    n.kind = d.kind;
    n.title = d.title;
    n.body = d.body;
    n.data = d.data;
    n.created_at = now;
    if (e) {
      n.actor_id = e->actor_id;
      n.workspace_id = e->workspace_id;
      n.project_id = e->project_id;
      n.task_id = e->task_id;
    } else {
      boost::system::error_code ec;
      auto v = json::parse(d.data, ec);
      if (!ec) {
        n.workspace_id = jstr(member(v, "workspace_id"));
        n.project_id = jstr(member(v, "project_id"));
        n.task_id = jstr(member(v, "task_id"));
      }
    }
    auto inserted = c.exec(
        "INSERT INTO notifications (id, user_id, kind, source_key, actor_id, workspace_id, project_id, task_id, title, "
        "body, data, created_at, email_state, hidden) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (source_key, user_id, kind) DO NOTHING",
        {n.id, n.user_id, n.kind, d.source_key, n.actor_id, n.workspace_id, n.project_id, n.task_id, n.title, n.body,
         n.data, now, email ? "pending" : "none", pref.in_app ? 0 : 1});
    if (inserted != 1) continue;  // already made (an event consumed twice, a due date scanned again)
    ++created;
    if (pref.in_app) {
      events::Event ev;
      ev.type = "notification.created";
      ev.actor_id = n.actor_id;
      // Only the user channel: project and workspace channels must not carry someone's notification.
      ev.user_id = n.user_id;
      ev.entity_type = "notification";
      ev.entity_id = n.id;
      ev.payload = json::serialize(notification_to_json(n));
      outbox_.append(c, std::move(ev));
    }
    if (email) {
      int64_t window = now / opt_.batch_ms;
      jobs::NewJob j;
      j.kind = "notifications.email_batch";
      j.key = "email:" + n.user_id + ":" + std::to_string(window);
      j.payload = json::serialize(json::object{{"user_id", n.user_id}, {"window", window}});
      j.run_at_ms = (window + 1) * opt_.batch_ms;
      jobs_.enqueue(c, j);
    }
  }
  return created;
}

int64_t NotificationsService::cursor() {
  return db_.read_value(
      [](sql::Connection& c) { return c.query("SELECT last_seq FROM notification_consumer WHERE id = 1")[0].i64(0); });
}

std::optional<std::size_t> NotificationsService::consume_once(const std::string& holder, int64_t lease_ms,
                                                              std::size_t limit) {
  int64_t now = clock_.now_ms();
  events::LeaseState lease;
  db_.read([&](sql::Connection& c) { lease = events::read_lease(c, "notification_consumer", holder, now, lease_ms); });
  if (!lease.free) return std::nullopt;
  const int64_t cur = lease.last_seq;
  auto evs = outbox_.since(cur, limit);
  if (evs.empty() && lease.fresh) return 0;  // idle: no write just to renew a lease still half valid
  // Other services are asked (names, visibility) before the transaction, not inside it.
  std::vector<std::vector<Draft>> drafts;
  drafts.reserve(evs.size());
  for (const auto& e : evs) drafts.push_back(drafts_for(e));
  bool won = false;
  db_.write([&](sql::Connection& c) {
    // Fenced on the cursor read above: a consumer that lost the lease meanwhile changes nothing.
    won = events::claim_lease(c, "notification_consumer", holder, now, lease_ms, cur);
    if (!won || evs.empty()) return;
    for (std::size_t i = 0; i < evs.size(); ++i) {
      track_task(c, evs[i]);
      store(c, &evs[i], drafts[i], now);
    }
    events::move_cursor(c, "notification_consumer", evs.back().seq);
  });
  if (!won) return std::nullopt;
  return evs.size();
}

void NotificationsService::release(const std::string& holder) {
  db_.write([&](sql::Connection& c) {
    c.exec("UPDATE notification_consumer SET lease_until = 0 WHERE id = 1 AND holder = ?", {holder});
  });
}

// ------------------------------------------------------------------------------ due dates

std::string NotificationsService::timezone_of(const std::string& user) {
  auto tz = db_.read_value([&](sql::Connection& c) -> std::optional<std::string> {
    auto res = c.query("SELECT timezone FROM notification_settings WHERE user_id = ?", {user});
    if (auto r = res.first())
      return r->str(0);
    return std::nullopt;
  });
  if (tz) return *tz;
  if (auto u = dir_.user(user); u && !u->timezone.empty() && utc_offset_s(u->timezone, 0, opt_.zoneinfo_dir))
    return u->timezone;
  return "UTC";
}

std::size_t NotificationsService::scan_due() {
  int64_t now = clock_.now_ms();
  int64_t today = now / kDayMs;
  // A day of margin on each side for time zones; overdue is only looked for within 30 days.
  auto tasks = db_.read_value([&](sql::Connection& c) {
    return due_tasks(c, date_from_days(today - 30), date_from_days((now + opt_.due_soon_ms) / kDayMs + 1));
  });
  std::map<std::string, int64_t> offsets;  // per user, once per run
  std::vector<Draft> drafts;
  for (const auto& t : tasks) {
    auto due_day = days_from_date(t.due_date);
    if (!due_day) continue;
    for (const auto& u : t.assignees) {
      auto it = offsets.find(u);
      if (it == offsets.end())
        it = offsets.emplace(u, utc_offset_s(timezone_of(u), now, opt_.zoneinfo_dir).value_or(0)).first;
      // Due at the end of the due date in the user's zone.
      int64_t due_at = (*due_day + 1) * kDayMs - it->second * 1000;
      std::string kind;
      if (now >= due_at) kind = "overdue";
      else if (now >= due_at - opt_.due_soon_ms) kind = "due_soon";
      else continue;
      auto pv = dir_.project(u, t.project_id);
      if (!pv) continue;
      std::string ref = pv->key + "-" + std::to_string(t.number) + " " + t.title;
      json::object data{{"due_date", t.due_date}, {"project_key", pv->key}, {"workspace_id", t.workspace_id},
                        {"project_id", t.project_id}, {"task_id", t.task_id}};
      drafts.push_back(Draft{u, kind, kind + ":" + t.task_id + ":" + t.due_date,
                             kind == "overdue" ? ref + " is overdue (due " + t.due_date + ")"
                                               : ref + " is due " + t.due_date,
                             "", json::serialize(data)});
    }
  }
  if (drafts.empty()) return 0;
  return db_.write_value([&](sql::Connection& c) { return store(c, nullptr, drafts, now); });
}

// ------------------------------------------------------------------------------ e-mail

std::string NotificationsService::make_token(const std::string& user, const std::vector<std::string>& ks) const {
  std::string k;
  for (const auto& x : ks) k += (k.empty() ? "" : ",") + x;
  std::string body = auth::base64url_encode(user + "|" + k);
  return body + "." + auth::base64url_encode(auth::hmac_sha256(opt_.token_key, "unsubscribe|" + body));
}

std::optional<std::pair<std::string, std::vector<std::string>>> NotificationsService::verify_token(
    std::string_view token) const {
  if (token.size() > 1024) return std::nullopt;
  auto dot = token.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string body(token.substr(0, dot));
  auto sig = auth::base64url_decode(token.substr(dot + 1));
  std::string want = auth::hmac_sha256(opt_.token_key, "unsubscribe|" + body);
  if (!sig || sig->size() != want.size() || CRYPTO_memcmp(sig->data(), want.data(), want.size()) != 0)
    return std::nullopt;
  auto text = auth::base64url_decode(body);
  if (!text) return std::nullopt;
  auto bar = text->find('|');
  if (bar == std::string::npos) return std::nullopt;
  std::pair<std::string, std::vector<std::string>> out{text->substr(0, bar), {}};
  std::string rest = text->substr(bar + 1);
  std::size_t pos = 0;
  while (pos <= rest.size()) {
    auto comma = rest.find(',', pos);
    std::string k = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!is_kind(k)) return std::nullopt;
    out.second.push_back(k);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  if (out.first.empty() || out.second.empty()) return std::nullopt;
  return out;
}

std::vector<std::string> NotificationsService::unsubscribe(std::string_view token) {
  auto t = verify_token(token);
  if (!t) throw bad_field("token", "is not a valid unsubscribe token");
  db_.write([&](sql::Connection& c) {
    for (const auto& k : t->second) {
      Preference p = pref_of(c, t->first, k);
      p.email = false;
      set_pref(c, p, t->first);
    }
  });
  return t->second;
}

namespace {

struct Composed {
  std::string subject, text, html;
};

std::string unsubscribe_url(const std::string& base, const std::string& token) {
  return base + "/api/v1/notifications/unsubscribe?token=" + token;
}

std::string html_page(const std::string& title, const std::string& inner, const std::string& unsub) {
  return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + markup_escape(title) +
         "</title></head><body style=\"font-family:sans-serif\">" + inner +
         "<hr><p style=\"font-size:small;color:#666\">You receive this because of your notification settings. <a href=\"" +
         markup_escape(unsub) + "\">Unsubscribe from these e-mails</a>.</p></body></html>";
}

}  // namespace

void NotificationsService::run_batch(const std::string& user, int64_t window) {
  int64_t now = clock_.now_ms();
  std::string key = "email:" + user + ":" + std::to_string(window);
  auto rcpt = dir_.user(user);
  std::optional<std::string> email_id;
  db_.write([&](sql::Connection& c) {
    auto existing = c.query("SELECT id FROM email_outbox WHERE batch_key = ?", {key});
    if (auto r = existing.first()) {
      email_id = r->str(0);  // made by an earlier attempt of this job: only the send remains
      return;
    }
    auto pending = c.query(std::string("SELECT ") + kCols +
                               " FROM notifications WHERE user_id = ? AND email_state = 'pending' ORDER BY id LIMIT ?",
                           {user, static_cast<int64_t>(kBatchMax + 1)});
    if (pending.empty()) return;
    if (!rcpt || rcpt->email.empty()) {
      c.exec("UPDATE notifications SET email_state = 'none' WHERE user_id = ? AND email_state = 'pending'", {user});
      return;
    }
    // The hourly cap counts batch e-mails made in the last hour (the daily digest is not counted).
    auto recent_res = c.query(
        "SELECT COUNT(*), MIN(created_at) FROM email_outbox WHERE user_id = ? AND created_at > ? AND batch_key LIKE "
        "'email:%'",
        {user, now - kHourMs});
    auto recent = recent_res[0];
    if (recent.i64(0) >= opt_.email_hourly_cap) {
      // Stay pending; the batch of the window in which the oldest of those leaves the hour takes them.
      int64_t allowed = recent.i64(1) + kHourMs + 1;
      int64_t w = allowed / opt_.batch_ms;
      jobs::NewJob j;
      j.kind = "notifications.email_batch";
      j.key = "email:" + user + ":" + std::to_string(w);
      j.payload = json::serialize(json::object{{"user_id", user}, {"window", w}});
      j.run_at_ms = std::max(allowed, (w + 1) * opt_.batch_ms);
      jobs_.enqueue(c, j);
      return;
    }
    std::vector<Notification> items;
    std::set<std::string> ks;
    for (std::size_t i = 0; i < pending.size() && i < kBatchMax; ++i) {
      auto n = row_to_notification(pending[i]);
      if (!pref_of(c, user, n.kind).email) {  // turned off since it was made
        c.exec("UPDATE notifications SET email_state = 'none' WHERE id = ?", {n.id});
        continue;
      }
      ks.insert(n.kind);
      items.push_back(std::move(n));
    }
    if (pending.size() > kBatchMax) {  // the rest in the next window
      int64_t w = now / opt_.batch_ms + 1;
      jobs_.enqueue(c, jobs::NewJob{"notifications.email_batch",
                                    json::serialize(json::object{{"user_id", user}, {"window", w}}),
                                    "email:" + user + ":" + std::to_string(w), (w + 1) * opt_.batch_ms, 0});
    }
    if (items.empty()) return;
    std::string token = make_token(user, std::vector<std::string>(ks.begin(), ks.end()));
    std::string unsub = unsubscribe_url(opt_.public_url, token);
    Composed m;
    m.subject = items.size() == 1 ? bounded(items[0].title, 200)
                                  : std::to_string(items.size()) + " new notifications on taskhub";
    std::string inner = "<h2>" + markup_escape(m.subject) + "</h2>";
    for (const auto& n : items) {
      m.text += "* " + n.title + "\n";
      inner += "<div style=\"margin:1em 0\"><p><strong>" + markup_escape(n.title) + "</strong></p>";
      if (!n.body.empty()) {
        std::string quoted;
        for (std::size_t pos = 0; pos < n.body.size();) {
          auto nl = n.body.find('\n', pos);
          quoted += "  > " + n.body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos) + "\n";
          if (nl == std::string::npos) break;
          pos = nl + 1;
        }
        m.text += quoted;
        inner += "<blockquote>" + markdown_to_html(n.body) + "</blockquote>";
      }
      inner += "</div>";
    }
    m.text += "\nOpen taskhub: " + opt_.public_url + "\nUnsubscribe from these e-mails: " + unsub + "\n";
    m.html = html_page(m.subject, inner, unsub);
    json::array headers{json::array{"List-Unsubscribe", "<" + unsub + ">"},
                        json::array{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
    email_id = new_uuid_v7();
    c.exec(
        "INSERT INTO email_outbox (id, user_id, batch_key, state, to_addr, subject, text_body, html_body, headers, "
        "created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        {*email_id, user, key, rcpt->email, m.subject, m.text, m.html, json::serialize(headers), now});
    for (const auto& n : items)
      c.exec("UPDATE notifications SET email_state = 'batched', email_id = ? WHERE id = ?", {*email_id, n.id});
  });
  if (email_id) send_email(*email_id);
}

void NotificationsService::send_email(const std::string& id) {
  EmailMessage msg;
  bool go = false;
  db_.write([&](sql::Connection& c) {
    auto res = c.query("SELECT state, to_addr, subject, text_body, html_body, headers FROM email_outbox WHERE id = ?",
                       {id});
    auto r = res.first();
    if (!r) return;
    std::string state = r->str(0);
    if (state == "sending") {
      // A previous attempt died after committing "sending": SMTP may have accepted it. Never
      // resend (the issue asks for no duplicates); an operator can see the row.
      spdlog::warn("notifications: e-mail {} was being sent when its worker stopped; not sending it again", id);
      c.exec("UPDATE email_outbox SET state = 'abandoned' WHERE id = ? AND state = 'sending'", {id});
      return;
    }
    if (state != "pending") return;
    msg.to = r->str(1);
    msg.subject = r->str(2);
    msg.text_body = r->str(3);
    msg.html_body = r->str(4);
    boost::system::error_code ec;
    auto hs = json::parse(r->str(5), ec);
    if (!ec && hs.is_array())
      for (const auto& h : hs.as_array())
        if (h.is_array() && h.as_array().size() == 2)
          msg.headers.emplace_back(std::string(h.as_array()[0].as_string()), std::string(h.as_array()[1].as_string()));
    go = c.exec("UPDATE email_outbox SET state = 'sending', sending_at = ? WHERE id = ? AND state = 'pending'",
                {clock_.now_ms(), id}) == 1;
  });
  if (!go) return;
  try {
    mailer_.send(msg);
  } catch (const std::exception& e) {
    // The server did not accept it (no 250 after DATA): back to pending, the job retries.
    db_.write([&](sql::Connection& c) {
      c.exec("UPDATE email_outbox SET state = 'pending', sending_at = NULL WHERE id = ? AND state = 'sending'", {id});
    });
    throw;
  }
  if (opt_.test_hook == "crash_after_smtp") {
    spdlog::warn("notifications: test hook crash_after_smtp: exiting before recording e-mail {}", id);
    ::_exit(86);
  }
  db_.write([&](sql::Connection& c) {
    c.exec("UPDATE email_outbox SET state = 'sent', sent_at = ? WHERE id = ?", {clock_.now_ms(), id});
  });
  if (opt_.test_hook == "fail_after_send") throw std::runtime_error("test hook fail_after_send");
}

std::size_t NotificationsService::run_digest() {
  int64_t now = clock_.now_ms();
  int64_t today = now / kDayMs;
  auto tasks = db_.read_value(
      [&](sql::Connection& c) { return due_tasks(c, date_from_days(today - 366), date_from_days(today + 1)); });
  std::map<std::string, std::vector<const TaskRow*>> by_user;
  for (const auto& t : tasks)
    for (const auto& u : t.assignees) by_user[u].push_back(&t);
  std::size_t made = 0;
  for (const auto& [user, list] : by_user) {
    auto off = utc_offset_s(timezone_of(user), now, opt_.zoneinfo_dir).value_or(0);
    LocalTime local = to_local(now, off);
    if (local.hour < 8) continue;  // at or after 08:00: a missed hourly tick still sends the day's digest
    std::vector<std::pair<const TaskRow*, ProjectView>> overdue;
    for (const TaskRow* t : list)
      if (t->due_date < local.date)
        if (auto pv = dir_.project(user, t->project_id)) overdue.emplace_back(t, *pv);
    if (overdue.empty()) continue;
    auto rcpt = dir_.user(user);
    if (!rcpt || rcpt->email.empty()) continue;
    std::string unsub = unsubscribe_url(opt_.public_url, make_token(user, {"overdue"}));
    std::string subject = std::to_string(overdue.size()) + (overdue.size() == 1 ? " overdue task" : " overdue tasks") +
                          " on " + local.date;
    std::string text = subject + "\n\n", inner = "<h2>" + markup_escape(subject) + "</h2><ul>";
    for (const auto& [t, pv] : overdue) {
      std::string line = pv.key + "-" + std::to_string(t->number) + " " + t->title + " (due " + t->due_date + ")";
      text += "* " + line + "\n";
      inner += "<li>" + markup_escape(line) + "</li>";
    }
    inner += "</ul>";
    text += "\nOpen taskhub: " + opt_.public_url + "\nUnsubscribe from the digest: " + unsub + "\n";
    json::array headers{json::array{"List-Unsubscribe", "<" + unsub + ">"},
                        json::array{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}};
    std::string id = new_uuid_v7();
    db_.write([&](sql::Connection& c) {
      if (!pref_of(c, user, "overdue").email) return;
      // Once per local day, however many times the hour's job runs.
      if (c.exec("INSERT INTO email_outbox (id, user_id, batch_key, state, to_addr, subject, text_body, html_body, "
                 "headers, created_at) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_key) DO NOTHING",
                 {id, user, "digest:" + user + ":" + local.date, rcpt->email, subject, text,
                  html_page(subject, inner, unsub), json::serialize(headers), now}) != 1)
        return;
      jobs_.enqueue(c, jobs::NewJob{"notifications.email_send", json::serialize(json::object{{"id", id}}),
                                    "send:" + id, 0, 0});
      ++made;
    });
  }
  return made;
}

void NotificationsService::register_jobs(jobs::JobQueue& q, const std::string& digest_schedule) {
  auto payload = [](const jobs::Job& j) {
    auto v = json::parse(j.payload);
    if (!v.is_object()) throw std::runtime_error("payload is not an object");
    return v;
  };
  q.register_handler("notifications.email_batch", [this, payload](const jobs::Job& j) {
    auto v = payload(j);
    run_batch(jstr(member(v, "user_id")), jint(member(v, "window")));
  });
  q.register_handler("notifications.email_send",
                     [this, payload](const jobs::Job& j) { send_email(jstr(member(payload(j), "id"))); });
  q.register_handler("notifications.due_scan", [this](const jobs::Job&) {
    if (auto n = scan_due()) spdlog::info("notifications: {} due-date notifications", n);
  });
  q.register_handler("notifications.digest", [this](const jobs::Job&) {
    if (auto n = run_digest()) spdlog::info("notifications: {} digests queued", n);
  });
  q.register_periodic("notifications.due_scan", "* * * * *", "notifications.due_scan");
  q.register_periodic("notifications.digest", digest_schedule, "notifications.digest");
}

// ------------------------------------------------------------------------------ the API

NotificationPage NotificationsService::list(const std::string& user, bool unread_only,
                                            const std::optional<std::string>& cursor, int limit) {
  // Unread first, then read; newest first in each. Cursor: [phase (0 unread, 1 read), last id].
  int phase = 0;
  std::optional<std::string> after;
  if (cursor) {
    auto a = decode_cursor(*cursor, 2);
    if (!a[0].is_int64() || (a[0].as_int64() != 0 && a[0].as_int64() != 1) || !a[1].is_string() ||
        !is_uuid(a[1].as_string()))
      throw bad_field("cursor", "is not a valid cursor");
    phase = static_cast<int>(a[0].as_int64());
    after = std::string(a[1].as_string());
  }
  NotificationPage page;
  db_.read([&](sql::Connection& c) {
    auto fetch = [&](int ph, const std::optional<std::string>& before, int64_t n) {
      std::string q = std::string("SELECT ") + kCols + " FROM notifications WHERE user_id = ? AND hidden = 0 AND " +
                      (ph == 0 ? "read_at IS NULL" : "read_at IS NOT NULL") + (before ? " AND id < ?" : "") +
                      " ORDER BY id DESC LIMIT ?";
      auto res = before ? c.query(q, {user, *before, n}) : c.query(q, {user, n});
      for (std::size_t i = 0; i < res.size(); ++i) page.items.push_back(row_to_notification(res[i]));
    };
    if (phase == 0) fetch(0, after, limit + 1);
    if (!unread_only && static_cast<int>(page.items.size()) <= limit)
      fetch(1, phase == 1 ? after : std::nullopt, limit + 1 - static_cast<int64_t>(page.items.size()));
  });
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.resize(limit);
    const auto& last = page.items.back();
    page.next_cursor = encode_cursor(json::array{last.read_at ? 1 : 0, last.id});
  }
  return page;
}

int64_t NotificationsService::unread_count(const std::string& user) {
  return db_.read_value([&](sql::Connection& c) {
    return c.query("SELECT COUNT(*) FROM notifications WHERE user_id = ? AND hidden = 0 AND read_at IS NULL", {user})[0]
        .i64(0);
  });
}

Notification NotificationsService::mark_read(const std::string& user, const std::string& id) {
  if (!is_uuid(id)) throw not_found("No such notification.");
  int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
    c.exec("UPDATE notifications SET read_at = ? WHERE id = ? AND user_id = ? AND read_at IS NULL", {now, id, user});
    auto n = find_own(c, user, id);
    if (!n) throw not_found("No such notification.");
    return *n;
  });
}

int64_t NotificationsService::mark_all_read(const std::string& user) {
  int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
    return c.exec("UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL AND hidden = 0",
                  {now, user});
  });
}

void NotificationsService::remove(const std::string& user, const std::string& id) {
  if (!is_uuid(id)) throw not_found("No such notification.");
  db_.write([&](sql::Connection& c) {
    // Hidden, not deleted: the row is the idempotency record of its event (a replay must not
    // bring it back) and may still wait for its e-mail.
    if (c.exec("UPDATE notifications SET hidden = 1 WHERE id = ? AND user_id = ? AND hidden = 0", {id, user}) != 1)
      throw not_found("No such notification.");
  });
}

Preferences NotificationsService::preferences(const std::string& user) {
  Preferences out;
  out.timezone = timezone_of(user);
  db_.read([&](sql::Connection& c) {
    for (const auto& k : kinds()) out.kinds.push_back(pref_of(c, user, k.name));
  });
  return out;
}

Preferences NotificationsService::update_preferences(const std::string& user, const PreferencesPatch& patch) {
  if (patch.timezone && !utc_offset_s(*patch.timezone, clock_.now_ms(), opt_.zoneinfo_dir))
    throw bad_field("timezone", "must be an IANA time zone name such as Europe/Paris");
  db_.write([&](sql::Connection& c) {
    if (patch.timezone)
      c.exec(
          "INSERT INTO notification_settings (user_id, timezone, updated_at) VALUES (?, ?, ?) "
          "ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone, updated_at = excluded.updated_at",
          {user, *patch.timezone, clock_.now_ms()});
    for (const auto& [kind, in_app, email] : patch.kinds) {
      Preference p = pref_of(c, user, kind);
      if (in_app) p.in_app = *in_app;
      if (email) p.email = *email;
      set_pref(c, p, user);
    }
  });
  return preferences(user);
}

}  // namespace taskhub::notifications
