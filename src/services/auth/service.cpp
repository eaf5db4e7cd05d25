#include "services/auth/service.hpp"

#include "http/server.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/thread_name.hpp"
#include "core/time.hpp"

namespace taskhub::auth {

namespace {

constexpr int64_t kApiTokenTouchIntervalMs = 60'000;
constexpr int64_t kMaxSessionsListed = 200;
constexpr int64_t kMaxApiTokensPerUser = 100;
constexpr std::size_t kMaxOpaqueTokenBytes = 512;
constexpr std::size_t kMaxUserAgentBytes = 512;
constexpr std::size_t kMaxIpBytes = 64;

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Printable ASCII only, bounded: these strings are echoed back in JSON and logs.
std::string clean_client_string(std::string_view s, std::size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    if (out.size() >= max) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

User to_user(const UserRecord& r) {
  return User{r.id, r.email, r.display_name, r.timezone, r.is_admin, r.is_active, r.created_at, r.updated_at};
}

ApiTokenInfo to_info(const ApiTokenRecord& t) {
  ApiTokenInfo i;
  i.id = t.id;
  i.name = t.name;
  i.scope = t.scope;
  i.token_prefix = t.token_prefix;
  i.created_at = t.created_at;
  i.expires_at = t.expires_at;
  i.last_used_at = t.last_used_at;
  return i;
}

ApiError invalid_credentials() {
  ApiError e(401, "invalid-credentials", "The e-mail address or password is incorrect.");
  e.with_header("WWW-Authenticate", "Bearer");
  return e;
}

ApiError invalid_refresh_token() {
  return ApiError(401, "invalid-token", "The refresh token is invalid, expired or revoked.");
}

ApiError invalid_reset_token() {
  return ApiError(400, "invalid-token", "The reset token is invalid, expired or already used.",
                  {FieldError{"token", "is invalid, expired or already used"}});
}

int64_t seconds_until(int64_t at_ms, int64_t now_ms) {
  int64_t d = at_ms - now_ms;
  return d <= 0 ? 1 : (d + 999) / 1000;
}

std::string display_name_problem(std::string_view name) {
  std::size_t n = utf8_length(name);
  if (n < 1 || trim(name).empty()) return "must not be empty";
  if (n > 100) return "must be at most 100 characters";
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  return {};
}

}  // namespace

// ---------------------------------------------------------------- helpers

AuthOptions options_from_config(const Config& cfg) {
  AuthOptions o;
  o.jwt_secret = cfg.jwt_secret;
  o.jwt_issuer = cfg.jwt_issuer;
  o.jwt_audience = cfg.jwt_audience;
  o.access_ttl_s = cfg.access_token_ttl_s;
  o.refresh_ttl_s = cfg.refresh_token_ttl_s;
  o.public_url = cfg.public_url;
  o.login_max_failures = cfg.login_max_failures;
  o.login_window_s = cfg.login_window_s;
  o.login_ip_max_attempts = cfg.login_ip_max_attempts;
  o.registration_open = cfg.registration_open;
  o.hash_threads = cfg.hash_threads;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Logins are POSTs: they run on the write pool.
  const int handler_threads = write_pool_size(cfg);
  const int hashers = cfg.hash_threads > 0 ? cfg.hash_threads : cores;
  // Waiting logins hold write-pool threads: admit at most half of them (at least the hashing
  // threads themselves, with no queue), so the other half serves every other write.
  o.hash_queue_max = std::max(0, handler_threads / 2 - hashers);
  return o;
}

std::optional<std::string> normalize_email(std::string_view raw) {
  std::string_view s = trim(raw);
  if (s.empty() || s.size() > 254) return std::nullopt;
  for (unsigned char c : s)
    if (c <= 0x20 || c == 0x7f) return std::nullopt;
  auto at = s.find('@');
  if (at == std::string_view::npos || s.find('@', at + 1) != std::string_view::npos) return std::nullopt;
  std::string_view local = s.substr(0, at);
  std::string_view domain = s.substr(at + 1);
  if (local.empty() || local.size() > 64 || domain.empty()) return std::nullopt;
  if (domain.find('.') == std::string_view::npos || domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos || domain.front() == '-')
    return std::nullopt;
  for (char c : domain)
    if (c == '(' || c == ')' || c == ',' || c == ';' || c == ':' || c == '<' || c == '>' || c == '[' || c == ']' ||
        c == '\\' || c == '"')
      return std::nullopt;
  return ascii_lower(s);
}

bool valid_timezone(std::string_view tz) {
  if (tz.empty() || tz.size() > 64) return false;
  if (tz == "UTC") return true;
  // Segments of [A-Za-z0-9_+-], separated by '/', each starting with a letter (so no "..").
  bool seg_start = true;
  for (char c : tz) {
    bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    bool other = (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '-';
    if (c == '/') {
      if (seg_start) return false;
      seg_start = true;
      continue;
    }
    if (seg_start && !alpha) return false;
    if (!alpha && !other) return false;
    seg_start = false;
  }
  if (seg_start) return false;
  std::error_code ec;
  const std::filesystem::path root("/usr/share/zoneinfo");
  if (!std::filesystem::is_directory(root, ec)) return true;  // no tz database: the shape is all we can check
  return std::filesystem::is_regular_file(root / std::string(tz), ec);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, crypto_hash_sha256_BYTES * 2);
}

// ---------------------------------------------------------------- WindowLimiter

WindowLimiter::WindowLimiter(int limit, int64_t window_ms, std::size_t max_keys)
    : limit_(std::max(1, limit)), window_ms_(window_ms), max_keys_(max_keys) {}

std::optional<int64_t> WindowLimiter::acquire(const std::string& key, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = hits_.find(key);
  if (it == hits_.end()) {
    if (hits_.size() >= max_keys_) evict(now_ms);
    it = hits_.emplace(key, std::deque<int64_t>{}).first;
  }
  auto& q = it->second;
  while (!q.empty() && q.front() <= now_ms - window_ms_) q.pop_front();
  if (static_cast<int>(q.size()) >= limit_) {
    int64_t frees_at = q[q.size() - static_cast<std::size_t>(limit_)] + window_ms_;
    return seconds_until(frees_at, now_ms);
  }
  q.push_back(now_ms);
  return std::nullopt;
}

void WindowLimiter::reset(const std::string& key) {
  std::lock_guard lock(mu_);
  hits_.erase(key);
}

void WindowLimiter::evict(int64_t now_ms) {
  for (auto it = hits_.begin(); it != hits_.end();) {
    if (it->second.empty() || it->second.back() <= now_ms - window_ms_)
      it = hits_.erase(it);
    else
      ++it;
  }
  // Still full (a flood of distinct keys): forget an arbitrary tenth rather than grow.
  if (hits_.size() >= max_keys_) {
    std::size_t drop = std::max<std::size_t>(1, max_keys_ / 10);
    for (auto it = hits_.begin(); it != hits_.end() && drop > 0; --drop) it = hits_.erase(it);
  }
}

// ---------------------------------------------------------------- BackgroundWorker

BackgroundWorker::BackgroundWorker(std::size_t max_queue, std::function<void()> periodic,
                                   std::chrono::milliseconds period)
    : max_queue_(max_queue), periodic_(std::move(periodic)), period_(period) {}

BackgroundWorker::~BackgroundWorker() { stop(); }

bool BackgroundWorker::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= max_queue_ || stopping_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void BackgroundWorker::start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    set_thread_name("auth-background");
    loop();
  });
}

