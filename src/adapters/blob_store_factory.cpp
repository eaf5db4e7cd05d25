// make_blob_store: S3 when a bucket is configured, local disk otherwise.
#include <stdexcept>

#include "adapters/s3/s3_blob_store.hpp"
#include "ports/blob_store.hpp"
// The local adapter is written on the files branch; until both branches are merged this file
// also compiles without it (the guard can go once adapters/localfs/ is on main).
#if __has_include("adapters/localfs/local_blob_store.hpp")
#include "adapters/localfs/local_blob_store.hpp"
#define TASKHUB_HAVE_LOCAL_BLOB_STORE 1
#endif

namespace taskhub {

std::unique_ptr<BlobStore> make_blob_store(const BlobStoreConfig& config) {
  if (!config.s3_bucket.empty()) return make_s3_blob_store(config);
#ifdef TASKHUB_HAVE_LOCAL_BLOB_STORE
  return std::make_unique<LocalBlobStore>(config.files_dir);
#else
  throw std::runtime_error("local blob store not built in this branch");
#endif
}

}  // namespace taskhub
