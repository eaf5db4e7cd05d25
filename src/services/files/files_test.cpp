// The files service: names, multipart parsing, libmagic detection, and the service on a real
// database (SQLite memory, PostgreSQL when TASKHUB_TEST_POSTGRES_URL is set) with the real
// local blob store in a temp directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "adapters/localfs/local_blob_store.hpp"
#include "adapters/sql_test_support.hpp"
#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/subprocess.hpp"
#include "ports/migrations.hpp"
#include "services/events/outbox.hpp"
#include "services/files/multipart.hpp"
#include "services/files/names.hpp"
#include "services/files/service.hpp"
#include "services/files/sniff.hpp"
#include "services/files/thumbnail.hpp"
#include "services/tasks/fake_projects_client.hpp"

namespace fs = std::filesystem;

namespace taskhub::files {
namespace {

std::string read_all(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}
void write_all(const std::string& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

int status_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e.status();
  }
  return 0;
}

TEST(FilesNames, Sanitize) {
  EXPECT_EQ(sanitize_file_name("report.pdf"), "report.pdf");
  EXPECT_EQ(sanitize_file_name("../../etc/passwd"), "passwd");
  EXPECT_EQ(sanitize_file_name("C:\\Users\\x\\evil.exe"), "evil.exe");
  EXPECT_EQ(sanitize_file_name(".."), "file");
  EXPECT_EQ(sanitize_file_name(""), "file");
  EXPECT_EQ(sanitize_file_name(".bashrc"), "bashrc");
  EXPECT_EQ(sanitize_file_name("a\r\nb\x01.txt"), "ab.txt");
  EXPECT_EQ(sanitize_file_name("invoice\u202Efdp.exe"), "invoicefdp.exe");  // RTL override dropped
  EXPECT_EQ(sanitize_file_name("r\u00e9sum\u00e9.txt"), "r\u00e9sum\u00e9.txt");
  EXPECT_EQ(sanitize_file_name("bad\xff\xfe.txt"), "bad__.txt");
  std::string longname = std::string(300, 'a') + ".txt";
  auto s = sanitize_file_name(longname);
  EXPECT_EQ(s.size(), kMaxNameBytes);
  EXPECT_TRUE(s.ends_with(".txt"));
  std::string multibyte;
  for (int i = 0; i < 200; ++i) multibyte += "\u00e9";  // 2 bytes each
  s = sanitize_file_name(multibyte);
  EXPECT_LE(s.size(), kMaxNameBytes);
  EXPECT_EQ(s.size() % 2, 0u);  // cut on a character boundary
}

TEST(FilesNames, DispositionAndServedType) {
  EXPECT_EQ(attachment_disposition("a b\"c.txt"),
            "attachment; filename=\"a b_c.txt\"; filename*=UTF-8''a%20b%22c.txt");
  EXPECT_EQ(attachment_disposition("\u00e9.txt"), "attachment; filename=\"__.txt\"; filename*=UTF-8''%C3%A9.txt");
  EXPECT_EQ(served_content_type("text/html"), "application/octet-stream");
  EXPECT_EQ(served_content_type("image/svg+xml"), "application/octet-stream");
  EXPECT_EQ(served_content_type("application/xhtml+xml"), "application/octet-stream");
  EXPECT_EQ(served_content_type("text/javascript"), "application/octet-stream");
  EXPECT_EQ(served_content_type("image/png"), "image/png");
  EXPECT_EQ(served_content_type("text/plain"), "text/plain; charset=utf-8");
  EXPECT_EQ(served_content_type(""), "application/octet-stream");
}

class FilesTmp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = ::testing::TempDir() + "taskhub_files_" + std::to_string(::getpid()) + "_" + new_uuid_v7();
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::string dir;
};

