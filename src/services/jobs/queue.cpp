#include "services/jobs/queue.hpp"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "core/error.hpp"
#include "core/ids.hpp"

namespace taskhub::jobs {

namespace {

const char* const kColumns =
    "id, kind, payload, job_key, state, attempt, max_attempts, run_at, lease_until, locked_by, last_error, "
    "created_at, updated_at, finished_at";

JobRecord record_of(const sql::Row& r) {
  JobRecord j;
  j.id = r.str(0);
  j.kind = r.str(1);
  j.payload = r.str(2);
  j.key = r.opt_str(3);
  j.state = r.str(4);
  j.attempt = static_cast<int>(r.i64(5));
  j.max_attempts = static_cast<int>(r.i64(6));
  j.run_at = r.i64(7);
  j.lease_until = r.opt_i64(8);
  j.locked_by = r.opt_str(9);
  j.last_error = r.opt_str(10);
  j.created_at = r.i64(11);
  j.updated_at = r.i64(12);
  j.finished_at = r.opt_i64(13);
  return j;
}

// Cut to at most max bytes without splitting a UTF-8 sequence (the text ends up in JSON).
std::string bounded_utf8(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s;
}

double jitter_unit() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::optional<JobRecord> select_job(sql::Connection& c, const std::string& id) {
  auto r = c.query(std::string("SELECT ") + kColumns + " FROM jobs WHERE id = ?", {id});
  if (auto row = r.first()) return record_of(*row);
  return std::nullopt;
}

}  // namespace

int64_t backoff_delay_ms(int attempt, int64_t base_ms, int64_t max_ms, double unit) {
  if (attempt < 1) attempt = 1;
  int64_t delay = base_ms;
  // Doubling stops at the cap, so large attempt numbers cannot overflow.
  for (int i = 1; i < attempt && delay < max_ms; ++i) delay *= 2;
  delay = std::min(delay, max_ms);
  unit = std::clamp(unit, 0.0, 1.0);
  int64_t half = delay / 2;
  return half + static_cast<int64_t>(static_cast<double>(delay - half) * unit);
}

SqlJobQueue::SqlJobQueue(sql::Database& db, Clock& clock, QueueOptions options)
    : db_(db), clock_(clock), options_(options) {}

std::optional<std::string> SqlJobQueue::add(sql::Connection& c, const NewJob& job) {
  if (job.kind.empty() || job.kind.size() > kMaxKindBytes)
    throw std::invalid_argument("job kind must be 1-" + std::to_string(kMaxKindBytes) + " bytes");
  if (job.key.size() > kMaxKeyBytes)
    throw std::invalid_argument("job key must be at most " + std::to_string(kMaxKeyBytes) + " bytes");
  if (job.payload.size() > kMaxPayloadBytes)
    throw std::invalid_argument("job payload must be at most " + std::to_string(kMaxPayloadBytes) + " bytes");
  boost::system::error_code ec;
  auto parsed = boost::json::parse(job.payload, ec);
  if (ec || !parsed.is_object()) throw std::invalid_argument("job payload must be a JSON object");
  int max_attempts = job.max_attempts > 0 ? job.max_attempts : options_.default_max_attempts;
  if (max_attempts < 1 || max_attempts > kMaxAttemptsLimit)
    throw std::invalid_argument("job max_attempts must be 1-" + std::to_string(kMaxAttemptsLimit));

  int64_t now = clock_.now_ms();
  std::string id = new_uuid_v7();
  sql::Param key = job.key.empty() ? sql::Param() : sql::Param(job.key);
  int64_t n = c.query(
                   "INSERT INTO jobs (id, kind, payload, job_key, state, attempt, max_attempts, run_at, created_at, "
                   "updated_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?) ON CONFLICT (job_key) DO NOTHING",
                   {id, job.kind, job.payload, key, max_attempts, job.run_at_ms > 0 ? job.run_at_ms : now, now, now})
                  .affected;
  if (n == 0) return std::nullopt;
  wake();
  return id;
}

void SqlJobQueue::enqueue(sql::Connection& c, const NewJob& job) { add(c, job); }

void SqlJobQueue::enqueue(const NewJob& job) {
  db_.write([&](sql::Connection& c) { add(c, job); });
}

void SqlJobQueue::register_handler(const std::string& kind, Handler h) {
  if (kind.empty() || kind.size() > kMaxKindBytes) throw std::invalid_argument("job kind must be 1-100 bytes");
  std::lock_guard lk(mu_);
  if (!handlers_.emplace(kind, std::move(h)).second)
    throw std::invalid_argument("a handler for job kind '" + kind + "' is already registered");
  kinds_.push_back(kind);
  kinds_sql_ = "(";
  for (std::size_t i = 0; i < kinds_.size(); ++i) kinds_sql_ += i ? ", ?" : "?";
  kinds_sql_ += ")";
}

void SqlJobQueue::register_periodic(const std::string& name, const std::string& schedule, const std::string& kind,
                                    const std::string& payload) {
  if (name.empty() || name.size() > kMaxKindBytes) throw std::invalid_argument("periodic job name must be 1-100 bytes");
  auto parsed = CronSchedule::parse(schedule);  // throws naming the field at fault
  std::lock_guard lk(mu_);
  for (const auto& p : periodic_)
    if (p.name == name) throw std::invalid_argument("periodic job '" + name + "' is already registered");
  periodic_.push_back(Periodic{name, kind, payload, std::move(parsed), std::nullopt});
}

bool SqlJobQueue::has_handlers() const {
  std::lock_guard lk(mu_);
  return !handlers_.empty();
}

std::optional<Job> SqlJobQueue::claim(const std::string& worker_id) {
  std::vector<sql::Param> params;
  std::string kinds_sql;
  {
    std::lock_guard lk(mu_);
    if (kinds_.empty()) return std::nullopt;
    kinds_sql = kinds_sql_;
    for (const auto& k : kinds_) params.emplace_back(k);
  }
  const bool pg = db_.dialect() == sql::Dialect::postgres;
  // PostgreSQL: concurrent claimers skip each other's locked rows instead of queueing behind
  // them. SQLite has one writer at a time, so the single UPDATE is already exclusive.
  const std::string sql =
      std::string("UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_until = ?, locked_by = ?, "
                  "updated_at = ? WHERE id = (SELECT id FROM jobs WHERE kind IN ") +
      kinds_sql +
      " AND ((state = 'queued' AND run_at <= ?) OR (state = 'running' AND lease_until <= ?))"
      " ORDER BY run_at, id LIMIT 1" +
      (pg ? " FOR UPDATE SKIP LOCKED" : "") + ") RETURNING id, kind, payload, job_key, attempt, max_attempts, run_at";
  std::optional<Job> out;
  db_.write([&](sql::Connection& c) {
    int64_t now = clock_.now_ms();
    // A job whose worker died on its last attempt is dead-lettered, not run once more.
    int64_t dead = c.exec(
        "UPDATE jobs SET state = 'failed', lease_until = NULL, finished_at = ?, updated_at = ?, "
        "last_error = 'lease expired on the last attempt (worker lost)' "
        "WHERE state = 'running' AND lease_until <= ? AND attempt >= max_attempts",
        {now, now, now});
    if (dead > 0) spdlog::warn("jobs: {} job(s) dead-lettered after their worker was lost on the last attempt", dead);
    std::vector<sql::Param> all{now + options_.lease_ms, worker_id, now};
    for (auto& p : params) all.push_back(p);
    all.emplace_back(now);
    all.emplace_back(now);
    auto r = c.query(sql, std::span<const sql::Param>(all.data(), all.size()));
    if (auto row = r.first()) {
      Job j;
      j.id = row->str(0);
      j.kind = row->str(1);
      j.payload = row->str(2);
      j.key = row->opt_str(3).value_or("");
      j.attempt = static_cast<int>(row->i64(4));
      j.max_attempts = static_cast<int>(row->i64(5));
      j.run_at_ms = row->i64(6);
      out = std::move(j);
    }
  });
  return out;
}

bool SqlJobQueue::complete(const Job& job, const std::string& worker_id) {
  int64_t now = clock_.now_ms();
  int64_t n = db_.write_value([&](sql::Connection& c) {
    return c.exec(
        "UPDATE jobs SET state = 'succeeded', lease_until = NULL, finished_at = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running' AND locked_by = ? AND attempt = ?",
        {now, now, job.id, worker_id, job.attempt});
  });
  if (n == 0) spdlog::warn("jobs: job {} ({}) finished after its lease was taken over", job.id, job.kind);
  return n > 0;
}

bool SqlJobQueue::fail(const Job& job, const std::string& worker_id, const std::string& error) {
  int64_t now = clock_.now_ms();
  std::string err = bounded_utf8(error, kMaxErrorBytes);
  bool dead = job.attempt >= job.max_attempts;
  int64_t n = db_.write_value([&](sql::Connection& c) {
    if (dead)
      return c.exec(
          "UPDATE jobs SET state = 'failed', lease_until = NULL, last_error = ?, finished_at = ?, updated_at = ? "
          "WHERE id = ? AND state = 'running' AND locked_by = ? AND attempt = ?",
          {err, now, now, job.id, worker_id, job.attempt});
    int64_t delay = backoff_delay_ms(job.attempt, options_.backoff_base_ms, options_.backoff_max_ms, jitter_unit());
    return c.exec(
        "UPDATE jobs SET state = 'queued', lease_until = NULL, locked_by = NULL, last_error = ?, run_at = ?, "
        "updated_at = ? WHERE id = ? AND state = 'running' AND locked_by = ? AND attempt = ?",
        {err, now + delay, now, job.id, worker_id, job.attempt});
  });
  if (n == 0) {
    spdlog::warn("jobs: job {} ({}) failed after its lease was taken over", job.id, job.kind);
    return false;
  }
  if (dead)
    spdlog::error("jobs: job {} ({}) failed on attempt {}/{} and is dead-lettered: {}", job.id, job.kind, job.attempt,
                  job.max_attempts, err);
  else
    spdlog::warn("jobs: job {} ({}) failed on attempt {}/{}, will retry: {}", job.id, job.kind, job.attempt,
                 job.max_attempts, err);
  return true;
}

bool SqlJobQueue::renew_lease(const Job& job, const std::string& worker_id) {
  int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
           return c.exec(
               "UPDATE jobs SET lease_until = ?, updated_at = ? "
               "WHERE id = ? AND state = 'running' AND locked_by = ? AND attempt = ?",
               {now + options_.lease_ms, now, job.id, worker_id, job.attempt});
         }) > 0;
}

