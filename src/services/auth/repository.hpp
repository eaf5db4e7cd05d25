#pragma once
// The auth service's SQL (users, sessions, refresh_tokens, api_tokens, password_resets,
// login_failures), written once for SQLite and PostgreSQL through the SQL port. Every
// function runs on a connection the caller got from Database::read/write, so the service
// decides the transaction boundaries.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ports/sql.hpp"

namespace taskhub::auth {

struct UserRecord {
  std::string id;
  std::string email;
  std::string display_name;
  std::string timezone;
  std::string password_hash;
  bool is_admin = false;
  bool is_active = true;
  int64_t token_version = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct SessionRecord {
  std::string id;
  std::string user_id;
  std::string user_agent;
  std::string ip;
  int64_t created_at = 0;
  int64_t last_used_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> revoked_at;
};

struct ApiTokenRecord {
  std::string id;
  std::string user_id;
  std::string name;
  std::string scope;  // "read" | "read-write"
  std::string token_hash;
  std::string token_prefix;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> last_used_at;
  std::optional<int64_t> revoked_at;
};

// A refresh token with its session and user, as refresh() needs them.
struct RefreshLookup {
  std::string session_id;
  std::optional<int64_t> used_at;
  std::string user_id;
  std::optional<int64_t> session_revoked_at;
  int64_t session_expires_at = 0;
  bool user_active = false;
};

// What authenticate() needs for an access token: one query.
struct SessionAuthState {
  bool user_active = false;
  bool is_admin = false;
  int64_t token_version = 0;
  std::optional<int64_t> session_revoked_at;
  int64_t session_expires_at = 0;
};

struct ApiTokenAuthState {
  ApiTokenRecord token;
  bool user_active = false;
  bool is_admin = false;
};

struct ResetRecord {
  std::string user_id;
  int64_t expires_at = 0;
  std::optional<int64_t> used_at;
};

namespace repo {

// users
void insert_user(sql::Connection& c, const UserRecord& u);
std::optional<UserRecord> find_user(sql::Connection& c, std::string_view id);
std::optional<UserRecord> find_user_by_email(sql::Connection& c, std::string_view email);
bool email_exists(sql::Connection& c, std::string_view email);
bool any_admin(sql::Connection& c);
// PostgreSQL: serialises "first account becomes admin" across concurrent registrations.
void lock_first_admin(sql::Connection& c);
void update_profile(sql::Connection& c, std::string_view id, const std::optional<std::string>& display_name,
                    const std::optional<std::string>& timezone, int64_t now);
void set_password_hash(sql::Connection& c, std::string_view id, std::string_view hash, int64_t now);
// token_version + 1; returns the new version.
int64_t bump_token_version(sql::Connection& c, std::string_view id, int64_t now);
bool set_active(sql::Connection& c, std::string_view id, bool active, int64_t now);
std::vector<UserRecord> list_users(sql::Connection& c, const std::optional<std::string>& after_id, int64_t limit);
std::vector<UserRecord> list_all_users(sql::Connection& c);

// sessions and refresh tokens
void insert_session(sql::Connection& c, const SessionRecord& s);
void touch_session(sql::Connection& c, std::string_view id, int64_t now, int64_t expires_at);
bool revoke_session(sql::Connection& c, std::string_view id, int64_t now);
bool revoke_user_session(sql::Connection& c, std::string_view user_id, std::string_view session_id, int64_t now);
// Revokes every active session of the user except `keep` (when given); returns how many.
int64_t revoke_user_sessions(sql::Connection& c, std::string_view user_id, int64_t now,
                             const std::optional<std::string>& keep = std::nullopt);
std::vector<SessionRecord> list_active_sessions(sql::Connection& c, std::string_view user_id, int64_t now,
                                                int64_t limit);
void insert_refresh_token(sql::Connection& c, std::string_view token_hash, std::string_view session_id, int64_t now);
std::optional<RefreshLookup> find_refresh_token(sql::Connection& c, std::string_view token_hash);
// Marks the token used; false when it already was (a concurrent rotation won).
bool mark_refresh_used(sql::Connection& c, std::string_view token_hash, int64_t now);
std::optional<SessionAuthState> session_auth_state(sql::Connection& c, std::string_view user_id,
                                                   std::string_view session_id);

// API tokens
void insert_api_token(sql::Connection& c, const ApiTokenRecord& t);
std::vector<ApiTokenRecord> list_api_tokens(sql::Connection& c, std::string_view user_id, int64_t limit);
bool revoke_api_token(sql::Connection& c, std::string_view user_id, std::string_view id, int64_t now);
std::optional<ApiTokenAuthState> api_token_auth_state(sql::Connection& c, std::string_view token_hash);
std::optional<ApiTokenAuthState> api_token_auth_state_by_id(sql::Connection& c, std::string_view id);
void touch_api_token(sql::Connection& c, std::string_view id, int64_t now);

// password resets
void insert_reset(sql::Connection& c, std::string_view token_hash, std::string_view user_id, int64_t now,
                  int64_t expires_at);
std::optional<ResetRecord> find_reset(sql::Connection& c, std::string_view token_hash);
bool mark_reset_used(sql::Connection& c, std::string_view token_hash, int64_t now);
void invalidate_user_resets(sql::Connection& c, std::string_view user_id, int64_t now);

// login throttling
std::vector<int64_t> recent_failures(sql::Connection& c, std::string_view key, int64_t since);
void add_failure(sql::Connection& c, std::string_view key, int64_t now);
void prune_failures(sql::Connection& c, std::string_view key, int64_t before);
void clear_failures(sql::Connection& c, std::string_view key);

// housekeeping: drops rows that can no longer matter. Returns rows deleted.
int64_t delete_expired(sql::Connection& c, int64_t now, int64_t failures_before);

}  // namespace repo
}  // namespace taskhub::auth