void BackgroundWorker::stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  running_ = false;
  stopping_ = false;
}

std::size_t BackgroundWorker::pending() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

namespace {
void run_logged(const std::function<void()>& job, const char* what) {
  try {
    job();
  } catch (const std::exception& e) {
    spdlog::warn("auth background {} failed: {}", what, e.what());
  } catch (...) {
    spdlog::warn("auth background {} failed with a non-standard exception", what);
  }
}
}  // namespace

void BackgroundWorker::run_pending() {
  for (;;) {
    std::function<void()> job;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    run_logged(job, "job");
  }
}

void BackgroundWorker::loop() {
  auto next_periodic = std::chrono::steady_clock::now() + period_;
  for (;;) {
    std::function<void()> job;
    bool periodic_due = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next_periodic, [&] { return stopping_ || !queue_.empty(); });
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      } else if (stopping_) {
        return;
      } else if (std::chrono::steady_clock::now() >= next_periodic) {
        periodic_due = true;
        next_periodic = std::chrono::steady_clock::now() + period_;
      }
    }
    if (job) run_logged(job, "job");
    if (periodic_due && periodic_) run_logged(periodic_, "housekeeping");
  }
}

// ---------------------------------------------------------------- AuthService

AuthService::AuthService(sql::Database& db, Mailer* mailer, Clock& clock, AuthOptions options)
    : db_(db),
      mailer_(mailer),
      clock_(clock),
      opt_(std::move(options)),
      jwt_(opt_.jwt_secret, opt_.jwt_issuer, opt_.jwt_audience),
      hasher_(opt_.hash_params),
      pool_(opt_.hash_threads, opt_.hash_queue_max),
      ip_limiter_(opt_.login_ip_max_attempts, opt_.login_window_s * 1000),
      reset_email_limiter_(opt_.reset_max_per_email, opt_.login_window_s * 1000),
      reset_ip_limiter_(opt_.login_ip_max_attempts, opt_.login_window_s * 1000),
      worker_(opt_.mail_queue_max, [this] { housekeeping(); }) {}

