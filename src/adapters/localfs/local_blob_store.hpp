#pragma once
// The blob-store port on local disk (the default: ./data/files). A key maps to the file
// <root>/<key>; keys are validated by the port's rules before any path is built, so nothing is
// ever read or written outside the root. put() copies the source into a temp file inside the
// root (<root>/.tmp/), fsyncs it, renames it over the final path and fsyncs the directory:
// a crash leaves either the old blob or the new one, plus at most a temp file that the next
// start-up removes.
#include <string>

#include "ports/blob_store.hpp"

namespace taskhub {

// True when key follows the port's contract: 1..256 bytes of [a-z0-9/._-], no "..", no empty
// path segment, no leading '/'.
bool valid_blob_key(const std::string& key);

class LocalBlobStore final : public BlobStore {
 public:
  // Creates root (and root/.tmp) when missing; removes stale temp files. Throws
  // std::runtime_error when the directory cannot be created.
  explicit LocalBlobStore(std::string root);

  void put(const std::string& key, const std::string& source_path, const std::string& content_type) override;
  void get(const std::string& key, const std::string& dest_path) override;
  std::optional<std::string> local_path(const std::string& key) override;
  void remove(const std::string& key) override;
  std::optional<BlobInfo> stat(const std::string& key) override;
  void list(const std::string& prefix, const std::function<bool(const BlobInfo&)>& fn) override;
  std::optional<std::string> presigned_get(const std::string& key, int expires_s,
                                           const std::string& download_name) override;

  const std::string& root() const { return root_; }

 private:
  std::string path_of(const std::string& key) const;  // validates
  std::string root_;
  std::string tmp_dir_;
};

}  // namespace taskhub
