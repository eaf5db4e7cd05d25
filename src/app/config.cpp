#include "app/config.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "http/server.hpp"

extern char** environ;

namespace taskhub {

namespace {

// Secrets that appear in examples and tutorials: refusing them in production is cheap insurance.
constexpr const char* kDevSecret = "dev-insecure-secret-change-me-0123456789abcdef";
const char* kKnownDefaults[] = {kDevSecret, "secret", "changeme", "change-me", "your-secret-key",
                                "super-secret", "jwt-secret", "CHANGE_ME"};

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t\r\n");
  auto e = s.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!trim(cur).empty()) out.push_back(trim(cur));
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

int64_t to_int(const std::string& name, const std::string& v, int64_t min, int64_t max) {
  try {
    std::size_t pos = 0;
    long long x = std::stoll(v, &pos);
    if (pos != v.size()) throw std::invalid_argument(v);
    if (x < min || x > max) throw std::out_of_range(v);
    return x;
  } catch (const std::exception&) {
    throw std::runtime_error(name + " must be an integer between " + std::to_string(min) + " and " +
                             std::to_string(max) + " (got '" + v + "')");
  }
}

bool to_bool(const std::string& name, const std::string& v) {
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  throw std::runtime_error(name + " must be true or false (got '" + v + "')");
}

}  // namespace

const char* environment_name(Environment e) {
  switch (e) {
    case Environment::development: return "development";
    case Environment::testing: return "testing";
    case Environment::production: return "production";
  }
  return "?";
}

std::map<std::string, std::string> read_dotenv(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw std::runtime_error(path + ":" + std::to_string(lineno) + ": expected KEY=VALUE");
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
    out[key] = value;
  }
  return out;
}

