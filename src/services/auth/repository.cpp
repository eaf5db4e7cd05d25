#include "services/auth/repository.hpp"

namespace taskhub::auth::repo {

namespace {

constexpr const char* kUserCols =
    "id, email, display_name, timezone, password_hash, is_admin, is_active, token_version, created_at, updated_at";

UserRecord user_from(const sql::Row& r) {
  UserRecord u;
  u.id = r.str(0);
  u.email = r.str(1);
  u.display_name = r.str(2);
  u.timezone = r.str(3);
  u.password_hash = r.str(4);
  u.is_admin = r.boolean(5);
  u.is_active = r.boolean(6);
  u.token_version = r.i64(7);
  u.created_at = r.i64(8);
  u.updated_at = r.i64(9);
  return u;
}

std::optional<UserRecord> first_user(const sql::Result& res) {
  if (auto r = res.first()) return user_from(*r);
  return std::nullopt;
}

constexpr const char* kSessionCols = "id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at";

SessionRecord session_from(const sql::Row& r) {
  SessionRecord s;
  s.id = r.str(0);
  s.user_id = r.str(1);
  s.user_agent = r.str(2);
  s.ip = r.str(3);
  s.created_at = r.i64(4);
  s.last_used_at = r.i64(5);
  s.expires_at = r.i64(6);
  s.revoked_at = r.opt_i64(7);
  return s;
}

constexpr const char* kApiTokenCols =
    "t.id, t.user_id, t.name, t.scope, t.token_hash, t.token_prefix, t.created_at, t.expires_at, t.last_used_at, "
    "t.revoked_at";

ApiTokenRecord api_token_from(const sql::Row& r) {
  ApiTokenRecord t;
  t.id = r.str(0);
  t.user_id = r.str(1);
  t.name = r.str(2);
  t.scope = r.str(3);
  t.token_hash = r.str(4);
  t.token_prefix = r.str(5);
  t.created_at = r.i64(6);
  t.expires_at = r.opt_i64(7);
  t.last_used_at = r.opt_i64(8);
  t.revoked_at = r.opt_i64(9);
  return t;
}

}  // namespace

// ---- users

void insert_user(sql::Connection& c, const UserRecord& u) {
  c.exec(
      "INSERT INTO users (id, email, display_name, timezone, password_hash, is_admin, is_active, token_version, "
      "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {u.id, u.email, u.display_name, u.timezone, u.password_hash, u.is_admin, u.is_active, u.token_version,
       u.created_at, u.updated_at});
}

std::optional<UserRecord> find_user(sql::Connection& c, std::string_view id) {
  return first_user(c.query(std::string("SELECT ") + kUserCols + " FROM users WHERE id = ?", {id}));
}

std::optional<UserRecord> find_user_by_email(sql::Connection& c, std::string_view email) {
  return first_user(c.query(std::string("SELECT ") + kUserCols + " FROM users WHERE email = ?", {email}));
}

bool email_exists(sql::Connection& c, std::string_view email) {
  return !c.query("SELECT 1 FROM users WHERE email = ?", {email}).empty();
}

bool any_admin(sql::Connection& c) {
  return !c.query("SELECT 1 FROM users WHERE is_admin = ? LIMIT 1", {true}).empty();
}

void lock_first_admin(sql::Connection& c) {
  // Transaction-scoped advisory lock; released at commit or rollback. The key is arbitrary
  // but fixed ("auth first admin").
  c.query("SELECT pg_advisory_xact_lock(7402190001)");
}

void update_profile(sql::Connection& c, std::string_view id, const std::optional<std::string>& display_name,
                    const std::optional<std::string>& timezone, int64_t now) {
  if (display_name) c.exec("UPDATE users SET display_name = ? WHERE id = ?", {*display_name, id});
  if (timezone) c.exec("UPDATE users SET timezone = ? WHERE id = ?", {*timezone, id});
  c.exec("UPDATE users SET updated_at = ? WHERE id = ?", {now, id});
}

void set_password_hash(sql::Connection& c, std::string_view id, std::string_view hash, int64_t now) {
  c.exec("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?", {hash, now, id});
}

int64_t bump_token_version(sql::Connection& c, std::string_view id, int64_t now) {
  c.exec("UPDATE users SET token_version = token_version + 1, updated_at = ? WHERE id = ?", {now, id});
  auto r = c.query("SELECT token_version FROM users WHERE id = ?", {id});
  return r.empty() ? 0 : r[0].i64(0);
}

bool set_active(sql::Connection& c, std::string_view id, bool active, int64_t now) {
  return c.exec("UPDATE users SET is_active = ?, updated_at = ? WHERE id = ?", {active, now, id}) > 0;
}