AuthService::~AuthService() { stop(); }

void AuthService::start() {
  pool_.start();
  worker_.start();
}

void AuthService::stop() {
  worker_.stop();
  pool_.stop();
}

void AuthService::housekeeping() {
  int64_t now = clock_.now_ms();
  int64_t n = db_.write_value(
      [&](sql::Connection& c) { return repo::delete_expired(c, now, now - opt_.login_window_s * 1000); });
  if (n > 0) spdlog::debug("auth housekeeping removed {} rows", n);
}

std::string AuthService::metrics_text() {
  return "# HELP taskhub_auth_hash_queue_depth Password hashing jobs waiting for a hashing thread.\n"
         "# TYPE taskhub_auth_hash_queue_depth gauge\n"
         "taskhub_auth_hash_queue_depth " + std::to_string(pool_.queued()) + "\n"
         "# HELP taskhub_auth_mail_queue_depth Password-reset e-mails waiting to be sent.\n"
         "# TYPE taskhub_auth_mail_queue_depth gauge\n"
         "taskhub_auth_mail_queue_depth " + std::to_string(worker_.pending()) + "\n";
}

void AuthService::require_admin(const Principal& p) {
  if (!p.is_admin) throw forbidden("Administrator access is required.");
}

AccessToken AuthService::issue_access(const std::string& user_id, const std::string& session_id, int64_t version,
                                      int64_t now_ms) {
  AccessClaims c;
  c.sub = user_id;
  c.sid = session_id;
  c.jti = random_token(16);
  c.ver = version;
  c.iat = now_ms / 1000;
  c.nbf = c.iat;
  c.exp = c.iat + opt_.access_ttl_s;
  return AccessToken{jwt_.sign(c), opt_.access_ttl_s};
}

// ---- register

User AuthService::register_user(const RegisterInput& in) {
  if (!opt_.registration_open && !in.trusted)
    throw ApiError(403, "registration-closed", "Registration is closed on this instance.");

  std::vector<FieldError> errors;
  auto email = normalize_email(in.email);
  if (!email) errors.push_back({"email", "must be a valid e-mail address"});
  if (auto why = password_problem(in.password); !why.empty()) errors.push_back({"password", why});
  std::string name(trim(in.display_name));
  if (auto why = display_name_problem(name); !why.empty()) errors.push_back({"display_name", why});
  std::string tz = in.timezone.value_or("UTC");
  if (!valid_timezone(tz)) errors.push_back({"timezone", "must be an IANA time zone name such as Europe/Berlin"});
  if (!errors.empty()) throw validation_error(std::move(errors));

  auto taken = [] {
    return conflict("email-taken", "An account with this e-mail address already exists.",
                    {FieldError{"email", "is already registered"}});
  };
  // Cheap check first so a duplicate does not cost an Argon2id hash.
  if (db_.read_value([&](sql::Connection& c) { return repo::email_exists(c, *email); })) throw taken();

  std::string password(in.password);
  std::string hash = pool_.run([&] { return hasher_.hash(password); });

  UserRecord u;
  u.id = new_uuid_v7();
  u.email = *email;
  u.display_name = name;
  u.timezone = tz;
  u.password_hash = std::move(hash);
  u.is_active = true;
  u.token_version = 0;
  u.created_at = u.updated_at = clock_.now_ms();
  try {
    db_.write([&](sql::Connection& c) {
      bool admin_exists = repo::any_admin(c);
      if (!admin_exists && db_.dialect() == sql::Dialect::postgres) {
        repo::lock_first_admin(c);  // concurrent first registrations: only one becomes admin
        admin_exists = repo::any_admin(c);
      }
      u.is_admin = in.make_admin || !admin_exists;
      repo::insert_user(c, u);
    });
  } catch (const sql::UniqueViolation&) {
    throw taken();
  }
  if (u.is_admin) spdlog::info("account {} is an administrator", u.id);
  return to_user(u);
}