bool SqlJobQueue::run(const Job& job, const std::string& worker_id) {
  Handler h;
  {
    std::lock_guard lk(mu_);
    auto it = handlers_.find(job.kind);
    if (it != handlers_.end()) h = it->second;
  }
  if (!h) {
    fail(job, worker_id, "no handler for job kind '" + job.kind + "' in this process");
    return false;
  }
  std::string error;
  try {
    h(job);
    return complete(job, worker_id);
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown exception";
  }
  fail(job, worker_id, error.empty() ? "handler failed" : error);
  return false;
}

int SqlJobQueue::tick_periodic() {
  int64_t now = clock_.now_ms();
  std::vector<Periodic> due;
  {
    std::lock_guard lk(mu_);
    for (auto& p : periodic_) {
      // The first tick a process sees is the next one after it started: missed ticks while
      // no worker ran are not made up (cron semantics).
      if (!p.next_due) p.next_due = p.schedule.next_after(now);
      if (p.next_due && *p.next_due <= now) {
        due.push_back(p);
        p.next_due = p.schedule.next_after(now);
      }
    }
  }
  int enqueued = 0;
  for (const auto& p : due) {
    int64_t tick = *p.next_due;
    try {
      db_.write([&](sql::Connection& c) {
        int64_t won = c.exec("INSERT INTO job_ticks (name, tick_at, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                             {p.name, tick, now});
        if (won == 0) return;  // another worker took this tick
        NewJob j;
        j.kind = p.kind;
        j.payload = p.payload;
        j.key = "periodic:" + p.name + ":" + std::to_string(tick);
        j.run_at_ms = tick;
        if (add(c, j)) ++enqueued;
      });
    } catch (const std::exception& e) {
      // The tick is lost for this process only if every worker fails it; log and go on.
      spdlog::warn("jobs: periodic job {} (tick {}) could not be enqueued: {}", p.name, tick, e.what());
    }
  }
  return enqueued;
}

int64_t SqlJobQueue::purge(int64_t batch) {
  int64_t before = clock_.now_ms() - options_.retention_ms;
  return db_.write_value([&](sql::Connection& c) {
    int64_t n = c.exec(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN ('succeeded', 'cancelled') "
        "AND finished_at < ? ORDER BY finished_at LIMIT ?)",
        {before, batch});
    c.exec("DELETE FROM job_ticks WHERE tick_at < ?", {before});
    return n;
  });
}

void SqlJobQueue::wake() {
  {
    std::lock_guard lk(wake_mu_);
    ++wake_seq_;
  }
  wake_cv_.notify_all();
}

uint64_t SqlJobQueue::wake_seq() {
  std::lock_guard lk(wake_mu_);
  return wake_seq_;
}

void SqlJobQueue::wait_for_work(int64_t timeout_ms, const std::function<bool()>& stop,
                                std::optional<uint64_t> seen_seq) {
  std::unique_lock lk(wake_mu_);
  uint64_t seen = seen_seq.value_or(wake_seq_);
  wake_cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return wake_seq_ != seen || stop(); });
}

