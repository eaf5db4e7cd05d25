#pragma once
// Who is calling: set by the authentication middleware, read by handlers.
#include <cstdint>
#include <string>

namespace taskhub {

enum class CredentialKind { access_token, api_token };

struct Principal {
  std::string user_id;     // UUIDv7 text
  bool is_admin = false;   // instance administrator
  bool can_write = true;   // false for read-only API tokens: writes answer 403
  CredentialKind kind = CredentialKind::access_token;
  std::string session_id;  // refresh-token family of the access token ("" for API tokens)
  std::string token_id;    // jti of the access token or id of the API token
  // When the credential stops being valid (ms since the epoch; 0: never, an API token without
  // an expiry). Long-lived connections (WebSocket, SSE) end then.
  int64_t expires_at_ms = 0;
  int64_t token_version = 0;  // access tokens: the user's token version they were issued under
};

}  // namespace taskhub