// ---- login

TokenPair AuthService::login(std::string_view email, std::string_view password, const ClientInfo& client) {
  const int64_t now = clock_.now_ms();
  const int64_t window_ms = opt_.login_window_s * 1000;
  std::string ip = client.ip.empty() ? std::string("-") : client.ip;
  if (auto wait = ip_limiter_.acquire(ip, now))
    throw too_many_requests(static_cast<int>(*wait), "Too many login attempts from this address; try again later.");

  auto norm = normalize_email(email);
  std::string key = norm ? *norm : ascii_lower(trim(email)).substr(0, 254);

  auto failures = db_.read_value([&](sql::Connection& c) { return repo::recent_failures(c, key, now - window_ms); });
  const auto max = static_cast<std::size_t>(std::max(1, opt_.login_max_failures));
  if (failures.size() >= max) {
    int64_t frees_at = failures[failures.size() - max] + window_ms;
    throw too_many_requests(static_cast<int>(seconds_until(frees_at, now)),
                            "Too many failed logins for this account; try again later.");
  }

  std::optional<UserRecord> user;
  if (norm) user = db_.read_value([&](sql::Connection& c) { return repo::find_user_by_email(c, *norm); });
  // Unknown addresses cost one Argon2id verification too, against the dummy hash.
  const std::string& stored = user ? user->password_hash : hasher_.dummy_hash();
  std::string pw(password);
  bool ok = pool_.run([&] { return hasher_.verify(stored, pw); });
  if (!user || !ok || !user->is_active) {
    db_.write([&](sql::Connection& c) {
      repo::add_failure(c, key, now);
      repo::prune_failures(c, key, now - window_ms);
    });
    throw invalid_credentials();
  }

  std::optional<std::string> rehash;
  if (hasher_.needs_rehash(user->password_hash)) {
    try {
      rehash = pool_.run([&] { return hasher_.hash(pw); });
    } catch (const ApiError&) {
      // pool busy: keep the old hash, try again at the next login
    }
  }
  return issue_session(*user, client, now, rehash, key);
}

TokenPair AuthService::issue_session(const UserRecord& u, const ClientInfo& client, int64_t now,
                                     const std::optional<std::string>& rehash, const std::string& throttle_key) {
  SessionRecord s;
  s.id = new_uuid_v7();
  s.user_id = u.id;
  s.user_agent = clean_client_string(client.user_agent, kMaxUserAgentBytes);
  s.ip = clean_client_string(client.ip, kMaxIpBytes);
  s.created_at = now;
  s.last_used_at = now;
  s.expires_at = now + opt_.refresh_ttl_s * 1000;
  std::string refresh = "thr_" + random_token(32);
  std::string refresh_hash = sha256_hex(refresh);

  std::optional<UserRecord> fresh;
  db_.write([&](sql::Connection& c) {
    fresh = repo::find_user(c, u.id);  // token version as of this transaction
    if (!fresh || !fresh->is_active) return;
    if (rehash) repo::set_password_hash(c, u.id, *rehash, now);
    if (!throttle_key.empty()) repo::clear_failures(c, throttle_key);
    repo::insert_session(c, s);
    repo::insert_refresh_token(c, refresh_hash, s.id, now);
  });
  if (!fresh || !fresh->is_active) throw invalid_credentials();

  TokenPair out;
  out.access = issue_access(u.id, s.id, fresh->token_version, now);
  out.refresh_token = std::move(refresh);
  out.refresh_expires_in = opt_.refresh_ttl_s;
  out.user = to_user(*fresh);
  return out;
}

// ---- refresh, logout