TEST(FilesMultipart, Boundary) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b\""), "a b");
  EXPECT_FALSE(multipart_boundary("multipart/mixed; boundary=abc"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')));
  EXPECT_FALSE(multipart_boundary("application/octet-stream"));
}

TEST_F(FilesTmp, MultipartExtractsTheFilePartAcrossBlocks) {
  // A file of 200 KiB with NUL bytes and near-miss boundaries, after a small field.
  std::string content;
  for (int i = 0; i < 200 * 1024; ++i) content.push_back(static_cast<char>(i % 251));
  content += "\r\n--XY not quite\r\n-XYZ";
  content += std::string("\0\0\r\n--XY", 8);
  std::string body = "--XYZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n"
                     "--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"; "
                     "filename*=UTF-8''%C3%A9.bin\r\nContent-Type: image/png\r\n\r\n" +
                     content + "\r\n--XYZ--\r\n";
  write_all(dir + "/body", body);
  auto f = extract_multipart_file(dir + "/body", "XYZ", "file", dir + "/out");
  EXPECT_EQ(f.filename, "\u00e9.bin");
  EXPECT_EQ(f.size, content.size());
  EXPECT_EQ(read_all(dir + "/out"), content);
}

TEST_F(FilesTmp, MultipartRefusesTruncatedMissingAndHugeHeaders) {
  write_all(dir + "/t", "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\npartial data");
  EXPECT_EQ(status_of([&] { extract_multipart_file(dir + "/t", "B", "file", dir + "/o1"); }), 400);
  write_all(dir + "/m", "--B\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--B--\r\n");
  EXPECT_EQ(status_of([&] { extract_multipart_file(dir + "/m", "B", "file", dir + "/o2"); }), 400);
  write_all(dir + "/h", "--B\r\nX-Pad: " + std::string(10000, 'a') + "\r\n\r\nx\r\n--B--\r\n");
  EXPECT_EQ(status_of([&] { extract_multipart_file(dir + "/h", "B", "file", dir + "/o3"); }), 400);
  try {
    extract_multipart_file(dir + "/t", "B", "file", dir + "/o4");
  } catch (const ApiError& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors()[0].field, "file");
  }
}

