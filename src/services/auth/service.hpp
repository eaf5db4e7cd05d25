#pragma once
// AuthService: the rules of accounts, sessions and tokens. No HTTP (routes.cpp turns requests
// into calls), no SQL (repository.cpp). Every time comes from the Clock; every blocking call
// (database, hashing, mail) happens on the caller's thread, which is a blocking-pool thread,
// or on the service's own background thread.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "app/config.hpp"
#include "core/principal.hpp"
#include "ports/clock.hpp"
#include "ports/mailer.hpp"
#include "ports/sql.hpp"
#include "services/auth/jwt.hpp"
#include "services/auth/password.hpp"
#include "services/auth/repository.hpp"

namespace taskhub::auth {

struct AuthOptions {
  std::string jwt_secret;
  std::string jwt_issuer = "taskhub";
  std::string jwt_audience = "taskhub-api";
  int64_t access_ttl_s = 900;
  int64_t refresh_ttl_s = 30 * 24 * 3600;
  int64_t reset_ttl_s = 30 * 60;
  std::string public_url = "http://localhost:5000";
  int login_max_failures = 10;
  int64_t login_window_s = 900;
  int login_ip_max_attempts = 100;
  // Password-reset requests per e-mail address per window (answered 429 beyond).
  int reset_max_per_email = 5;
  bool registration_open = true;
  int hash_threads = 0;      // 0: cores
  // Logins waiting for a hashing thread beyond which login answers 503 + Retry-After.
  // -1: 4 * hash_threads; 0: no queue. options_from_config keeps queued + running hashes
  // within half the handler pool, because each waiting login holds a handler thread.
  int hash_queue_max = -1;
  HashParams hash_params{};  // Argon2id cost
  std::size_t mail_queue_max = 1000;
};
AuthOptions options_from_config(const Config& cfg);

// The public view of an account (no hash, no token version).
struct User {
  std::string id;
  std::string email;
  std::string display_name;
  std::string timezone;
  bool is_admin = false;
  bool is_active = true;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct ClientInfo {
  std::string user_agent;
  std::string ip;
};

struct AccessToken {
  std::string token;
  int64_t expires_in = 0;  // seconds
};

struct TokenPair {
  AccessToken access;
  std::string refresh_token;
  int64_t refresh_expires_in = 0;
  User user;
};

struct SessionInfo {
  std::string id;
  std::string user_agent;
  std::string ip;
  int64_t created_at = 0;
  int64_t last_used_at = 0;
  int64_t expires_at = 0;
  bool current = false;
};

struct ApiTokenInfo {
  std::string id;
  std::string name;
  std::string scope;
  std::string token;  // only right after creation
  std::string token_prefix;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> last_used_at;
};

struct UserPage {
  std::vector<User> items;
  std::optional<std::string> next_cursor;
};

struct RegisterInput {
  std::string email;
  std::string password;
  std::string display_name;
  std::optional<std::string> timezone;
  bool make_admin = false;  // CLI --admin
  bool trusted = false;     // CLI: REGISTRATION_OPEN does not apply
};

// Trims, lower-cases and checks an address: one '@', non-empty local part, a domain with a
// dot, no spaces or control characters, at most 254 characters. nullopt when invalid.
std::optional<std::string> normalize_email(std::string_view raw);
// IANA zone names such as "UTC" or "Europe/Berlin" (checked against the system tz database
// when one is installed).
bool valid_timezone(std::string_view tz);
// Hex SHA-256 (how refresh, API and reset tokens are stored).
std::string sha256_hex(std::string_view data);

// Sliding-window counter per key, in memory, with a bounded number of keys.
class WindowLimiter {
 public:
  WindowLimiter(int limit, int64_t window_ms, std::size_t max_keys = 100'000);
  // Counts an attempt; when the key is over its limit returns the seconds to wait instead
  // (and does not count).
  std::optional<int64_t> acquire(const std::string& key, int64_t now_ms);
  void reset(const std::string& key);

 private:
  void evict(int64_t now_ms);
  int limit_;
  int64_t window_ms_;
  std::size_t max_keys_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<int64_t>> hits_;
};

// One background thread with a bounded job queue (reset e-mails) and periodic housekeeping.
// Before start() jobs wait in the queue until run_pending() (unit tests) or start().
class BackgroundWorker {
 public:
  explicit BackgroundWorker(std::size_t max_queue, std::function<void()> periodic = {},
                            std::chrono::milliseconds period = std::chrono::minutes(10));
  ~BackgroundWorker();
  // false when the queue is full.
  bool post(std::function<void()> job);
  void start();
  void stop();          // runs what is queued, then joins
  void run_pending();   // runs queued jobs on the caller's thread
  std::size_t pending();

