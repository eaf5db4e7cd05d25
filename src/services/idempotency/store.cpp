#include "services/idempotency/store.hpp"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <cstring>
#include <stdexcept>

namespace taskhub::idempotency {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kHex[p[i] >> 4]);
    out.push_back(kHex[p[i] & 15]);
  }
  return out;
}

std::string hex_sha256(std::string_view data) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  return hex(digest, sizeof digest);
}

// What the database sees of a key: a hash, so the raw key (which decrypts the body) never
// reaches it.
std::string key_id(std::string_view key) {
  unsigned char h[32];
  static constexpr std::string_view kContext = "taskhub-idempotency-key-id-v1\n";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof h);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kContext.data()), kContext.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_generichash_final(&st, h, sizeof h);
  return hex(h, sizeof h);
}

// The body is encrypted (XSalsa20-Poly1305) under a key derived from the user and the raw
// Idempotency-Key: answers that carry secrets (a new API token) are not readable at rest.
void body_key(std::string_view user_id, std::string_view key, unsigned char out[crypto_secretbox_KEYBYTES]) {
  static constexpr std::string_view kContext = "taskhub-idempotency-body-v1\n";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, crypto_secretbox_KEYBYTES);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kContext.data()), kContext.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(user_id.data()), user_id.size());
  const unsigned char sep = 0;
  crypto_generichash_update(&st, &sep, 1);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_generichash_final(&st, out, crypto_secretbox_KEYBYTES);
}

std::string seal_body(std::string_view user_id, std::string_view key, const std::string& body) {
  unsigned char k[crypto_secretbox_KEYBYTES];
  body_key(user_id, key, k);
  std::string box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + body.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(box.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES, reinterpret_cast<const unsigned char*>(body.data()),
                        body.size(), nonce, k);
  sodium_memzero(k, sizeof k);
  std::string b64(sodium_base64_ENCODED_LEN(box.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(box.data()), box.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  return b64;
}

std::string open_body(std::string_view user_id, std::string_view key, const std::string& stored) {
  std::string box(stored.size(), '\0');
  std::size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(box.data()), box.size(), stored.data(), stored.size(),
                        nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES)
    throw sql::Error("idempotency: a recorded answer is corrupt");
  unsigned char k[crypto_secretbox_KEYBYTES];
  body_key(user_id, key, k);
  const auto* nonce = reinterpret_cast<const unsigned char*>(box.data());
  std::string body(len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  int rc = crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(body.data()),
                                      nonce + crypto_secretbox_NONCEBYTES, len - crypto_secretbox_NONCEBYTES, nonce, k);
  sodium_memzero(k, sizeof k);
  if (rc != 0) throw sql::Error("idempotency: a recorded answer does not decrypt");
  return body;
}

std::string headers_to_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  boost::json::object o;
  for (const auto& [k, v] : headers) o[k] = v;
  return boost::json::serialize(o);
}

std::vector<std::pair<std::string, std::string>> headers_from_json(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& [k, val] : v.as_object())
    if (val.is_string()) out.emplace_back(std::string(k), std::string(val.as_string()));
  return out;
}

}  // namespace

SqlIdempotencyStore::SqlIdempotencyStore(sql::Database& db, Clock& clock, StoreOptions options)
    : db_(db), clock_(clock), opt_(options) {
  if (sodium_init() < 0) throw std::runtime_error("idempotency: libsodium failed to initialise");
}

std::string SqlIdempotencyStore::request_hash(std::string_view method, std::string_view target,
                                              std::string_view body_sha256) {
  std::string fp;
  fp.reserve(method.size() + target.size() + body_sha256.size() + 2);
  fp.append(method).append("\n").append(target).append("\n").append(body_sha256);
  return hex_sha256(fp);
}

