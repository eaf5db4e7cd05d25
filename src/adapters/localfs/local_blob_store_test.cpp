#include "adapters/localfs/local_blob_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

namespace fs = std::filesystem;
using namespace taskhub;

namespace {

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

void write_all(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

class FilesLocalBlobStore : public ::testing::Test {
 protected:
  void SetUp() override {
    base = ::testing::TempDir() + "taskhub_blobs_" + std::to_string(::getpid());
    fs::remove_all(base);
    fs::create_directories(base);
    root = base + "/root";
    src = base + "/src.bin";
  }
  void TearDown() override { fs::remove_all(base); }
  std::string base, root, src;
};

}  // namespace

TEST_F(FilesLocalBlobStore, KeyRules) {
  EXPECT_TRUE(valid_blob_key("sha256/ab/abcdef"));
  EXPECT_TRUE(valid_blob_key("thumbs/x_64.png"));
  for (const std::string& bad : std::vector<std::string>{"", "/abs", "../x", "a/../b", "a//b", "a/", ".hidden", "a/./b", "A", "a b", "a\\b",
                          std::string(257, 'a'), std::string("a\0b", 3)})
    EXPECT_FALSE(valid_blob_key(bad)) << bad;
  LocalBlobStore store(root);
  write_all(src, "x");
  EXPECT_THROW(store.put("../escape", src, ""), std::invalid_argument);
  EXPECT_THROW(store.get("../../etc/passwd", base + "/out"), std::invalid_argument);
  EXPECT_THROW(store.remove("/tmp/x"), std::invalid_argument);
  EXPECT_FALSE(fs::exists(base + "/escape"));
}

TEST_F(FilesLocalBlobStore, PutGetStatListRemove) {
  LocalBlobStore store(root);
  std::string bytes("bin\0ary\xff", 8);
  write_all(src, bytes);
  store.put("sha256/aa/aabb", src, "application/octet-stream");
  EXPECT_EQ(read_all(src), bytes);  // the source is left as it was
  auto p = store.local_path("sha256/aa/aabb");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, root + "/sha256/aa/aabb");
  EXPECT_EQ(read_all(*p), bytes);
  store.get("sha256/aa/aabb", base + "/out");
  EXPECT_EQ(read_all(base + "/out"), bytes);
  auto st = store.stat("sha256/aa/aabb");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->size, 8u);
  EXPECT_GT(st->modified_ms, 0);

  write_all(src, "other");
  store.put("sha256/bb/bbcc", src, "");
  store.put("thumbs/t1", src, "");
  std::map<std::string, uint64_t> seen;
  store.list("sha256/", [&](const BlobInfo& b) {
    seen[b.key] = b.size;
    return true;
  });
  EXPECT_EQ(seen, (std::map<std::string, uint64_t>{{"sha256/aa/aabb", 8}, {"sha256/bb/bbcc", 5}}));
  int calls = 0;
  store.list("", [&](const BlobInfo&) { return ++calls < 1; });
  EXPECT_EQ(calls, 1);  // stopped early

  store.remove("sha256/aa/aabb");
  store.remove("sha256/aa/aabb");  // missing: not an error
  EXPECT_FALSE(store.stat("sha256/aa/aabb"));
  EXPECT_FALSE(store.local_path("sha256/aa/aabb"));
  EXPECT_THROW(store.get("sha256/aa/aabb", base + "/out"), BlobNotFound);
  EXPECT_FALSE(store.presigned_get("sha256/bb/bbcc", 60, "a.txt"));
}

TEST_F(FilesLocalBlobStore, FailedPutLeavesNothingAndStaleTempFilesGo) {
  {
    LocalBlobStore store(root);
    EXPECT_THROW(store.put("sha256/cc/cc", base + "/missing", ""), std::runtime_error);
    EXPECT_FALSE(store.stat("sha256/cc/cc"));
    EXPECT_TRUE(fs::is_empty(root + "/.tmp"));
  }
  write_all(root + "/.tmp/left-by-a-crash", "partial");
  LocalBlobStore again(root);
  EXPECT_TRUE(fs::is_empty(root + "/.tmp"));
  int n = 0;
  again.list("", [&](const BlobInfo&) { return ++n, true; });
  EXPECT_EQ(n, 0);  // temp files are never listed as blobs
}

TEST_F(FilesLocalBlobStore, FactoryPicksLocalUnlessABucketIsSet) {
  BlobStoreConfig c;
  c.files_dir = root;
  auto s = make_blob_store(c);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->presigned_get("a", 1, "x"));
  EXPECT_NE(dynamic_cast<LocalBlobStore*>(s.get()), nullptr);  // (S3 with a bucket: S3BlobStoreTest)
}