TEST_F(FilesTmp, TypesComeFromTheBytes) {
  write_all(dir + "/a.txt", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0", 29));
  auto f = inspect_file(dir + "/a.txt");
  EXPECT_EQ(f.content_type, "image/png");
  EXPECT_EQ(f.size, 29u);
  write_all(dir + "/b.png", "<!DOCTYPE html><html><script>alert(1)</script></html>");
  EXPECT_EQ(inspect_file(dir + "/b.png").content_type, "text/html");
  write_all(dir + "/c", "abc");
  EXPECT_EQ(inspect_file(dir + "/c").sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

class FilesServiceTest : public sql::testing::SqlBackendTest {
 protected:
  void SetUp() override {
    SqlBackendTest::SetUp();
    if (IsSkipped()) return;
    sql::migrate(db());
    dir_ = ::testing::TempDir() + "taskhub_files_svc_" + std::to_string(::getpid()) + "_" + new_uuid_v7();
    store_ = std::make_unique<LocalBlobStore>(dir_ + "/blobs");
    outbox_ = std::make_unique<events::SqlOutbox>(db(), clock_);
    project_ = projects_.add_project("WEB", "alice");
    projects_.add_member(project_, "bob", projects::ProjectRole::member);
    projects_.add_member(project_, "vera", projects::ProjectRole::viewer);
    other_project_ = projects_.add_project("OPS", "mallory");
    task_ = new_uuid_v7();
    task2_ = new_uuid_v7();
    foreign_task_ = new_uuid_v7();
    tasks_[task_] = project_;
    tasks_[task2_] = project_;
    tasks_[foreign_task_] = other_project_;
    Options o;
    o.spool_dir = dir_ + "/spool";
    o.max_upload_bytes = 1000;
    o.workspace_quota_bytes = 2500;
    o.max_per_task = 3;
    svc_ = std::make_unique<FilesService>(
        db(), projects_, *outbox_, *store_, nullptr,
        [this](const std::string& user, const std::string& task) -> std::optional<std::string> {
          auto it = tasks_.find(task);
          if (it == tasks_.end() || !projects_.project_access(user, it->second)) return std::nullopt;
          return it->second;
        },
        [this](const std::vector<std::string>& ids) {
          std::vector<std::string> out;
          for (const auto& id : ids)
            if (tasks_.count(id)) out.push_back(id);
          return out;
        },
        clock_, o,
        [this](const std::string& user, const std::string& comment) -> std::optional<CommentOwner> {
          auto it = comments_.find(comment);
          if (it == comments_.end()) return std::nullopt;
          auto t = tasks_.find(it->second.task_id);
          if (t == tasks_.end() || !projects_.project_access(user, t->second)) return std::nullopt;
          return it->second;
        });
  }
  void TearDown() override {
    svc_.reset();
    outbox_.reset();
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
    SqlBackendTest::TearDown();
  }
  std::string file(const std::string& content) {
    std::string p = dir_ + "/in-" + new_uuid_v7();
    write_all(p, content);
    return p;
  }
  std::size_t blob_count() {
    std::size_t n = 0;
    store_->list("", [&](const BlobInfo&) { return ++n, true; });
    return n;
  }
  int64_t events_of(const std::string& type) {
    return db().read_value(
        [&](sql::Connection& c) { return c.query("SELECT COUNT(*) FROM events WHERE type = ?", {type})[0].i64(0); });
  }

  ManualClock clock_;
  tasks::testing::FakeProjectsClient projects_;
  std::map<std::string, std::string> tasks_;
  std::map<std::string, CommentOwner> comments_;  // comment id -> its task and author
  std::unique_ptr<LocalBlobStore> store_;
  std::unique_ptr<events::SqlOutbox> outbox_;
  std::unique_ptr<FilesService> svc_;
  std::string dir_, project_, other_project_, task_, task2_, foreign_task_;
};

TEST_P(FilesServiceTest, UploadListGetDownloadDeleteWithDedup) {
  std::string bytes("hello\0world", 11);
  auto a = svc_->upload("bob", task_, file(bytes), "../../x.txt");
  EXPECT_EQ(a.name, "x.txt");
  EXPECT_EQ(a.size, 11);
  EXPECT_EQ(a.blob_key, "sha256/" + a.sha256.substr(0, 2) + "/" + a.sha256);
  EXPECT_EQ(events_of("attachment.created"), 1);
  auto b = svc_->upload("alice", task2_, file(bytes), "copy.bin");
  EXPECT_EQ(b.blob_key, a.blob_key);
  EXPECT_EQ(blob_count(), 1u);  // stored once

  auto page = svc_->list("bob", task_, std::nullopt, 50);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].id, a.id);
  auto d = svc_->download("vera", a.id);  // viewers can read
  ASSERT_TRUE(d.local_path);
  EXPECT_EQ(read_all(*d.local_path), bytes);
  EXPECT_FALSE(d.redirect_url);

  svc_->remove("bob", a.id);
  EXPECT_EQ(blob_count(), 1u);  // b still points to it
  EXPECT_EQ(status_of([&] { svc_->get("bob", a.id); }), 404);
  svc_->remove("alice", b.id);
  EXPECT_EQ(blob_count(), 0u);
  EXPECT_EQ(events_of("attachment.deleted"), 2);
}

TEST_P(FilesServiceTest, ForeignUsersGet404EvenUnderTheirOwnTask) {
  auto a = svc_->upload("alice", task_, file("secret"), "s.txt");
  EXPECT_EQ(status_of([&] { svc_->get("mallory", a.id); }), 404);
  EXPECT_EQ(status_of([&] { svc_->download("mallory", a.id); }), 404);
  EXPECT_EQ(status_of([&] { svc_->get("mallory", a.id, foreign_task_); }), 404);
  EXPECT_EQ(status_of([&] { svc_->download("mallory", a.id, foreign_task_); }), 404);
  EXPECT_EQ(status_of([&] { svc_->remove("mallory", a.id); }), 404);
  EXPECT_EQ(status_of([&] { svc_->rename("mallory", a.id, "x"); }), 404);
  EXPECT_EQ(status_of([&] { svc_->list("mallory", task_, std::nullopt, 50); }), 404);
  EXPECT_EQ(status_of([&] { svc_->upload("mallory", task_, file("x"), "x"); }), 404);
  // Even a member naming the wrong task of the same project: 404.
  EXPECT_EQ(status_of([&] { svc_->get("bob", a.id, task2_); }), 404);
  EXPECT_EQ(svc_->get("bob", a.id, task_).id, a.id);
  EXPECT_EQ(status_of([&] { svc_->get("bob", "not-a-uuid"); }), 404);
}

TEST_P(FilesServiceTest, PermissionsToChange) {
  auto a = svc_->upload("bob", task_, file("one"), "one.txt");
  EXPECT_EQ(status_of([&] { svc_->upload("vera", task_, file("x"), "x"); }), 403);
  EXPECT_EQ(status_of([&] { svc_->rename("vera", a.id, "x"); }), 403);
  EXPECT_EQ(status_of([&] { svc_->remove("vera", a.id); }), 403);
  EXPECT_EQ(svc_->rename("bob", a.id, "dir/new\u202E.txt").name, "new.txt");
  auto c = svc_->upload("alice", task_, file("two"), "two.txt");
  EXPECT_EQ(status_of([&] { svc_->remove("bob", c.id); }), 403);  // not the uploader, not admin
  svc_->remove("alice", a.id);                                     // admin removes bob's
  projects_.set_archived(project_, true);
  EXPECT_EQ(status_of([&] { svc_->remove("alice", c.id); }), 403);
  EXPECT_EQ(status_of([&] { svc_->upload("alice", task_, file("x"), "x"); }), 403);
}

TEST_P(FilesServiceTest, LimitsQuotaAndPerTaskBound) {
  EXPECT_EQ(status_of([&] { svc_->upload("bob", task_, file(std::string(1001, 'x')), "big"); }), 413);
  EXPECT_EQ(blob_count(), 0u);
  svc_->upload("bob", task_, file(std::string(1000, 'a')), "a");
  svc_->upload("bob", task_, file(std::string(1000, 'b')), "b");
  // 2000 of 2500 used: 600 more would pass the quota.
  EXPECT_EQ(status_of([&] { svc_->upload("bob", task2_, file(std::string(600, 'c')), "c"); }), 507);
  EXPECT_EQ(blob_count(), 2u);  // the refused upload's blob is gone
  svc_->upload("bob", task_, file("d"), "d");
  EXPECT_EQ(status_of([&] { svc_->upload("bob", task_, file("e"), "e"); }), 409);  // 3 per task
  EXPECT_EQ(events_of("attachment.created"), 3);
  // Deleting gives the quota back.
  auto page = svc_->list("bob", task_, std::nullopt, 50);
  svc_->remove("bob", page[0].id);
  svc_->upload("bob", task2_, file(std::string(600, 'c')), "c");
}

TEST_P(FilesServiceTest, ProjectAndTaskPurgesAndOrphanCollection) {
  auto a = svc_->upload("bob", task_, file("aaa"), "a");
  auto b = svc_->upload("bob", task2_, file("bbb"), "b");
  tasks_.erase(task_);  // purged by the tasks service
  EXPECT_EQ(svc_->reap_purged_tasks(), 1);
  EXPECT_FALSE(store_->stat(a.blob_key));
  EXPECT_TRUE(store_->stat(b.blob_key));
  svc_->purge_project(project_);
  EXPECT_EQ(blob_count(), 0u);
  int64_t used = db().read_value(
      [&](sql::Connection& c) { return c.query("SELECT SUM(bytes) FROM files_usage")[0].i64(0); });
  EXPECT_EQ(used, 0);

  // An unreferenced blob is kept during the grace period, then collected.
  std::string orphan = file("orphan");
  store_->put("sha256/ab/abcd", orphan, "");
  clock_.set_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count());
  EXPECT_EQ(svc_->collect_orphans(), 0);
  clock_.advance_ms(svc_->options().orphan_grace_ms + 60'000);
  EXPECT_EQ(svc_->collect_orphans(), 1);
  EXPECT_EQ(blob_count(), 0u);
}

// Width and height from a PNG's IHDR chunk (bytes 16..23, big-endian): read independently of
// libvips, which made the file.
std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  std::string b = read_all(path);
  if (b.size() < 24 || b.compare(1, 3, "PNG") != 0 || b.compare(12, 4, "IHDR") != 0) return {0, 0};
  auto be32 = [&](std::size_t i) {
    return (uint32_t(uint8_t(b[i])) << 24) | (uint32_t(uint8_t(b[i + 1])) << 16) | (uint32_t(uint8_t(b[i + 2])) << 8) |
           uint32_t(uint8_t(b[i + 3]));
  };
  return {be32(16), be32(20)};
}