Config config_from_map(const std::map<std::string, std::string>& vars) {
  Config c;
  auto get = [&](const char* k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };

  if (auto v = get("TASKHUB_ENV")) {
    if (*v == "development") c.env = Environment::development;
    else if (*v == "testing") c.env = Environment::testing;
    else if (*v == "production") c.env = Environment::production;
    else throw std::runtime_error("TASKHUB_ENV must be development, testing or production (got '" + *v + "')");
  }
  if (auto v = get("DATABASE_URL")) c.database_url = *v;
  if (auto v = get("REDIS_URI")) c.redis_uri = *v;
  if (auto v = get("JWT_ISSUER")) c.jwt_issuer = *v;
  if (auto v = get("JWT_AUDIENCE")) c.jwt_audience = *v;
  if (auto v = get("ACCESS_TOKEN_TTL_SECONDS")) c.access_token_ttl_s = to_int("ACCESS_TOKEN_TTL_SECONDS", *v, 30, 86400);
  if (auto v = get("REFRESH_TOKEN_TTL_SECONDS"))
    c.refresh_token_ttl_s = to_int("REFRESH_TOKEN_TTL_SECONDS", *v, 300, 365LL * 86400);
  if (auto v = get("SMTP_URL")) c.smtp_url = *v;
  if (auto v = get("MAIL_FROM")) c.mail_from = *v;
  if (auto v = get("PUBLIC_URL")) {
    c.public_url = *v;
    while (!c.public_url.empty() && c.public_url.back() == '/') c.public_url.pop_back();
  }
  if (auto v = get("BIND_ADDRESS")) c.bind_address = *v;
  if (auto v = get("PORT")) c.port = static_cast<int>(to_int("PORT", *v, 0, 65535));
  if (auto v = get("IO_THREADS")) c.io_threads = static_cast<int>(to_int("IO_THREADS", *v, 0, 256));
  if (auto v = get("BLOCKING_THREADS")) c.blocking_threads = static_cast<int>(to_int("BLOCKING_THREADS", *v, 0, 1024));
  if (auto v = get("WRITE_THREADS")) c.write_threads = static_cast<int>(to_int("WRITE_THREADS", *v, 0, 1024));
  if (auto v = get("HASH_THREADS")) c.hash_threads = static_cast<int>(to_int("HASH_THREADS", *v, 0, 256));
  if (auto v = get("DB_POOL_SIZE")) c.db_pool_size = static_cast<int>(to_int("DB_POOL_SIZE", *v, 1, 256));
  if (auto v = get("SQLITE_SYNCHRONOUS")) {
    if (*v == "full") c.sqlite_sync_every_commit = true;
    else if (*v == "normal") c.sqlite_sync_every_commit = false;
    else throw std::runtime_error("SQLITE_SYNCHRONOUS must be full or normal (got '" + *v + "')");
  }
  if (auto v = get("CORS_ORIGINS")) c.cors_origins = split_list(*v);
  if (auto v = get("TRUSTED_PROXIES")) c.trusted_proxies = split_list(*v);
  if (auto v = get("DOCS_ASSETS_DIR")) c.docs_assets_dir = *v;
  if (auto v = get("LOG_LEVEL")) c.log_level = *v;
  if (auto v = get("ACCESS_LOG")) c.access_log = to_bool("ACCESS_LOG", *v);
  if (auto v = get("MAX_BODY_BYTES")) c.max_body_bytes = to_int("MAX_BODY_BYTES", *v, 1024, 1LL << 32);
  if (auto v = get("MAX_HEADER_BYTES")) c.max_header_bytes = to_int("MAX_HEADER_BYTES", *v, 1024, 1 << 20);
  if (auto v = get("HEADER_TIMEOUT_MS")) c.header_timeout_ms = to_int("HEADER_TIMEOUT_MS", *v, 100, 600'000);
  if (auto v = get("IDLE_TIMEOUT_MS")) c.idle_timeout_ms = to_int("IDLE_TIMEOUT_MS", *v, 100, 3'600'000);
  if (auto v = get("SHUTDOWN_GRACE_MS")) c.shutdown_grace_ms = to_int("SHUTDOWN_GRACE_MS", *v, 0, 600'000);
  if (auto v = get("LOGIN_MAX_FAILURES")) c.login_max_failures = static_cast<int>(to_int("LOGIN_MAX_FAILURES", *v, 1, 1000));
  if (auto v = get("LOGIN_WINDOW_SECONDS")) c.login_window_s = to_int("LOGIN_WINDOW_SECONDS", *v, 1, 86400);
  if (auto v = get("LOGIN_IP_MAX_ATTEMPTS"))
    c.login_ip_max_attempts = static_cast<int>(to_int("LOGIN_IP_MAX_ATTEMPTS", *v, 1, 1'000'000));
  if (auto v = get("REGISTRATION_OPEN")) c.registration_open = to_bool("REGISTRATION_OPEN", *v);
  if (auto v = get("TASK_PURGE_DAYS")) c.task_purge_days = static_cast<int>(to_int("TASK_PURGE_DAYS", *v, 1, 3650));
  if (auto v = get("WS_MAX_CONNECTIONS")) c.ws_max_connections = to_int("WS_MAX_CONNECTIONS", *v, 1, 1'000'000);
  if (auto v = get("WS_SEND_QUEUE_MAX")) c.ws_send_queue_max = to_int("WS_SEND_QUEUE_MAX", *v, 1, 1'000'000);
  if (auto v = get("WS_SEND_QUEUE_BYTES")) c.ws_send_queue_bytes = to_int("WS_SEND_QUEUE_BYTES", *v, 1024, 1LL << 30);
  if (auto v = get("WS_MAX_MESSAGE_BYTES"))
    c.ws_max_message_bytes = to_int("WS_MAX_MESSAGE_BYTES", *v, 256, 16 << 20);
  if (auto v = get("WS_PING_SECONDS")) c.ws_ping_seconds = to_int("WS_PING_SECONDS", *v, 1, 3600);
  if (auto v = get("WS_AUTH_TIMEOUT_MS")) c.ws_auth_timeout_ms = to_int("WS_AUTH_TIMEOUT_MS", *v, 100, 600'000);
  if (auto v = get("WS_CREDENTIAL_CHECK_SECONDS"))
    c.ws_credential_check_seconds = to_int("WS_CREDENTIAL_CHECK_SECONDS", *v, 1, 3600);
  if (auto v = get("WS_REPLAY_MAX")) c.ws_replay_max = to_int("WS_REPLAY_MAX", *v, 1, 1'000'000);
  if (auto v = get("EVENT_RETENTION_HOURS"))
    c.event_retention_hours = static_cast<int>(to_int("EVENT_RETENTION_HOURS", *v, 24, 24 * 3650));
  if (auto v = get("JOB_MAX_ATTEMPTS")) c.job_max_attempts = static_cast<int>(to_int("JOB_MAX_ATTEMPTS", *v, 1, 100));
  if (auto v = get("JOB_LEASE_SECONDS")) c.job_lease_s = to_int("JOB_LEASE_SECONDS", *v, 1, 86400);
  if (auto v = get("JOB_BACKOFF_BASE_MS")) c.job_backoff_base_ms = to_int("JOB_BACKOFF_BASE_MS", *v, 10, 3'600'000);
  if (auto v = get("JOB_BACKOFF_MAX_MS")) c.job_backoff_max_ms = to_int("JOB_BACKOFF_MAX_MS", *v, 10, 7 * 86'400'000LL);
  if (auto v = get("JOB_RETENTION_DAYS")) c.job_retention_days = static_cast<int>(to_int("JOB_RETENTION_DAYS", *v, 1, 3650));
  if (auto v = get("NOTIFY_DUE_SOON_HOURS")) c.notify_due_soon_hours = to_int("NOTIFY_DUE_SOON_HOURS", *v, 1, 24 * 30);
  if (auto v = get("NOTIFY_EMAIL_BATCH_SECONDS"))
    c.notify_email_batch_seconds = to_int("NOTIFY_EMAIL_BATCH_SECONDS", *v, 1, 3600);
  if (auto v = get("NOTIFY_EMAIL_HOURLY_CAP"))
    c.notify_email_hourly_cap = static_cast<int>(to_int("NOTIFY_EMAIL_HOURLY_CAP", *v, 1, 1000));
  if (auto v = get("WORKER_THREADS")) c.worker_threads = static_cast<int>(to_int("WORKER_THREADS", *v, 1, 64));
  if (auto v = get("WORKER_POLL_MS")) c.worker_poll_ms = to_int("WORKER_POLL_MS", *v, 50, 60'000);
  if (auto v = get("WORKER_STOP_GRACE_MS")) c.worker_stop_grace_ms = to_int("WORKER_STOP_GRACE_MS", *v, 0, 600'000);
  if (auto v = get("WEBHOOK_TIMEOUT_MS")) c.webhook_timeout_ms = to_int("WEBHOOK_TIMEOUT_MS", *v, 100, 60'000);
  if (auto v = get("WEBHOOK_MAX_ATTEMPTS"))
    c.webhook_max_attempts = static_cast<int>(to_int("WEBHOOK_MAX_ATTEMPTS", *v, 1, 100));
  if (auto v = get("WEBHOOK_DISABLE_AFTER_HOURS"))
    c.webhook_disable_after_hours = static_cast<int>(to_int("WEBHOOK_DISABLE_AFTER_HOURS", *v, 0, 24 * 365));
  if (auto v = get("WEBHOOK_ALLOW_HOSTS")) c.webhook_allow_hosts = split_list(*v);
  if (auto v = get("WEBHOOK_ALLOW_PRIVATE_CIDRS")) c.webhook_allow_private_cidrs = split_list(*v);
  if (auto v = get("S3_BUCKET")) c.s3_bucket = *v;
  if (auto v = get("S3_REGION")) c.s3_region = *v;
  if (auto v = get("S3_ENDPOINT")) c.s3_endpoint = *v;
  c.s3_path_style = !c.s3_endpoint.empty();
  if (auto v = get("S3_PATH_STYLE")) c.s3_path_style = to_bool("S3_PATH_STYLE", *v);
  if (auto v = get("AWS_ACCESS_KEY_ID")) c.aws_access_key_id = *v;
  if (auto v = get("AWS_SECRET_ACCESS_KEY")) c.aws_secret_access_key = *v;
  if (!c.s3_bucket.empty() && (c.aws_access_key_id.empty() || c.aws_secret_access_key.empty()))
    throw std::runtime_error("S3_BUCKET is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is missing");
  if (auto v = get("FILES_DIR"); v && !v->empty()) c.files_dir = *v;
  if (auto v = get("FILES_MAX_UPLOAD_BYTES"))
    c.files_max_upload_bytes = to_int("FILES_MAX_UPLOAD_BYTES", *v, 1, 64LL << 30);
  if (auto v = get("FILES_WORKSPACE_QUOTA_BYTES"))
    c.files_workspace_quota_bytes = to_int("FILES_WORKSPACE_QUOTA_BYTES", *v, 1, 1LL << 50);
  if (auto v = get("FILES_MAX_PER_TASK")) c.files_max_per_task = to_int("FILES_MAX_PER_TASK", *v, 1, 100'000);

  auto secret = get("JWT_SECRET_KEY");
  if (c.is_production()) {
    if (!secret)
      throw std::runtime_error("JWT_SECRET_KEY is not set: in production it must be a random secret of at least 32 bytes "
                               "(e.g. `openssl rand -base64 48`)");
    for (const char* d : kKnownDefaults)
      if (*secret == d)
        throw std::runtime_error("JWT_SECRET_KEY is a published default: in production set a random secret of at least "
                                 "32 bytes");
    if (secret->size() < 32)
      throw std::runtime_error("JWT_SECRET_KEY is shorter than 32 bytes (" + std::to_string(secret->size()) +
                               "): in production it must be at least 32 bytes");
  }
  c.jwt_secret = secret.value_or(kDevSecret);
  return c;
}

Config load_config(const std::string& dotenv_path) {
  std::map<std::string, std::string> vars = read_dotenv(dotenv_path);
  for (char** e = environ; e && *e; ++e) {  // the real environment wins over .env
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return config_from_map(vars);
}

int write_pool_size(const Config& c) {
  if (c.write_threads > 0) return c.write_threads;
  return http::default_write_threads(/*group_commit=*/c.database_url.rfind("sqlite:", 0) == 0);
}

}  // namespace taskhub