TokenPair AuthService::refresh(std::string_view refresh_token, const ClientInfo& client) {
  if (refresh_token.size() > kMaxOpaqueTokenBytes || refresh_token.rfind("thr_", 0) != 0)
    throw invalid_refresh_token();
  const int64_t now = clock_.now_ms();
  const std::string hash = sha256_hex(refresh_token);
  std::string next = "thr_" + random_token(32);
  const std::string next_hash = sha256_hex(next);

  enum class Outcome { invalid, reused, ok } outcome = Outcome::invalid;
  std::optional<UserRecord> user;
  std::string session_id;
  db_.write([&](sql::Connection& c) {
    auto r = repo::find_refresh_token(c, hash);
    if (!r) return;
    session_id = r->session_id;
    if (r->used_at) {
      // An already-rotated token came back: someone holds a copy. End the whole family.
      repo::revoke_session(c, r->session_id, now);
      outcome = Outcome::reused;
      return;
    }
    if (r->session_revoked_at || r->session_expires_at <= now || !r->user_active) return;
    if (!repo::mark_refresh_used(c, hash, now)) {  // lost a race with another rotation
      repo::revoke_session(c, r->session_id, now);
      outcome = Outcome::reused;
      return;
    }
    repo::insert_refresh_token(c, next_hash, r->session_id, now);
    repo::touch_session(c, r->session_id, now, now + opt_.refresh_ttl_s * 1000);
    user = repo::find_user(c, r->user_id);
    outcome = user ? Outcome::ok : Outcome::invalid;
  });
  if (outcome == Outcome::reused)
    spdlog::warn("refresh token reuse detected: session {} revoked", session_id);
  if (outcome != Outcome::ok) throw invalid_refresh_token();

  TokenPair out;
  out.access = issue_access(user->id, session_id, user->token_version, now);
  out.refresh_token = std::move(next);
  out.refresh_expires_in = opt_.refresh_ttl_s;
  out.user = to_user(*user);
  (void)client;
  return out;
}

void AuthService::logout(std::string_view refresh_token) {
  if (refresh_token.size() > kMaxOpaqueTokenBytes || refresh_token.rfind("thr_", 0) != 0) return;
  const int64_t now = clock_.now_ms();
  const std::string hash = sha256_hex(refresh_token);
  db_.write([&](sql::Connection& c) {
    if (auto r = repo::find_refresh_token(c, hash)) repo::revoke_session(c, r->session_id, now);
  });
}

void AuthService::logout_all(const Principal& p) {
  const int64_t now = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    repo::revoke_user_sessions(c, p.user_id, now);
    repo::bump_token_version(c, p.user_id, now);
  });
}

// ---- passwords

AccessToken AuthService::change_password(const Principal& p, std::string_view current_password,
                                         std::string_view new_password) {
  if (p.kind != CredentialKind::access_token)
    throw forbidden("Changing the password needs a signed-in session, not an API token.");
  if (auto why = password_problem(new_password); !why.empty()) throw bad_field("new_password", why);
  auto user = db_.read_value([&](sql::Connection& c) { return repo::find_user(c, p.user_id); });
  if (!user || !user->is_active) throw unauthorized();
  std::string current(current_password), next(new_password);
  bool ok = pool_.run([&] { return hasher_.verify(user->password_hash, current); });
  if (!ok)
    throw ApiError(400, "invalid-password", "The current password is incorrect.",
                   {FieldError{"current_password", "is incorrect"}});
  std::string hash = pool_.run([&] { return hasher_.hash(next); });
  const int64_t now = clock_.now_ms();
  int64_t version = db_.write_value([&](sql::Connection& c) {
    repo::set_password_hash(c, p.user_id, hash, now);
    int64_t v = repo::bump_token_version(c, p.user_id, now);
    repo::revoke_user_sessions(c, p.user_id, now, p.session_id);
    repo::invalidate_user_resets(c, p.user_id, now);
    return v;
  });
  return issue_access(p.user_id, p.session_id, version, now);
}

void AuthService::request_password_reset(std::string_view email, const ClientInfo& client) {
  auto norm = normalize_email(email);
  if (!norm) throw bad_field("email", "must be a valid e-mail address");
  const int64_t now = clock_.now_ms();
  std::string ip = client.ip.empty() ? std::string("-") : client.ip;
  if (auto wait = reset_ip_limiter_.acquire(ip, now))
    throw too_many_requests(static_cast<int>(*wait), "Too many password-reset requests; try again later.");
  if (auto wait = reset_email_limiter_.acquire(*norm, now))
    throw too_many_requests(static_cast<int>(*wait), "Too many password-reset requests; try again later.");
  // Everything that depends on whether the account exists happens off the request path.
  std::string target = *norm;
  if (!worker_.post([this, target] { send_reset_email(target); }))
    throw service_unavailable(5, "Too many e-mails are waiting to be sent; try again in a moment.");
}

