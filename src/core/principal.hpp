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
};

}  // namespace taskhub