TEST_P(FilesServiceTest, ThumbnailsInTwoSizesSharedByContentAndRemovedWithIt) {
  // A 300 x 150 PNG made with the vips command-line tool.
  std::string png = dir_ + "/wide.png";
  fs::create_directories(dir_);
  ASSERT_EQ(run_process({"vips", "black", png, "300", "150", "--bands", "3"}, std::chrono::seconds(30)).exit_code, 0);
  ASSERT_EQ(png_size(png), (std::pair<uint32_t, uint32_t>{300, 150}));
  auto a = svc_->upload("bob", task_, png, "wide.png");
  ASSERT_EQ(a.content_type, "image/png");
  EXPECT_EQ(status_of([&] { svc_->thumbnail("bob", a.id, 64); }), 404);  // not made yet
  svc_->make_thumbnails(a.id);
  svc_->make_thumbnails(a.id);  // idempotent
  EXPECT_TRUE(fs::is_empty(svc_->options().spool_dir));  // its temp files are gone
  for (int size : {64, 256}) {
    auto d = svc_->thumbnail("vera", a.id, size);
    ASSERT_TRUE(d.local_path);
    auto [w, h] = png_size(*d.local_path);
    EXPECT_EQ(w, uint32_t(size));      // the long side fits the box
    EXPECT_EQ(h, uint32_t(size / 2));  // aspect kept
  }
  EXPECT_EQ(status_of([&] { svc_->thumbnail("bob", a.id, 100); }), 400);
  EXPECT_EQ(status_of([&] { svc_->thumbnail("mallory", a.id, 64); }), 404);
  auto text = svc_->upload("bob", task_, file("not an image"), "t.txt");
  svc_->make_thumbnails(text.id);
  EXPECT_EQ(status_of([&] { svc_->thumbnail("bob", text.id, 64); }), 404);
  svc_->remove("bob", a.id);
  EXPECT_FALSE(store_->stat(thumbnail_key(a.sha256, 64)));
  EXPECT_FALSE(store_->stat(thumbnail_key(a.sha256, 256)));
}