void AuthService::send_reset_email(const std::string& email) {
  auto user = db_.read_value([&](sql::Connection& c) { return repo::find_user_by_email(c, email); });
  if (!user || !user->is_active) return;  // nothing to send; the caller already got 202
  const int64_t now = clock_.now_ms();
  std::string token = random_token(32);
  std::string hash = sha256_hex(token);
  db_.write([&](sql::Connection& c) { repo::insert_reset(c, hash, user->id, now, now + opt_.reset_ttl_s * 1000); });
  if (!mailer_) {
    spdlog::warn("password reset for {} not sent: no mailer configured", user->id);
    return;
  }
  const std::string link = opt_.public_url + "/reset-password?token=" + token;
  EmailMessage msg;
  msg.to = user->email;
  msg.subject = "Reset your taskhub password";
  msg.text_body = "Hello " + user->display_name +
                  ",\n\n"
                  "Someone (hopefully you) asked to reset the password of your taskhub account.\n"
                  "Open this link within " +
                  std::to_string(opt_.reset_ttl_s / 60) +
                  " minutes to choose a new password:\n\n" + link +
                  "\n\n"
                  "The link works once. If you did not ask for this, ignore this e-mail: your\n"
                  "password stays as it is.\n";
  mailer_->send(msg);
}

void AuthService::confirm_password_reset(std::string_view token, std::string_view new_password) {
  if (auto why = password_problem(new_password); !why.empty()) throw bad_field("new_password", why);
  if (token.empty() || token.size() > kMaxOpaqueTokenBytes) throw invalid_reset_token();
  const std::string hash = sha256_hex(token);
  int64_t now = clock_.now_ms();
  auto r = db_.read_value([&](sql::Connection& c) { return repo::find_reset(c, hash); });
  if (!r || r->used_at || r->expires_at <= now) throw invalid_reset_token();
  std::string pw(new_password);
  std::string new_hash = pool_.run([&] { return hasher_.hash(pw); });
  now = clock_.now_ms();
  bool ok = false;
  db_.write([&](sql::Connection& c) {
    if (!repo::mark_reset_used(c, hash, now)) return;  // used concurrently
    auto user = repo::find_user(c, r->user_id);
    if (!user) return;
    repo::set_password_hash(c, user->id, new_hash, now);
    repo::bump_token_version(c, user->id, now);
    repo::revoke_user_sessions(c, user->id, now);
    repo::invalidate_user_resets(c, user->id, now);
    repo::clear_failures(c, user->email);
    ok = true;
  });
  if (!ok) throw invalid_reset_token();
}

// ---- profile

std::optional<User> AuthService::find_user(std::string_view id) {
  if (!is_uuid(id)) return std::nullopt;
  auto u = db_.read_value([&](sql::Connection& c) { return repo::find_user(c, id); });
  if (!u) return std::nullopt;
  return to_user(*u);
}

std::optional<User> AuthService::find_user_by_email(std::string_view email) {
  auto norm = normalize_email(email);
  if (!norm) return std::nullopt;
  auto u = db_.read_value([&](sql::Connection& c) { return repo::find_user_by_email(c, *norm); });
  if (!u) return std::nullopt;
  return to_user(*u);
}

User AuthService::get_user(std::string_view id) {
  auto u = find_user(id);
  if (!u) throw not_found("The user does not exist.");
  return *u;
}

User AuthService::update_profile(const Principal& p, const std::optional<std::string>& display_name,
                                 const std::optional<std::string>& timezone) {
  std::vector<FieldError> errors;
  std::optional<std::string> name;
  if (display_name) {
    name = std::string(trim(*display_name));
    if (auto why = display_name_problem(*name); !why.empty()) errors.push_back({"display_name", why});
  }
  if (timezone && !valid_timezone(*timezone))
    errors.push_back({"timezone", "must be an IANA time zone name such as Europe/Berlin"});
  if (!errors.empty()) throw validation_error(std::move(errors));
  const int64_t now = clock_.now_ms();
  auto u = db_.write_value([&](sql::Connection& c) {
    if (name || timezone) repo::update_profile(c, p.user_id, name, timezone, now);
    return repo::find_user(c, p.user_id);
  });
  if (!u) throw unauthorized();
  return to_user(*u);
}

// ---- sessions

