#include "services/events/outbox.hpp"

#include "core/ids.hpp"

namespace taskhub::events {

namespace {

constexpr const char* kColumns =
    "id, seq, type, time_ms, actor_id, workspace_id, project_id, task_id, user_id, entity_type, entity_id, payload, "
    "schema_version";

Event event_from_row(const sql::Row& r) {
  Event e;
  e.id = r.str(0);
  e.seq = r.opt_i64(1).value_or(0);
  e.type = r.str(2);
  e.time_ms = r.i64(3);
  e.actor_id = r.str(4);
  e.workspace_id = r.str(5);
  e.project_id = r.str(6);
  e.task_id = r.str(7);
  e.user_id = r.str(8);
  e.entity_type = r.str(9);
  e.entity_id = r.str(10);
  e.payload = r.str(11);
  e.schema_version = static_cast<int>(r.i64(12));
  return e;
}

std::vector<Event> events_of(const sql::Result& res) {
  std::vector<Event> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(event_from_row(res[i]));
  return out;
}

}  // namespace

int& thread_appends() {
  thread_local int n = 0;
  return n;
}

void SqlOutbox::append(sql::Connection& c, Event e) {
  if (e.id.empty()) e.id = new_uuid_v7();
  if (e.time_ms == 0) e.time_ms = clock_.now_ms();
  if (e.payload.empty()) e.payload = "{}";
  c.exec(
      "INSERT INTO events (id, type, time_ms, actor_id, workspace_id, project_id, task_id, user_id, entity_type, "
      "entity_id, payload, schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {e.id, e.type, e.time_ms, e.actor_id, e.workspace_id, e.project_id, e.task_id, e.user_id, e.entity_type,
       e.entity_id, e.payload, e.schema_version});
  ++thread_appends();
}

// The relay's polls and the consumers' reads of events are meant to run on its partial indexes
// (pending, unpublished, by seq). PostgreSQL plans them from statistics that lag behind a queue
// table: until autovacuum's first ANALYZE after events grew from empty, it took the table for
// empty and read every row on every poll, 3 to 7 ms each, several polls a second (found with
// auto_explain after a burst of creates, where they pushed the p99 of unrelated task-list
// requests from 2.5 ms to 4-5.7 ms). SET LOCAL lasts for this read unit only.
void SqlOutbox::prefer_indexes(sql::Connection& c) {
  if (db_.dialect() == sql::Dialect::postgres) c.exec("SET LOCAL enable_seqscan = off");
}

std::vector<Event> SqlOutbox::since(int64_t after_seq, std::size_t limit) {
  if (limit == 0) return {};
  return db_.read_value([&](sql::Connection& c) {
    prefer_indexes(c);
    return events_of(c.query(
        std::string("SELECT ") + kColumns + " FROM events WHERE seq IS NOT NULL AND seq > ? ORDER BY seq LIMIT ?",
        {after_seq, static_cast<int64_t>(limit)}));
  });
}

std::optional<int64_t> SqlOutbox::seq_of(const std::string& event_id) {
  return db_.read_value([&](sql::Connection& c) -> std::optional<int64_t> {
    auto r = c.query("SELECT seq FROM events WHERE id = ?", {event_id});
    if (r.empty() || r[0].is_null(0)) return std::nullopt;
    return r[0].i64(0);
  });
}

int64_t SqlOutbox::last_seq() {
  return db_.read_value(
      [&](sql::Connection& c) { return c.query("SELECT last_seq FROM event_relay WHERE id = 1")[0].i64(0); });
}

std::optional<std::size_t> SqlOutbox::sequence(const std::string& holder, int64_t lease_ms, std::size_t max) {
  const int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) -> std::optional<std::size_t> {
    // On PostgreSQL a second relay blocks on the row lock here and then re-checks the WHERE
    // against the committed row: at most one holder at a time on either engine.
    if (c.exec("UPDATE event_relay SET holder = ?, lease_until = ? WHERE id = 1 AND (holder = ? OR lease_until < ?)",
               {holder, now + lease_ms, holder, now}) != 1)
      return std::nullopt;
    int64_t seq = c.query("SELECT last_seq FROM event_relay WHERE id = 1")[0].i64(0);
    auto ids =
        c.query("SELECT id FROM events WHERE seq IS NULL ORDER BY time_ms, id LIMIT ?", {static_cast<int64_t>(max)});
    for (std::size_t i = 0; i < ids.size(); ++i)
      c.exec("UPDATE events SET seq = ?, relayed_at = ? WHERE id = ?", {++seq, now, ids[i].str(0)});
    if (!ids.empty()) c.exec("UPDATE event_relay SET last_seq = ? WHERE id = 1", {seq});
    return ids.size();
  });
}

std::vector<Event> SqlOutbox::unpublished(std::size_t limit) {
  return db_.read_value([&](sql::Connection& c) {
    return events_of(c.query(std::string("SELECT ") + kColumns +
                                 " FROM events WHERE seq IS NOT NULL AND published_at IS NULL ORDER BY seq LIMIT ?",
                             {static_cast<int64_t>(limit)}));
  });
}

void SqlOutbox::mark_published(int64_t from_seq, int64_t to_seq) {
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    c.exec("UPDATE events SET published_at = ? WHERE seq >= ? AND seq <= ? AND published_at IS NULL",
           {now, from_seq, to_seq});
  });
}

std::size_t SqlOutbox::purge(int64_t before_ms, std::size_t batch) {
  return static_cast<std::size_t>(db_.write_value([&](sql::Connection& c) {
    return c.exec(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE relayed_at IS NOT NULL AND relayed_at < ? AND "
        "published_at IS NOT NULL ORDER BY relayed_at LIMIT ?)",
        {before_ms, static_cast<int64_t>(batch)});
  }));
}

void SqlOutbox::release(const std::string& holder) {
  db_.write([&](sql::Connection& c) {
    c.exec("UPDATE event_relay SET lease_until = 0 WHERE id = 1 AND holder = ?", {holder});
  });
}

bool SqlOutbox::has_work() {
  return db_.read_value([&](sql::Connection& c) {
    prefer_indexes(c);
    return !c.query("SELECT 1 FROM events WHERE seq IS NULL LIMIT 1").empty() ||
           !c.query("SELECT 1 FROM events WHERE seq IS NOT NULL AND published_at IS NULL LIMIT 1").empty();
  });
}

int64_t SqlOutbox::backlog() {
  return db_.read_value([&](sql::Connection& c) {
    return c
        .query(
            "SELECT (SELECT COUNT(*) FROM events WHERE seq IS NULL) + "
            "(SELECT COUNT(*) FROM events WHERE seq IS NOT NULL AND published_at IS NULL)")[0]
        .i64(0);
  });
}

int64_t SqlOutbox::delivery_start() {
  return db_.read_value([&](sql::Connection& c) {
    auto r = c.query("SELECT MIN(seq) FROM events WHERE seq IS NOT NULL AND published_at IS NULL");
    if (!r.empty() && !r[0].is_null(0)) return r[0].i64(0) - 1;
    return c.query("SELECT last_seq FROM event_relay WHERE id = 1")[0].i64(0);
  });
}

std::string SqlOutbox::stream_name() {
  return db_.write_value([&](sql::Connection& c) {
    c.exec("UPDATE event_relay SET stream = ? WHERE id = 1 AND stream = ''", {new_uuid_v7()});
    return c.query("SELECT stream FROM event_relay WHERE id = 1")[0].str(0);
  });
}

}  // namespace taskhub::events
