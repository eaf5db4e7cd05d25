#pragma once
// Signing and sending one webhook delivery (libcurl).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "services/webhooks/address.hpp"

namespace taskhub::webhooks {

// Lower-case hex HMAC-SHA256(key, message).
std::string hmac_sha256_hex(const std::string& key, const std::string& message);
// The X-Taskhub-Signature value: "sha256=" + hex HMAC-SHA256(secret, timestamp + "." + body).
std::string signature_header(const std::string& secret, const std::string& timestamp, const std::string& body);

struct SendOptions {
  int64_t timeout_ms = 5000;                // connect and total
  std::size_t max_response_bytes = 64 * 1024;  // read at most this much of the answer; the rest is dropped
};

struct SendResult {
  int status = 0;           // HTTP status; 0 when no answer
  int64_t duration_ms = 0;
  std::string error;        // empty on a 2xx
  std::string excerpt;      // the first bytes of the answer (at most 1 KiB), for the log
  bool transport_failed = false;  // no answer, or the transfer broke off (timeout)
  bool ok() const { return !transport_failed && status >= 200 && status < 300; }
};

// POSTs `body` to the checked target: connects only to target.address (no DNS at connect
// time), follows no redirects, http/https only, no proxy from the environment.
SendResult post_json(const Target& target, const std::string& url,
                     const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body,
                     const SendOptions& options);

}  // namespace taskhub::webhooks