 private:
  void loop();
  std::size_t max_queue_;
  std::function<void()> periodic_;
  std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
  bool running_ = false;
  bool stopping_ = false;
};

class AuthService {
 public:
  AuthService(sql::Database& db, Mailer* mailer, Clock& clock, AuthOptions options);
  ~AuthService();
  AuthService(const AuthService&) = delete;
  AuthService& operator=(const AuthService&) = delete;

  void start();  // hashing threads and the background (mail) thread
  void stop();
  // Runs queued background jobs (reset e-mails) now, on this thread: for unit tests.
  void run_background_jobs() { worker_.run_pending(); }

  // --- accounts
  User register_user(const RegisterInput& in);
  TokenPair login(std::string_view email, std::string_view password, const ClientInfo& client);
  TokenPair refresh(std::string_view refresh_token, const ClientInfo& client);
  void logout(std::string_view refresh_token);
  void logout_all(const Principal& p);
  AccessToken change_password(const Principal& p, std::string_view current_password, std::string_view new_password);
  void request_password_reset(std::string_view email, const ClientInfo& client);
  void confirm_password_reset(std::string_view token, std::string_view new_password);

  User get_user(std::string_view id);  // 404 when unknown
  std::optional<User> find_user(std::string_view id);
  std::optional<User> find_user_by_email(std::string_view email);
  User update_profile(const Principal& p, const std::optional<std::string>& display_name,
                      const std::optional<std::string>& timezone);

  // --- sessions
  std::vector<SessionInfo> list_sessions(const Principal& p);
  void revoke_session(const Principal& p, std::string_view session_id);

  // --- API tokens. Creating one needs a signed-in session (403 for API-token principals:
  // a leaked token must not mint more); listing (never shows secrets) and revoking follow the
  // contract's plain "required".
  ApiTokenInfo create_api_token(const Principal& p, std::string_view name, std::string_view scope,
                                std::optional<int64_t> expires_in_days);
  std::vector<ApiTokenInfo> list_api_tokens(const Principal& p);
  void revoke_api_token(const Principal& p, std::string_view id);

  // --- administration (403 for non-admins)
  UserPage admin_list_users(const Principal& p, int64_t limit, const std::optional<std::string>& cursor);
  User admin_set_active(const Principal& p, std::string_view user_id, bool active);
  // CLI: no principal.
  std::vector<User> all_users();
  bool deactivate_by_email(std::string_view email);

  // --- bearer verification (access JWT or "thp_" API token); nullopt when not valid now.
  std::optional<Principal> authenticate(std::string_view bearer);
  // Is the credential a principal was authenticated with still good (not expired, not revoked,
  // the session not logged out, the user still active, no password change since)? For
  // connections that outlive a request: realtime re-checks its streams with it.
  bool still_valid(const Principal& p);

  const AuthOptions& options() const { return opt_; }
  const JwtCodec& jwt() const { return jwt_; }
  const PasswordHasher& hasher() const { return hasher_; }
  void housekeeping();
  // Prometheus text: hashing and e-mail queue depths.
  std::string metrics_text();

 private:
  TokenPair issue_session(const UserRecord& u, const ClientInfo& client, int64_t now,
                          const std::optional<std::string>& rehash, const std::string& throttle_key);
  AccessToken issue_access(const std::string& user_id, const std::string& session_id, int64_t version,
                           int64_t now_ms);
  void send_reset_email(const std::string& email);
  void require_admin(const Principal& p);

  sql::Database& db_;
  Mailer* mailer_;
  Clock& clock_;
  AuthOptions opt_;
  JwtCodec jwt_;
  PasswordHasher hasher_;
  HashPool pool_;
  WindowLimiter ip_limiter_;
  WindowLimiter reset_email_limiter_;
  WindowLimiter reset_ip_limiter_;
  BackgroundWorker worker_;
};

}  // namespace taskhub::auth