JobPage SqlJobQueue::list(const std::optional<std::string>& state, const std::optional<std::string>& kind,
                          const std::optional<std::string>& after_id, int limit) {
  std::string q = std::string("SELECT ") + kColumns + " FROM jobs WHERE 1 = 1";
  std::vector<sql::Param> params;
  if (state) {
    q += " AND state = ?";
    params.emplace_back(*state);
  }
  if (kind) {
    q += " AND kind = ?";
    params.emplace_back(*kind);
  }
  if (after_id) {
    q += " AND id < ?";
    params.emplace_back(*after_id);
  }
  q += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(limit + 1);
  JobPage page;
  db_.read([&](sql::Connection& c) {
    auto r = c.query(q, std::span<const sql::Param>(params.data(), params.size()));
    for (std::size_t i = 0; i < r.size() && static_cast<int>(i) < limit; ++i) page.items.push_back(record_of(r[i]));
    if (static_cast<int>(r.size()) > limit && !page.items.empty()) page.next_cursor = page.items.back().id;
  });
  return page;
}

std::optional<JobRecord> SqlJobQueue::get(const std::string& id) {
  if (!is_uuid(id)) return std::nullopt;
  return db_.read_value([&](sql::Connection& c) { return select_job(c, id); });
}

std::optional<JobRecord> SqlJobQueue::retry(const std::string& id) {
  if (!is_uuid(id)) return std::nullopt;
  auto out = db_.write_value([&](sql::Connection& c) -> std::optional<JobRecord> {
    auto j = select_job(c, id);
    if (!j) return std::nullopt;
    if (j->state == "running") throw conflict("job-running", "The job is running; it cannot be retried now.");
    if (j->state == "succeeded") throw conflict("job-succeeded", "The job has succeeded; it cannot be retried.");
    int64_t now = clock_.now_ms();
    // A fresh set of attempts: the job failed for a cause an operator has now dealt with.
    c.exec(
        "UPDATE jobs SET state = 'queued', attempt = 0, run_at = ?, lease_until = NULL, locked_by = NULL, "
        "finished_at = NULL, updated_at = ? WHERE id = ?",
        {now, now, id});
    return select_job(c, id);
  });
  if (out) wake();
  return out;
}

std::optional<JobRecord> SqlJobQueue::cancel(const std::string& id) {
  if (!is_uuid(id)) return std::nullopt;
  return db_.write_value([&](sql::Connection& c) -> std::optional<JobRecord> {
    auto j = select_job(c, id);
    if (!j) return std::nullopt;
    if (j->state == "cancelled") return j;
    if (j->state == "running")
      throw conflict("job-running", "The job is running; it can be cancelled only while queued or failed.");
    if (j->state == "succeeded") throw conflict("job-succeeded", "The job has succeeded; it cannot be cancelled.");
    int64_t now = clock_.now_ms();
    c.exec(
        "UPDATE jobs SET state = 'cancelled', lease_until = NULL, locked_by = NULL, finished_at = ?, updated_at = ? "
        "WHERE id = ?",
        {now, now, id});
    return select_job(c, id);
  });
}

}  // namespace taskhub::jobs
