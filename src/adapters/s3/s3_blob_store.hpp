#pragma once
// The S3 adapter of the blob-store port (issue 5): S3 or an S3-compatible store over libcurl,
// every request signed with our SigV4 code (adapters/s3/sigv4.hpp; why not CURLOPT_AWS_SIGV4:
// see there and docs/architecture.md). One libcurl easy handle per call, so the store is
// thread-safe without locks; every call has bounded connect, low-speed and total timeouts and
// follows no redirect.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/s3/sigv4.hpp"
#include "ports/blob_store.hpp"

namespace taskhub {

std::unique_ptr<BlobStore> make_s3_blob_store(const BlobStoreConfig& config);

namespace s3 {

// Where a request goes: the URL libcurl fetches, the Host header sent (and signed), and the
// canonical path signed.
struct Target {
  std::string url;  // without query
  std::string host;
  std::string canonical_path;
};

class S3BlobStore : public BlobStore {
 public:
  using Clock = std::function<int64_t()>;  // seconds since the epoch; injectable for tests
  // Throws std::invalid_argument for an unusable configuration (no bucket, no credentials,
  // an endpoint that is not http(s)://host[:port]).
  explicit S3BlobStore(const BlobStoreConfig& config, Clock clock = {});

  void put(const std::string& key, const std::string& source_path, const std::string& content_type) override;
  void get(const std::string& key, const std::string& dest_path) override;
  std::optional<std::string> local_path(const std::string&) override { return std::nullopt; }
  void remove(const std::string& key) override;
  std::optional<BlobInfo> stat(const std::string& key) override;
  void list(const std::string& prefix, const std::function<bool(const BlobInfo&)>& fn) override;
  std::optional<std::string> presigned_get(const std::string& key, int expires_s,
                                           const std::string& download_name) override;

  // Exposed for the tests that compare our signing with botocore's.
  Target target(const std::string& key) const;  // "" = the bucket itself
  // host, x-amz-date, x-amz-content-sha256, the extra headers, and Authorization over all of them.
  Params sign(const std::string& method, const Target& t, const Params& query, const std::string& payload_hash,
              const Params& extra_headers) const;
  // ListObjectsV2 page size (max-keys, 1..1000): tests page through a few keys with a small one.
  void set_list_page_size(int n);

 private:
  Credentials creds_;
  std::string bucket_;
  std::string scheme_;
  std::string endpoint_host_;  // host[:port], default port dropped
  bool path_style_;
  Clock clock_;
  int list_page_size_ = 1000;
};

// One ListObjectsV2 answer, read with flat-XML scanning (S3 never nests an element inside one of
// the same name); entities (&amp; &#x20AC; ...) decoded.
struct ListPage {
  std::vector<BlobInfo> items;
  bool truncated = false;
  std::string next_token;
};
ListPage parse_list_page(std::string_view xml);

// Throws std::invalid_argument unless key matches the port's alphabet ([a-z0-9/._-], no "..",
// 1..256 bytes, no leading '/', no empty path segment); allow_prefix: a list prefix, which may be
// empty or end with '/'.
void check_key(const std::string& key, bool allow_prefix = false);

}  // namespace s3
}  // namespace taskhub