std::vector<UserRecord> list_users(sql::Connection& c, const std::optional<std::string>& after_id, int64_t limit) {
  sql::Result res = after_id ? c.query(std::string("SELECT ") + kUserCols +
                                           " FROM users WHERE id > ? ORDER BY id LIMIT ?",
                                       {*after_id, limit})
                             : c.query(std::string("SELECT ") + kUserCols + " FROM users ORDER BY id LIMIT ?", {limit});
  std::vector<UserRecord> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(user_from(res[i]));
  return out;
}

std::vector<UserRecord> list_all_users(sql::Connection& c) {
  sql::Result res = c.query(std::string("SELECT ") + kUserCols + " FROM users ORDER BY id");
  std::vector<UserRecord> out;
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(user_from(res[i]));
  return out;
}

// ---- sessions and refresh tokens

void insert_session(sql::Connection& c, const SessionRecord& s) {
  c.exec(
      "INSERT INTO sessions (id, user_id, user_agent, ip, created_at, last_used_at, expires_at, revoked_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      {s.id, s.user_id, s.user_agent, s.ip, s.created_at, s.last_used_at, s.expires_at, s.revoked_at});
}

void touch_session(sql::Connection& c, std::string_view id, int64_t now, int64_t expires_at) {
  c.exec("UPDATE sessions SET last_used_at = ?, expires_at = ? WHERE id = ?", {now, expires_at, id});
}

bool revoke_session(sql::Connection& c, std::string_view id, int64_t now) {
  return c.exec("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", {now, id}) > 0;
}

bool revoke_user_session(sql::Connection& c, std::string_view user_id, std::string_view session_id, int64_t now) {
  return c.exec(
             "UPDATE sessions SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?",
             {now, session_id, user_id, now}) > 0;
}

int64_t revoke_user_sessions(sql::Connection& c, std::string_view user_id, int64_t now,
                             const std::optional<std::string>& keep) {
  if (keep)
    return c.exec("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?",
                  {now, user_id, *keep});
  return c.exec("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", {now, user_id});
}

std::vector<SessionRecord> list_active_sessions(sql::Connection& c, std::string_view user_id, int64_t now,
                                                int64_t limit) {
  sql::Result res = c.query(std::string("SELECT ") + kSessionCols +
                                " FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? "
                                "ORDER BY created_at DESC, id DESC LIMIT ?",
                            {user_id, now, limit});
  std::vector<SessionRecord> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(session_from(res[i]));
  return out;
}

void insert_refresh_token(sql::Connection& c, std::string_view token_hash, std::string_view session_id, int64_t now) {
  c.exec("INSERT INTO refresh_tokens (token_hash, session_id, created_at, used_at) VALUES (?, ?, ?, NULL)",
         {token_hash, session_id, now});
}

std::optional<RefreshLookup> find_refresh_token(sql::Connection& c, std::string_view token_hash) {
  auto res = c.query(
      "SELECT r.session_id, r.used_at, s.user_id, s.revoked_at, s.expires_at, u.is_active "
      "FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id "
      "WHERE r.token_hash = ?",
      {token_hash});
  auto r = res.first();
  if (!r) return std::nullopt;
  RefreshLookup out;
  out.session_id = r->str(0);
  out.used_at = r->opt_i64(1);
  out.user_id = r->str(2);
  out.session_revoked_at = r->opt_i64(3);
  out.session_expires_at = r->i64(4);
  out.user_active = r->boolean(5);
  return out;
}

bool mark_refresh_used(sql::Connection& c, std::string_view token_hash, int64_t now) {
  return c.exec("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL", {now, token_hash}) >
         0;
}

std::optional<SessionAuthState> session_auth_state(sql::Connection& c, std::string_view user_id,
                                                   std::string_view session_id) {
  auto res = c.query(
      "SELECT u.is_active, u.is_admin, u.token_version, s.revoked_at, s.expires_at "
      "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ? AND s.user_id = ?",
      {session_id, user_id});
  auto r = res.first();
  if (!r) return std::nullopt;
  SessionAuthState st;
  st.user_active = r->boolean(0);
  st.is_admin = r->boolean(1);
  st.token_version = r->i64(2);
  st.session_revoked_at = r->opt_i64(3);
  st.session_expires_at = r->i64(4);
  return st;
}

// ---- API tokens

void insert_api_token(sql::Connection& c, const ApiTokenRecord& t) {
  c.exec(
      "INSERT INTO api_tokens (id, user_id, name, scope, token_hash, token_prefix, created_at, expires_at, "
      "last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {t.id, t.user_id, t.name, t.scope, t.token_hash, t.token_prefix, t.created_at, t.expires_at, t.last_used_at,
       t.revoked_at});
}

