#pragma once
// AWS Signature Version 4 for S3 (issue 5): the primitives, header signing and query-string
// presigning. Our own code rather than libcurl's CURLOPT_AWS_SIGV4 because (1) libcurl cannot
// presign (it signs the request it sends, and a presigned URL is never sent by us), and (2) the
// libcurl of Debian 12 (7.88) canonicalises query strings incompletely, which breaks
// ListObjectsV2 continuation tokens; one implementation, checked against AWS's documented
// examples and against botocore, signs everything (see docs/architecture.md).
//
// Time is a parameter (seconds since the Unix epoch) so tests can freeze it.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taskhub::s3 {

// Lower-case hex SHA-256 of data.
std::string sha256_hex(std::string_view data);
// Raw 32-byte HMAC-SHA-256.
std::string hmac_sha256_raw(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);

// SigV4 URI encoding: every byte except the unreserved A-Z a-z 0-9 - . _ ~ as %XX (upper-case
// hex); '/' kept only when encode_slash is false (object key paths).
std::string uri_encode(std::string_view s, bool encode_slash = true);

// "20130524T000000Z" for epoch seconds.
std::string amz_date(int64_t epoch_s);

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region = "us-east-1";
  std::string service = "s3";
};

using Params = std::vector<std::pair<std::string, std::string>>;  // raw (not encoded) names and values

struct Request {
  std::string method = "GET";
  std::string canonical_path = "/";  // already URI-encoded (S3: encoded once, '/' kept)
  Params query;                      // raw; encoded and sorted by canonical_query()
  Params headers;                    // every header to sign, including host; names any case
  std::string payload_hash;          // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// "name=value&..." with names and values URI-encoded, sorted by encoded name then value.
std::string canonical_query(const Params& query);
// Headers lower-cased, values trimmed (inner runs of spaces collapsed), sorted by name.
std::string canonical_request(const Request& r, std::string* signed_headers_out = nullptr);
std::string credential_scope(const Credentials& c, int64_t epoch_s);
std::string string_to_sign(const Credentials& c, int64_t epoch_s, std::string_view canonical_request);
std::string signing_key(const Credentials& c, int64_t epoch_s);
std::string signature(const Credentials& c, int64_t epoch_s, const Request& r);

// The Authorization header value for r; r.headers must already hold host, x-amz-date (=
// amz_date(epoch_s)) and, for S3, x-amz-content-sha256 (= payload_hash).
std::string authorization_header(const Credentials& c, int64_t epoch_s, const Request& r);

// Query-string presigning (X-Amz-Algorithm ... X-Amz-Signature, SignedHeaders=host, payload
// UNSIGNED-PAYLOAD): returns the complete encoded query string for method/host/path, with
// extra (e.g. response-content-disposition) signed along.
std::string presign_query(const Credentials& c, int64_t epoch_s, int expires_s, std::string_view method,
                          std::string_view host, std::string_view canonical_path, const Params& extra);

// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 8187 percent-encoding>`:
// the fallback replaces anything but printable ASCII without '"', '\\', ';' and '%' by '_', so the
// header can never be split or quoted wrongly whatever the uploaded file was called.
std::string attachment_disposition(std::string_view download_name);

}  // namespace taskhub::s3