TEST_P(FilesServiceTest, CommentAttachments) {
  const std::string bobs = new_uuid_v7(), alices = new_uuid_v7(), on_task2 = new_uuid_v7(), foreign = new_uuid_v7();
  comments_[bobs] = {task_, "bob"};
  comments_[alices] = {task_, "alice"};
  comments_[on_task2] = {task2_, "bob"};
  comments_[foreign] = {foreign_task_, "mallory"};
  auto plain = svc_->upload("bob", task_, file("plain"), "plain.txt");
  EXPECT_FALSE(plain.comment_id);
  auto a = svc_->upload("bob", task_, file("on comment"), "c.txt", bobs);
  EXPECT_EQ(a.comment_id, bobs);
  EXPECT_EQ(svc_->get("vera", a.id).comment_id, bobs);
  auto b = svc_->upload("alice", task_, file("admin on bob's"), "d.txt", bobs);  // a project admin

  auto refusal = [&](const std::string& user, const std::string& comment) {
    int check = status_of([&] { svc_->check_can_upload(user, task_, comment); });
    int up = status_of([&] { svc_->upload(user, task_, file("x"), "x", comment); });
    EXPECT_EQ(check, up) << comment;
    return up;
  };
  EXPECT_EQ(refusal("bob", on_task2), 400);                 // a comment of another task
  EXPECT_EQ(refusal("bob", foreign), 404);                  // a comment bob cannot see
  EXPECT_EQ(refusal("bob", new_uuid_v7()), 404);            // no such comment
  EXPECT_EQ(refusal("bob", alices), 403);                   // not the author, not admin
  EXPECT_EQ(refusal("vera", bobs), 403);                    // viewers never attach
  EXPECT_EQ(refusal("bob", "not-a-uuid"), 400);
  EXPECT_EQ(events_of("attachment.created"), 3);            // the refusals recorded nothing

  auto all = svc_->list("bob", task_, std::nullopt, 50);
  EXPECT_EQ(all.size(), 3u);
  auto only = svc_->list("vera", task_, std::nullopt, 50, bobs);
  ASSERT_EQ(only.size(), 2u);
  EXPECT_EQ(only[0].id, a.id);
  EXPECT_EQ(only[1].id, b.id);
  EXPECT_EQ(svc_->list("bob", task_, only[0].id, 50, bobs).size(), 1u);  // pages within the filter
  EXPECT_TRUE(svc_->list("bob", task_, std::nullopt, 50, on_task2).empty());
  EXPECT_EQ(status_of([&] { svc_->list("bob", task_, std::nullopt, 50, std::string("x")); }), 400);

  // The comment goes: its attachments with it (the tasks service's hook), the others stay.
  comments_.erase(bobs);
  EXPECT_EQ(svc_->purge_comment(task_, bobs), 2);
  EXPECT_EQ(status_of([&] { svc_->get("bob", a.id); }), 404);
  EXPECT_EQ(svc_->list("bob", task_, std::nullopt, 50).size(), 1u);
  EXPECT_EQ(svc_->get("bob", plain.id).id, plain.id);
  EXPECT_EQ(svc_->upload("alice", task_, file("own"), "e.txt", alices).comment_id, alices);
  EXPECT_EQ(events_of("attachment.deleted"), 0);  // comment.deleted says it
}