std::vector<ApiTokenRecord> list_api_tokens(sql::Connection& c, std::string_view user_id, int64_t limit) {
  sql::Result res = c.query(std::string("SELECT ") + kApiTokenCols +
                                " FROM api_tokens t WHERE t.user_id = ? AND t.revoked_at IS NULL "
                                "ORDER BY t.created_at DESC, t.id DESC LIMIT ?",
                            {user_id, limit});
  std::vector<ApiTokenRecord> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(api_token_from(res[i]));
  return out;
}

bool revoke_api_token(sql::Connection& c, std::string_view user_id, std::string_view id, int64_t now) {
  return c.exec("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
                {now, id, user_id}) > 0;
}

namespace {
std::optional<ApiTokenAuthState> api_token_auth_state_where(sql::Connection& c, const char* column,
                                                           std::string_view value) {
  auto res = c.query(std::string("SELECT ") + kApiTokenCols +
                         ", u.is_active, u.is_admin FROM api_tokens t JOIN users u ON u.id = t.user_id "
                         "WHERE t." + column + " = ?",
                     {value});
  auto r = res.first();
  if (!r) return std::nullopt;
  ApiTokenAuthState st;
  st.token = api_token_from(*r);
  st.user_active = r->boolean(10);
  st.is_admin = r->boolean(11);
  return st;
}
}  // namespace

std::optional<ApiTokenAuthState> api_token_auth_state(sql::Connection& c, std::string_view token_hash) {
  return api_token_auth_state_where(c, "token_hash", token_hash);
}

std::optional<ApiTokenAuthState> api_token_auth_state_by_id(sql::Connection& c, std::string_view id) {
  return api_token_auth_state_where(c, "id", id);
}

void touch_api_token(sql::Connection& c, std::string_view id, int64_t now) {
  c.exec("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", {now, id});
}

// ---- password resets

void insert_reset(sql::Connection& c, std::string_view token_hash, std::string_view user_id, int64_t now,
                  int64_t expires_at) {
  c.exec("INSERT INTO password_resets (token_hash, user_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, NULL)",
         {token_hash, user_id, now, expires_at});
}

std::optional<ResetRecord> find_reset(sql::Connection& c, std::string_view token_hash) {
  auto res = c.query("SELECT user_id, expires_at, used_at FROM password_resets WHERE token_hash = ?", {token_hash});
  auto r = res.first();
  if (!r) return std::nullopt;
  return ResetRecord{r->str(0), r->i64(1), r->opt_i64(2)};
}

bool mark_reset_used(sql::Connection& c, std::string_view token_hash, int64_t now) {
  return c.exec("UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
                {now, token_hash}) > 0;
}

void invalidate_user_resets(sql::Connection& c, std::string_view user_id, int64_t now) {
  c.exec("UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL", {now, user_id});
}

// ---- login throttling

std::vector<int64_t> recent_failures(sql::Connection& c, std::string_view key, int64_t since) {
  auto res = c.query("SELECT at FROM login_failures WHERE throttle_key = ? AND at > ? ORDER BY at", {key, since});
  std::vector<int64_t> out;
  out.reserve(res.size());
  for (std::size_t i = 0; i < res.size(); ++i) out.push_back(res[i].i64(0));
  return out;
}

void add_failure(sql::Connection& c, std::string_view key, int64_t now) {
  c.exec("INSERT INTO login_failures (throttle_key, at) VALUES (?, ?)", {key, now});
}

void prune_failures(sql::Connection& c, std::string_view key, int64_t before) {
  c.exec("DELETE FROM login_failures WHERE throttle_key = ? AND at <= ?", {key, before});
}

void clear_failures(sql::Connection& c, std::string_view key) {
  c.exec("DELETE FROM login_failures WHERE throttle_key = ?", {key});
}

// ---- housekeeping

int64_t delete_expired(sql::Connection& c, int64_t now, int64_t failures_before) {
  int64_t n = 0;
  // Sessions that expired or were revoked more than a day ago; refresh tokens first, so this
  // does not depend on foreign-key enforcement being switched on.
  const int64_t grace = 24 * 3600 * 1000LL;
  n += c.exec(
      "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE expires_at < ? OR "
      "revoked_at < ?)",
      {now - grace, now - grace});
  n += c.exec("DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?", {now - grace, now - grace});
  n += c.exec("DELETE FROM password_resets WHERE expires_at < ?", {now - grace});
  n += c.exec("DELETE FROM login_failures WHERE at <= ?", {failures_before});
  return n;
}

}  // namespace taskhub::auth::repo
