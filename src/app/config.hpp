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
  int hash_threads = 0;        // 0: cores (Argon2id pool)
  int db_pool_size = 4;
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

}  // namespace taskhub
