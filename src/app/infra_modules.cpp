#include "app/infra_modules.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include "core/metrics_text.hpp"
#include "ports/migrations.hpp"

namespace taskhub {

namespace {

// SQLite's write costs for /metrics: pages per commit is what a write costs this engine.
std::string write_metrics(const sql::Database& db) {
  const auto st = db.write_stats();
  std::string out;
  auto counter = [&](const char* name, const char* help, auto value) { append_metric(out, name, "counter", help, value); };
  counter("taskhub_sqlite_commits_total", "Write transactions committed (a group commit counts once).", st.commits);
  counter("taskhub_sqlite_wal_pages_total", "Pages the commits appended to the write-ahead log.", st.wal_pages);
  counter("taskhub_sqlite_checkpoints_total", "WAL checkpoints run.", st.checkpoints);
  counter("taskhub_sqlite_wal_syncs_total", "fdatasyncs of the WAL that made commits durable (one covers many).",
          st.wal_syncs);
  counter("taskhub_sqlite_write_units_total", "Write units committed (per commit: the group commit's size).", st.units);
  counter("taskhub_sqlite_writer_busy_seconds_total", "Time the single writer spent in transactions (near 1 s/s: writes queue).",
          static_cast<double>(st.writer_busy_ns) / 1e9);
  return out;
}

}  // namespace

std::unique_ptr<sql::Database> open_configured_database(const Config& config) {
  sql::PoolOptions opt;
  opt.readers = config.db_pool_size;
  opt.sync_every_commit = config.sqlite_sync_every_commit;
  return sql::open_database(config.database_url, opt);
}

namespace {

class DatabaseModule final : public Module {
 public:
  explicit DatabaseModule(AppContext& ctx) {
    db_ = open_configured_database(ctx.config);
    auto applied = sql::migrate(*db_);
    for (const auto& name : applied) spdlog::info("applied migration {}", name);
    ctx.db = db_.get();
    sql::Database* db = db_.get();
    ctx.readiness_checks.emplace_back("database", [db] { return db->ping(); });
    if (db->dialect() == sql::Dialect::sqlite) ctx.metrics_sources.emplace_back([db] { return write_metrics(*db); });
    ctx.readiness_checks.emplace_back("migrations", [db] {
      try {
        return sql::migration_status(*db).up_to_date();
      } catch (const std::exception&) {
        return false;
      }
    });
  }

 private:
  std::unique_ptr<sql::Database> db_;
};

class MailerModule final : public Module {
 public:
  explicit MailerModule(AppContext& ctx) {
    mailer_ = make_mailer(ctx.config.smtp_url, ctx.config.mail_from);
    ctx.mailer = mailer_.get();
  }

 private:
  std::unique_ptr<Mailer> mailer_;
};

// Liveness, readiness and metrics. /healthz never touches the database (a slow database
// must not get the process restarted); /readyz does, so it runs on the blocking pool.
class OpsModule final : public Module {
 public:
  explicit OpsModule(AppContext& ctx) {
    http::RouteOptions inline_public{.auth = http::Auth::none, .inline_handler = true};
    ctx.router.add(
        "GET", "/healthz",
        [](http::Request&) { return http::Response::json(200, boost::json::object{{"status", "ok"}}); },
        inline_public);
    ctx.router.add(
        "GET", "/readyz",
        [&ctx](http::Request&) {
          boost::json::object checks;
          bool ok = true;
          for (auto& [name, check] : ctx.readiness_checks) {
            bool pass = false;
            try {
              pass = check();
            } catch (const std::exception& e) {
              spdlog::warn("readiness check {} threw: {}", name, e.what());
            }
            checks[name] = pass ? "ok" : "failing";
            ok = ok && pass;
          }
          return http::Response::json(ok ? 200 : 503,
                                      boost::json::object{{"status", ok ? "ready" : "not ready"}, {"checks", checks}});
        },
        {.auth = http::Auth::none});
    ctx.router.add(
        "GET", "/metrics",
        [&ctx](http::Request&) {
          std::string text = ctx.server.metrics_text();
          for (auto& source : ctx.metrics_sources) text += source();
          return http::Response::text(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8");
        },
        inline_public);
  }
};

}  // namespace

std::unique_ptr<Module> make_database_module(AppContext& ctx) { return std::make_unique<DatabaseModule>(ctx); }
std::unique_ptr<Module> make_mailer_module(AppContext& ctx) { return std::make_unique<MailerModule>(ctx); }
std::unique_ptr<Module> make_ops_module(AppContext& ctx) { return std::make_unique<OpsModule>(ctx); }

}  // namespace taskhub