http::IdempotencyBegin SqlIdempotencyStore::begin(std::string_view user_id, std::string_view key,
                                                  std::string_view method, std::string_view target,
                                                  std::string_view body_sha256) {
  const std::string hash = request_hash(method, target, body_sha256);
  const std::string kid = key_id(key);
  const int64_t now = clock_.now_ms();
  return db_.write_value([&](sql::Connection& c) -> http::IdempotencyBegin {
    int64_t inserted = c.exec(
        "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, status, created_at, locked_at) "
        "VALUES (?, ?, ?, 'pending', ?, ?) ON CONFLICT (user_id, idem_key) DO NOTHING",
        {user_id, kid, hash, now, now});
    if (inserted == 1) return http::IdempotencyBegin::proceed();

    auto res = c.query(
        "SELECT request_hash, status, response_status, response_headers, response_body, created_at, locked_at "
        "FROM idempotency_keys WHERE user_id = ? AND idem_key = ?",
        {user_id, kid});
    auto row = res.first();
    if (!row) throw sql::TransientError("idempotency key vanished during begin(); retry");
    const std::string stored_hash = row->str(0);
    const std::string status = row->str(1);
    const int64_t created_at = row->i64(5);
    const int64_t locked_at = row->i64(6);

    if (created_at <= now - opt_.ttl_ms) {
      // Expired but not cleaned up yet: a fresh use of the key.
      c.exec(
          "UPDATE idempotency_keys SET request_hash = ?, status = 'pending', response_status = NULL, "
          "response_headers = NULL, response_body = NULL, created_at = ?, locked_at = ? "
          "WHERE user_id = ? AND idem_key = ?",
          {hash, now, now, user_id, kid});
      return http::IdempotencyBegin::proceed();
    }
    if (stored_hash != hash) return http::IdempotencyBegin::mismatch();
    if (status == "complete") {
      http::StoredResponse r;
      r.status = static_cast<int>(row->i64(2));
      r.headers = headers_from_json(row->opt_str(3).value_or("{}"));
      r.body = open_body(user_id, key, row->opt_str(4).value_or(""));
      return http::IdempotencyBegin::replay(std::move(r));
    }
    if (locked_at <= now - opt_.lease_ms) {
      c.exec("UPDATE idempotency_keys SET locked_at = ? WHERE user_id = ? AND idem_key = ? AND status = 'pending'",
             {now, user_id, kid});
      spdlog::warn("idempotency: taking over a pending key of user {} (lease expired)", user_id);
      return http::IdempotencyBegin::proceed();
    }
    return http::IdempotencyBegin::in_progress();
  });
}

void SqlIdempotencyStore::complete(std::string_view user_id, std::string_view key,
                                   const http::StoredResponse& response) {
  if (response.body.size() > opt_.max_body_bytes) {
    // Not worth recording: release the key instead.
    abandon(user_id, key);
    return;
  }
  std::string headers = headers_to_json(response.headers);
  std::string sealed = seal_body(user_id, key, response.body);
  const std::string kid = key_id(key);
  db_.write([&](sql::Connection& c) {
    c.exec(
        "UPDATE idempotency_keys SET status = 'complete', response_status = ?, response_headers = ?, "
        "response_body = ? WHERE user_id = ? AND idem_key = ? AND status = 'pending'",
        {response.status, headers, sealed, user_id, kid});
  });
}

void SqlIdempotencyStore::abandon(std::string_view user_id, std::string_view key) {
  db_.write([&](sql::Connection& c) {
    c.exec("DELETE FROM idempotency_keys WHERE user_id = ? AND idem_key = ? AND status = 'pending'",
           {user_id, key_id(key)});
  });
}

int64_t SqlIdempotencyStore::cleanup() {
  const int64_t cutoff = clock_.now_ms() - opt_.ttl_ms;
  int64_t total = 0;
  for (int i = 0; i < opt_.cleanup_max_batches; ++i) {
    int64_t n = db_.write_value([&](sql::Connection& c) {
      return c.exec(
          "DELETE FROM idempotency_keys WHERE (user_id, idem_key) IN "
          "(SELECT user_id, idem_key FROM idempotency_keys WHERE created_at < ? LIMIT ?)",
          {cutoff, opt_.cleanup_batch});
    });
    total += n;
    if (n < opt_.cleanup_batch) break;
  }
  return total;
}

}  // namespace taskhub::idempotency
