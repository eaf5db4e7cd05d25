// The one list of modules and their dependencies. `taskhub services` prints it; `serve
// --services` picks from it. Add a module here and nowhere else (no static self-registration:
// it silently drops modules linked from static libraries).
#include "app/infra_modules.hpp"
#include "app/modules.hpp"
#include "services/analytics/module.hpp"
#include "services/auth/module.hpp"
#include "services/docs/module.hpp"
#include "services/events/module.hpp"
#include "services/files/module.hpp"
#include "services/idempotency/module.hpp"
#include "services/jobs/module.hpp"
#include "services/notifications/module.hpp"
#include "services/projects/module.hpp"
#include "services/realtime/module.hpp"
#include "services/tasks/module.hpp"
#include "services/webhooks/module.hpp"

namespace taskhub {

const std::vector<ModuleDef>& module_definitions() {
  static const std::vector<ModuleDef> defs = {
      {"database", {}, "SQL pool (SQLite or PostgreSQL from DATABASE_URL); applies migrations at start-up",
       make_database_module},
      {"mailer", {}, "outgoing e-mail: SMTP via libcurl (SMTP_URL) or the log", make_mailer_module},
      {"ops", {"database"}, "/healthz, /readyz and Prometheus /metrics", make_ops_module},
      {"auth", {"database", "mailer"},
       "accounts, sessions, JWT and API tokens, password reset, admin user management", auth::make_module},
      {"docs", {}, "OpenAPI document, Swagger UI and ReDoc", docs::make_module},
      {"idempotency", {"database"}, "Idempotency-Key on every authenticated POST (keys kept 24 h)",
       idempotency::make_module},
      {"events", {"database"},
       "domain events: transactional outbox, relay (seq, retention), in-process or Redis bus, /api/v1/admin/events",
       events::make_module},
      {"projects", {"database", "mailer", "auth", "events"},
       "workspaces, members and invitations, projects, project members, workflow states, labels",
       projects::make_module},
      {"tasks", {"database", "projects", "events"},
       "tasks, comments, @mentions, activity, watchers, relations, reactions, saved views, search",
       tasks::make_module},
      {"realtime", {"auth", "projects", "tasks", "events"},
       "live events: WebSocket /api/v1/ws and Server-Sent Events /api/v1/events (permissions, replay, bounds)",
       realtime::make_module},
      {"jobs", {"database"}, "durable job queue (SQL table; SKIP LOCKED on PostgreSQL), /api/v1/admin/jobs",
       jobs::make_jobs_module},
      {"worker", {"jobs"}, "runs background jobs: retries with backoff, dead letters, periodic (cron) jobs",
       jobs::make_worker_module},
      {"notifications", {"database", "mailer", "auth", "projects", "events", "jobs"},
       "in-app notifications, preferences, batched e-mail (sent by the worker), due dates, daily digest",
       notifications::make_module},
      {"webhooks", {"database", "auth", "projects", "events", "jobs", "mailer"},
       "per-project webhooks: outbox consumer, signed deliveries by the worker, SSRF checks, delivery log",
       webhooks::make_module},
      {"analytics", {"database", "projects", "tasks", "events"},
       "reports from a read model kept from task events: summary, throughput, cycle time, burndown, flow, workload; CSV/SVG",
       analytics::make_module},
      {"files", {"database", "projects", "tasks", "events", "jobs"},
       "attachments: uploads streamed to disk, local or S3 blob store, quotas, safe downloads with ranges",
       files::make_module},
  };
  return defs;
}

}  // namespace taskhub
