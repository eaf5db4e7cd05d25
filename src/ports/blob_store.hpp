#pragma once
// The blob-store port (issue 5): where attachment bytes live. Adapters: local disk (default,
// under ./data/files) and S3 or an S3-compatible store (libcurl, AWS Signature V4).
//
// Contract:
// - Keys are made by the server (never from a file name): [a-z0-9/._-], no "..", at most 256
//   bytes. Adapters reject any other key with std::invalid_argument, so a bug elsewhere can
//   never write outside the store's root.
// - put() is all-or-nothing: a reader sees the whole blob or no blob; a failed or interrupted
//   put leaves nothing behind (local: temp file + fsync + rename; S3: a single PUT).
// - Bytes move through files, never through one in-memory buffer (uploads are spooled to disk
//   by the HTTP layer; downloads are fetched to a temp file or served by a presigned URL).
// - Every call blocks (disk or network I/O): call from the blocking pool or a job, never from
//   an I/O thread. Errors throw std::runtime_error with the cause; a missing key on get()
//   throws BlobNotFound.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace taskhub {

struct BlobNotFound : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct BlobInfo {
  std::string key;
  uint64_t size = 0;
  int64_t modified_ms = 0;  // last write (used by the orphan collector's grace period)
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Stores the contents of the local file at `source_path` under `key` (replacing any blob
  // there). content_type is recorded where the store keeps one (S3), ignored otherwise.
  virtual void put(const std::string& key, const std::string& source_path, const std::string& content_type) = 0;

  // Writes the blob's bytes to the local file `dest_path` (created or truncated).
  virtual void get(const std::string& key, const std::string& dest_path) = 0;

  // For the local adapter: the blob's path on disk, served directly by the HTTP server
  // (sendfile, ranges). nullopt for remote stores.
  virtual std::optional<std::string> local_path(const std::string& key) = 0;

  // Removes the blob; removing a missing key is not an error.
  virtual void remove(const std::string& key) = 0;

  virtual std::optional<BlobInfo> stat(const std::string& key) = 0;

  // Calls fn for every blob whose key starts with prefix (the orphan collector). Stops early
  // when fn returns false.
  virtual void list(const std::string& prefix, const std::function<bool(const BlobInfo&)>& fn) = 0;

  // A URL that downloads the blob directly from the store for expires_s seconds, answered as
  // an attachment named download_name (Content-Disposition: attachment). nullopt when the
  // store cannot presign (local disk): the server streams the bytes itself.
  virtual std::optional<std::string> presigned_get(const std::string& key, int expires_s,
                                                   const std::string& download_name) = 0;
};

struct BlobStoreConfig {
  // Local disk.
  std::string files_dir = "./data/files";
  // S3: chosen when bucket is set.
  std::string s3_bucket;
  std::string s3_region = "us-east-1";
  std::string s3_endpoint;  // empty: https://s3.<region>.amazonaws.com; else e.g. http://127.0.0.1:4569
  std::string access_key_id;
  std::string secret_access_key;
  bool s3_path_style = true;  // bucket in the path (S3-compatible stores); false: virtual host
};

// S3 when config.s3_bucket is set, local disk otherwise.
std::unique_ptr<BlobStore> make_blob_store(const BlobStoreConfig& config);

}  // namespace taskhub
