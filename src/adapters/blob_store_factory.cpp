// make_blob_store: S3 when a bucket is configured, local disk otherwise.
#include <stdexcept>

#include "adapters/localfs/local_blob_store.hpp"
#include "ports/blob_store.hpp"

namespace taskhub {

std::unique_ptr<BlobStore> make_blob_store(const BlobStoreConfig& config) {
  if (!config.s3_bucket.empty()) throw std::runtime_error("S3 adapter not built");
  return std::make_unique<LocalBlobStore>(config.files_dir);
}

}  // namespace taskhub
