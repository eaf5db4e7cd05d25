#pragma once
// Configuration: environment variables, optionally from a .env file (real environment wins).
// Every variable is documented in .env.example and docs/configuration.md.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskhub {

enum class Environment { development, testing, production };

struct Config {
  Environment env = Environment::development;
  std::string database_url = "sqlite://./data/taskhub.db";
  std::string redis_uri;  // empty: in-process bus
  std::string jwt_secret;
  std::string jwt_issuer = "taskhub";
  std::string jwt_audience = "taskhub-api";
  int64_t access_token_ttl_s = 15 * 60;
  int64_t refresh_token_ttl_s = 30 * 24 * 3600;
  std::string smtp_url;  // empty: log mailer
  std::string mail_from = "taskhub <no-reply@localhost>";
  std::string public_url = "http://localhost:5000";
  std::string bind_address = "0.0.0.0";
  int port = 5000;
  int io_threads = 0;          // 0: cores
  int blocking_threads = 0;    // 0: http::default_blocking_threads(), max(4, 2 * cores)
  int write_threads = 0;       // 0: write_pool_size() picks by database
  int hash_threads = 0;        // 0: cores (Argon2id pool)
  int db_pool_size = 4;
  bool sqlite_sync_every_commit = true;  // SQLITE_SYNCHRONOUS=full (default) or normal
  std::vector<std::string> cors_origins;
  std::vector<std::string> trusted_proxies;
  std::string docs_assets_dir;  // node_modules with swagger-ui-dist and redoc
  std::string log_level = "info";
  bool access_log = true;
  int64_t max_body_bytes = 1 << 20;
  int64_t max_header_bytes = 16 * 1024;
  int64_t header_timeout_ms = 10'000;
  int64_t idle_timeout_ms = 60'000;
  int64_t shutdown_grace_ms = 10'000;
  // Login throttling
  int login_max_failures = 10;           // per account within the window
  int64_t login_window_s = 15 * 60;
  int login_ip_max_attempts = 100;       // per client IP within the window
  bool registration_open = true;
  // Tasks
  int task_purge_days = 30;  // deleted tasks are removed for good after this many days
  // Realtime (services/realtime): WebSocket /api/v1/ws and SSE /api/v1/events
  int64_t ws_max_connections = 10'000;      // streams per process; more -> 503
  int64_t ws_send_queue_max = 1024;         // messages queued per connection; more -> close 4008
  int64_t ws_send_queue_bytes = 4 << 20;    // bytes queued per connection; more -> close 4008
  int64_t ws_max_message_bytes = 64 * 1024; // incoming WebSocket message; larger -> close 1009
  int64_t ws_ping_seconds = 25;             // ping / SSE heartbeat; silent peer dropped after 2x
  int64_t ws_auth_timeout_ms = 5000;        // the auth message must arrive within this -> else 4001
  int64_t ws_credential_check_seconds = 60;  // streams' credentials re-checked (revoked, logged out)
  int64_t ws_replay_max = 1000;             // more missed events -> "reload"
  // Domain events (services/events): published events are kept this long for replay, then purged
  int event_retention_hours = 48;
  // Background jobs (services/jobs)
  int job_max_attempts = 8;              // then the job is dead-lettered (state "failed")
  int64_t job_lease_s = 300;             // a running job not finished by then is claimed again
  int64_t job_backoff_base_ms = 2000;    // retry delay: base * 2^(attempt-1), jittered, capped
  int64_t job_backoff_max_ms = 3'600'000;
  int job_retention_days = 7;            // succeeded and cancelled jobs are purged after this
  int worker_threads = 2;                // jobs run concurrently per worker process
  int64_t worker_poll_ms = 1000;         // idle poll interval (enqueues in-process wake at once)
  int64_t worker_stop_grace_ms = 30'000; // shutdown waits this long for running jobs
  // Notifications (services/notifications)
  int64_t notify_due_soon_hours = 24;       // "due soon" this long before the end of the due date
  int64_t notify_email_batch_seconds = 120; // changes within this window share one e-mail
  int notify_email_hourly_cap = 20;         // batch e-mails per user per hour; more wait
  // Webhooks (services/webhooks)
  int64_t webhook_timeout_ms = 5000;     // connect + total time of one delivery attempt
  int webhook_max_attempts = 8;          // attempts per delivery (retried with the job backoff)
  int webhook_disable_after_hours = 24;  // a webhook failing this long is disabled (0: at the first failure)
  std::vector<std::string> webhook_allow_hosts;          // host names exempt from the address check
  std::vector<std::string> webhook_allow_private_cidrs;  // CIDRs exempt from the address check
  // S3 blob store (adapters/s3); an empty bucket means local disk. Endpoint and bucket syntax are
  // checked by the adapter when the files service starts (its messages name the variables).
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_endpoint;  // empty: AWS (https://s3.<region>.amazonaws.com)
  bool s3_path_style = false;  // default: true with S3_ENDPOINT (compatible stores), virtual host on AWS
  std::string aws_access_key_id;
  std::string aws_secret_access_key;
  // Files (services/files)
  std::string files_dir = "./data/files";              // local blob store root (and its upload spool)
  int64_t files_max_upload_bytes = 25LL << 20;         // one file; larger -> 413
  int64_t files_workspace_quota_bytes = 1LL << 30;     // sum of a workspace's attachments; more -> 507
  int64_t files_max_per_task = 100;                    // attachments on one task; more -> 409

  bool is_production() const { return env == Environment::production; }
};

// Parses KEY=VALUE lines (# comments, optional quotes, optional "export "). Missing file: {}.
std::map<std::string, std::string> read_dotenv(const std::string& path);

// Reads the process environment (and .env at dotenv_path if present). Throws
// std::runtime_error with a message naming the variable on any invalid value, and in
// production when JWT_SECRET_KEY is missing, a known default, or shorter than 32 bytes.
Config load_config(const std::string& dotenv_path = ".env");

// Same, from an explicit map (unit tests).
Config config_from_map(const std::map<std::string, std::string>& vars);

const char* environment_name(Environment e);

// The write pool's size: WRITE_THREADS, else http::default_write_threads for the database of
// DATABASE_URL (group commit on SQLite). The server and the login admission bound use it.
int write_pool_size(const Config& c);

}  // namespace taskhub