std::vector<SessionInfo> AuthService::list_sessions(const Principal& p) {
  const int64_t now = clock_.now_ms();
  auto rows = db_.read_value(
      [&](sql::Connection& c) { return repo::list_active_sessions(c, p.user_id, now, kMaxSessionsListed); });
  std::vector<SessionInfo> out;
  out.reserve(rows.size());
  for (auto& s : rows)
    out.push_back(SessionInfo{s.id, s.user_agent, s.ip, s.created_at, s.last_used_at, s.expires_at,
                              !p.session_id.empty() && s.id == p.session_id});
  return out;
}

void AuthService::revoke_session(const Principal& p, std::string_view session_id) {
  if (!is_uuid(session_id)) throw not_found("The session does not exist.");
  const int64_t now = clock_.now_ms();
  bool ok = db_.write_value([&](sql::Connection& c) { return repo::revoke_user_session(c, p.user_id, session_id, now); });
  if (!ok) throw not_found("The session does not exist.");
}

// ---- API tokens

ApiTokenInfo AuthService::create_api_token(const Principal& p, std::string_view name, std::string_view scope,
                                           std::optional<int64_t> expires_in_days) {
  if (p.kind == CredentialKind::api_token) throw forbidden("API tokens cannot manage API tokens.");
  std::vector<FieldError> errors;
  std::string clean(trim(name));
  if (auto why = display_name_problem(clean); !why.empty()) errors.push_back({"name", why});
  if (scope != "read" && scope != "read-write") errors.push_back({"scope", "must be one of: read read-write"});
  if (expires_in_days && (*expires_in_days < 1 || *expires_in_days > 3650))
    errors.push_back({"expires_in_days", "must be between 1 and 3650"});
  if (!errors.empty()) throw validation_error(std::move(errors));

  const int64_t now = clock_.now_ms();
  ApiTokenRecord t;
  t.id = new_uuid_v7();
  t.user_id = p.user_id;
  t.name = clean;
  t.scope = std::string(scope);
  std::string token = "thp_" + random_token(32);
  t.token_hash = sha256_hex(token);
  t.token_prefix = token.substr(0, 12);
  t.created_at = now;
  if (expires_in_days) t.expires_at = now + *expires_in_days * 86'400'000LL;
  bool full = false;
  db_.write([&](sql::Connection& c) {
    if (static_cast<int64_t>(repo::list_api_tokens(c, p.user_id, kMaxApiTokensPerUser).size()) >=
        kMaxApiTokensPerUser) {
      full = true;
      return;
    }
    repo::insert_api_token(c, t);
  });
  if (full)
    throw bad_field("name", "an account can hold at most " + std::to_string(kMaxApiTokensPerUser) +
                                " API tokens; revoke one first");
  ApiTokenInfo info = to_info(t);
  info.token = std::move(token);
  return info;
}

std::vector<ApiTokenInfo> AuthService::list_api_tokens(const Principal& p) {
  auto rows =
      db_.read_value([&](sql::Connection& c) { return repo::list_api_tokens(c, p.user_id, kMaxApiTokensPerUser); });
  std::vector<ApiTokenInfo> out;
  out.reserve(rows.size());
  for (auto& t : rows) out.push_back(to_info(t));
  return out;
}

void AuthService::revoke_api_token(const Principal& p, std::string_view id) {
  if (!is_uuid(id)) throw not_found("The API token does not exist.");
  const int64_t now = clock_.now_ms();
  bool ok = db_.write_value([&](sql::Connection& c) { return repo::revoke_api_token(c, p.user_id, id, now); });
  if (!ok) throw not_found("The API token does not exist.");
}

// ---- administration

UserPage AuthService::admin_list_users(const Principal& p, int64_t limit, const std::optional<std::string>& cursor) {
  require_admin(p);
  if (limit < 1 || limit > 200) throw bad_field("limit", "must be between 1 and 200");
  std::optional<std::string> after;
  if (cursor) {
    auto decoded = base64url_decode(*cursor);
    if (!decoded || !is_uuid(*decoded)) throw bad_field("cursor", "is not a cursor returned by this endpoint");
    after = std::move(*decoded);
  }
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_users(c, after, limit + 1); });
  UserPage page;
  bool more = static_cast<int64_t>(rows.size()) > limit;
  if (more) rows.resize(static_cast<std::size_t>(limit));
  for (auto& r : rows) page.items.push_back(to_user(r));
  if (more && !rows.empty()) page.next_cursor = base64url_encode(rows.back().id);
  return page;
}