TEST_P(FilesServiceTest, CommentDeletedDuringTheUploadTakesTheAttachment) {
  const std::string c = new_uuid_v7();
  comments_[c] = {task_, "bob"};
  // The comment disappears between the checks and the re-check after the commit.
  int calls = 0;
  auto real = comments_;
  svc_ = std::make_unique<FilesService>(
      db(), projects_, *outbox_, *store_, nullptr,
      [this](const std::string&, const std::string& task) -> std::optional<std::string> { return tasks_.at(task); },
      [](const std::vector<std::string>& ids) { return ids; }, clock_, svc_->options(),
      [&](const std::string&, const std::string& comment) -> std::optional<CommentOwner> {
        if (++calls > 1) return std::nullopt;
        return real.at(comment);
      });
  EXPECT_EQ(status_of([&] { svc_->upload("bob", task_, file("late"), "late.txt", c); }), 404);
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(svc_->list("bob", task_, std::nullopt, 50).empty());
  EXPECT_EQ(blob_count(), 0u);
  EXPECT_EQ(events_of("attachment.created"), 1);
  EXPECT_EQ(events_of("attachment.deleted"), 1);
}

INSTANTIATE_TEST_SUITE_P(Files, FilesServiceTest, ::testing::Values("sqlite-memory", "postgres"),
                         sql::testing::backend_name);

}  // namespace
}  // namespace taskhub::files
