// make_blob_store: S3 when a bucket is configured, local disk otherwise.
#include "adapters/localfs/local_blob_store.hpp"
#include "adapters/s3/s3_blob_store.hpp"
#include "ports/blob_store.hpp"

namespace taskhub {

std::unique_ptr<BlobStore> make_blob_store(const BlobStoreConfig& config) {
  if (!config.s3_bucket.empty()) return make_s3_blob_store(config);
  return std::make_unique<LocalBlobStore>(config.files_dir);
}

}  // namespace taskhub