User AuthService::admin_set_active(const Principal& p, std::string_view user_id, bool active) {
  require_admin(p);
  if (!is_uuid(user_id)) throw not_found("The user does not exist.");
  if (!active && user_id == p.user_id)
    throw ApiError(400, "cannot-deactivate-self", "Administrators cannot deactivate their own account.");
  const int64_t now = clock_.now_ms();
  auto u = db_.write_value([&](sql::Connection& c) -> std::optional<UserRecord> {
    if (!repo::set_active(c, user_id, active, now)) return std::nullopt;
    if (!active) {
      repo::revoke_user_sessions(c, user_id, now);
      repo::bump_token_version(c, user_id, now);
    }
    return repo::find_user(c, user_id);
  });
  if (!u) throw not_found("The user does not exist.");
  return to_user(*u);
}

std::vector<User> AuthService::all_users() {
  auto rows = db_.read_value([&](sql::Connection& c) { return repo::list_all_users(c); });
  std::vector<User> out;
  for (auto& r : rows) out.push_back(to_user(r));
  return out;
}

bool AuthService::deactivate_by_email(std::string_view email) {
  auto norm = normalize_email(email);
  if (!norm) return false;
  const int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) {
    auto u = repo::find_user_by_email(c, *norm);
    if (!u) return false;
    repo::set_active(c, u->id, false, now);
    repo::revoke_user_sessions(c, u->id, now);
    repo::bump_token_version(c, u->id, now);
    return true;
  });
}

// ---- bearer verification

std::optional<Principal> AuthService::authenticate(std::string_view bearer) {
  if (bearer.empty() || bearer.size() > kMaxTokenBytes) return std::nullopt;
  const int64_t now = clock_.now_ms();

  if (bearer.rfind("thp_", 0) == 0) {
    if (bearer.size() > kMaxOpaqueTokenBytes) return std::nullopt;
    const std::string hash = sha256_hex(bearer);
    auto st = db_.read_one_value([&](sql::Connection& c) { return repo::api_token_auth_state(c, hash); });
    if (!st || st->token.revoked_at || !st->user_active) return std::nullopt;
    if (st->token.expires_at && *st->token.expires_at <= now) return std::nullopt;
    if (!st->token.last_used_at || now - *st->token.last_used_at >= kApiTokenTouchIntervalMs) {
      try {
        db_.write([&](sql::Connection& c) { repo::touch_api_token(c, st->token.id, now); });
      } catch (const sql::Error& e) {
        spdlog::warn("could not record API token use: {}", e.what());  // not worth failing the request
      }
    }
    Principal p;
    p.user_id = st->token.user_id;
    p.is_admin = st->is_admin;
    p.can_write = st->token.scope == "read-write";
    p.kind = CredentialKind::api_token;
    p.token_id = st->token.id;
    p.expires_at_ms = st->token.expires_at.value_or(0);
    return p;
  }

  auto claims = jwt_.verify(bearer, now / 1000);
  if (!claims) return std::nullopt;
  auto st = db_.read_one_value([&](sql::Connection& c) { return repo::session_auth_state(c, claims->sub, claims->sid); });
  if (!st || !st->user_active || st->token_version != claims->ver || st->session_revoked_at ||
      st->session_expires_at <= now)
    return std::nullopt;
  Principal p;
  p.user_id = claims->sub;
  p.is_admin = st->is_admin;
  p.can_write = true;
  p.kind = CredentialKind::access_token;
  p.session_id = claims->sid;
  p.token_id = claims->jti;
  p.expires_at_ms = claims->exp * 1000;
  p.token_version = claims->ver;
  return p;
}

bool AuthService::still_valid(const Principal& p) {
  const int64_t now = clock_.now_ms();
  if (p.expires_at_ms && p.expires_at_ms <= now) return false;
  if (p.kind == CredentialKind::api_token) {
    auto st = db_.read_one_value([&](sql::Connection& c) { return repo::api_token_auth_state_by_id(c, p.token_id); });
    return st && !st->token.revoked_at && st->user_active &&
           !(st->token.expires_at && *st->token.expires_at <= now);
  }
  auto st = db_.read_one_value([&](sql::Connection& c) { return repo::session_auth_state(c, p.user_id, p.session_id); });
  return st && st->user_active && st->token_version == p.token_version && !st->session_revoked_at &&
         st->session_expires_at > now;
}

}  // namespace taskhub::auth
