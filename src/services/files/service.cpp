#include "services/files/service.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_output.hpp"
#include "core/time.hpp"
#include "services/files/names.hpp"
#include "services/files/sniff.hpp"
#include "services/files/thumbnail.hpp"

namespace taskhub::files {

namespace {

constexpr const char* kColumns =
    "id, task_id, comment_id, project_id, workspace_id, uploader_id, name, content_type, size, sha256, blob_key, "
    "created_at, updated_at";
constexpr int64_t kBatch = 500;
constexpr int64_t kMaxOrphanChecks = 10'000;  // blobs examined per collector run

Attachment from_row(const sql::Row& r) {
  Attachment a;
  a.id = r.str(0);
  a.task_id = r.str(1);
  a.comment_id = r.opt_str(2);
  a.project_id = r.str(3);
  a.workspace_id = r.str(4);
  a.uploader_id = r.str(5);
  a.name = r.str(6);
  a.content_type = r.str(7);
  a.size = r.i64(8);
  a.sha256 = r.str(9);
  a.blob_key = r.str(10);
  a.created_at = r.i64(11);
  a.updated_at = r.i64(12);
  return a;
}

std::optional<Attachment> find(sql::Connection& c, const std::string& id) {
  auto res = c.query(std::string("SELECT ") + kColumns + " FROM attachments WHERE id = ?", {id});
  if (auto r = res.first()) return from_row(*r);
  return std::nullopt;
}

events::Event attachment_event(const char* type, const std::string& actor, const Attachment& a) {
  events::Event e;
  e.type = type;
  e.actor_id = actor;
  e.workspace_id = a.workspace_id;
  e.project_id = a.project_id;
  e.task_id = a.task_id;
  e.entity_type = "attachment";
  e.entity_id = a.id;
  e.payload = boost::json::serialize(boost::json::object{{"attachment", attachment_to_json(a)}});
  return e;
}

void add_usage(sql::Connection& c, const std::string& workspace, int64_t delta) {
  c.exec("UPDATE files_usage SET bytes = bytes + ? WHERE workspace_id = ?", {delta, workspace});
}

}  // namespace

boost::json::object attachment_to_json(const Attachment& a) {
  return boost::json::object{{"id", a.id},
                             {"task_id", a.task_id},
                             {"comment_id", str_or_null(a.comment_id)},
                             {"project_id", a.project_id},
                             {"workspace_id", a.workspace_id},
                             {"uploader_id", a.uploader_id},
                             {"name", a.name},
                             {"content_type", a.content_type},
                             {"size", a.size},
                             {"sha256", a.sha256},
                             {"content_url", "/api/v1/attachments/" + a.id + "/content"},
                             {"created_at", format_rfc3339_ms(a.created_at)},
                             {"updated_at", format_rfc3339_ms(a.updated_at)}};
}

std::string blob_key_for(const std::string& sha256_hex) {
  return "sha256/" + sha256_hex.substr(0, 2) + "/" + sha256_hex;
}

FilesService::FilesService(sql::Database& db, projects::Client& projects, events::Outbox& outbox, BlobStore& store,
                           jobs::JobQueue* jobs, TaskProject task_project, ExistingTasks existing_tasks, Clock& clock,
                           Options options, CommentTask comment_task)
    : db_(db),
      projects_(projects),
      outbox_(outbox),
      store_(store),
      jobs_(jobs),
      task_project_(std::move(task_project)),
      existing_tasks_(std::move(existing_tasks)),
      clock_(clock),
      opt_(std::move(options)),
      comment_task_(std::move(comment_task)) {}

struct FilesService::Visible {
  Attachment a;
  projects::ProjectAccess access;
};

FilesService::Visible FilesService::visible(const std::string& user, const std::string& id,
                                            const std::optional<std::string>& task_id) {
  if (!is_uuid(id)) throw not_found();
  auto a = db_.read_value([&](sql::Connection& c) { return find(c, id); });
  // The task must be visible to the caller and be the one named in the path, if any: an id
  // taken from someone else's task answers 404 even under the caller's own task.
  if (!a || (task_id && *task_id != a->task_id)) throw not_found();
  auto project = task_project_(user, a->task_id);
  if (!project || *project != a->project_id) throw not_found();
  auto access = projects_.project_access(user, a->project_id);
  if (!access) throw not_found();
  return {std::move(*a), std::move(*access)};
}

void FilesService::check_comment(const std::string& user, const std::string& task_id, const std::string& comment_id,
                                 const projects::ProjectAccess& access) {
  if (!is_uuid(comment_id)) throw bad_field("comment_id", "must be the id of a comment of this task");
  auto owner = comment_task_ ? comment_task_(user, comment_id) : std::nullopt;
  if (!owner) throw not_found("The comment does not exist.");
  if (owner->task_id != task_id)
    throw bad_field("comment_id", "must be the id of a comment of this task");  // as foreign ids in task bodies
  if (owner->author_id != user && !access.is_admin())
    throw forbidden("Only the comment's author or a project admin can attach files to a comment.");
}

void FilesService::check_can_upload(const std::string& user, const std::string& task_id,
                                    const std::optional<std::string>& comment_id) {
  auto project = task_project_(user, task_id);
  if (!project) throw not_found();
  auto access = projects_.project_access(user, *project);
  if (!access) throw not_found();
  if (!access->can_write())
    throw forbidden(access->archived ? "The project is archived." : "Viewers cannot attach files to this project.");
  if (comment_id) check_comment(user, task_id, *comment_id, *access);
}

Attachment FilesService::upload(const std::string& user, const std::string& task_id, const std::string& path,
                                std::string_view client_name, const std::optional<std::string>& comment_id) {
  auto project = task_project_(user, task_id);
  if (!project) throw not_found();
  auto access = projects_.project_access(user, *project);
  if (!access) throw not_found();
  if (!access->can_write())
    throw forbidden(access->archived ? "The project is archived." : "Viewers cannot attach files to this project.");
  if (comment_id) check_comment(user, task_id, *comment_id, *access);

  const auto t0 = std::chrono::steady_clock::now();
  FileFacts facts = inspect_file(path);
  const auto t1 = std::chrono::steady_clock::now();
  if (facts.size > static_cast<uint64_t>(opt_.max_upload_bytes))
    throw ApiError(413, "file-too-large",
                   "The file is larger than the limit of " + std::to_string(opt_.max_upload_bytes) + " bytes.");

  Attachment a;
  a.id = new_uuid_v7();
  a.task_id = task_id;
  a.comment_id = comment_id;
  a.project_id = *project;
  a.workspace_id = access->workspace_id;
  a.uploader_id = user;
  a.name = sanitize_file_name(client_name);
  a.content_type = facts.content_type;
  a.size = static_cast<int64_t>(facts.size);
  a.sha256 = facts.sha256;
  a.blob_key = blob_key_for(facts.sha256);
  a.created_at = a.updated_at = clock_.now_ms();

  // The bytes first, then the row that points to them: a reader never finds a row without its
  // blob. put() is written even when the blob exists, which refreshes its time so the orphan
  // collector's grace period covers this upload until its row commits.
  bool existed = store_.stat(a.blob_key).has_value();
  store_.put(a.blob_key, path, a.content_type);
  const auto t2 = std::chrono::steady_clock::now();
  try {
    db_.write([&](sql::Connection& c) {
      // The usage row first: it serialises this workspace's uploads (see migration 011).
      c.exec("INSERT INTO files_usage (workspace_id, bytes) VALUES (?, 0) ON CONFLICT (workspace_id) DO NOTHING",
             {a.workspace_id});
      if (c.exec("UPDATE files_usage SET bytes = bytes + ? WHERE workspace_id = ? AND bytes + ? <= ?",
                 {a.size, a.workspace_id, a.size, opt_.workspace_quota_bytes}) == 0)
        throw ApiError(507, "quota-exceeded",
                       "The workspace's storage quota of " + std::to_string(opt_.workspace_quota_bytes) +
                           " bytes would be exceeded by this file (" + std::to_string(a.size) +
                           " bytes); delete attachments or ask the administrator to raise FILES_WORKSPACE_QUOTA_BYTES.");
      auto n = c.query("SELECT COUNT(*) FROM attachments WHERE task_id = ?", {task_id})[0].i64(0);
      if (n >= opt_.max_per_task)
        throw ApiError(409, "too-many-attachments",
                       "The task already has " + std::to_string(n) + " attachments (the limit).");
      c.exec(std::string("INSERT INTO attachments (") + kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {a.id, a.task_id, a.comment_id, a.project_id, a.workspace_id, a.uploader_id, a.name, a.content_type,
              a.size, a.sha256, a.blob_key, a.created_at, a.updated_at});
      outbox_.append(c, attachment_event("attachment.created", user, a));
      if (jobs_ && thumbnailable(a.content_type))
        jobs_->enqueue(c, jobs::NewJob{.kind = kThumbnailJob,
                                       .payload = boost::json::serialize(boost::json::object{{"attachment_id", a.id}}),
                                       .key = "thumbnail:" + a.id});
    });
  } catch (...) {
    if (!existed) {
      try {
        remove_blob_if_unreferenced(a.blob_key);
      } catch (const std::exception& e) {
        spdlog::warn("files: could not remove blob {} of a failed upload (the collector will): {}", a.blob_key,
                     e.what());
      }
    }
    throw;
  }
  // A delete of the last other attachment with this content may have removed the blob between
  // our put and our commit: write it again (the file is still ours).
  if (!store_.stat(a.blob_key)) store_.put(a.blob_key, path, a.content_type);
  // A deletion of the comment that committed before this upload did is not seen by its hook's
  // purge (which may have run before our row existed): look again now that the row is in. A
  // deletion committing after this look is followed by the hook, which sees the row.
  if (a.comment_id && !(comment_task_ && comment_task_(user, *a.comment_id))) {
    delete_attachment(user, a);
    throw not_found("The comment does not exist.");
  }
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  spdlog::debug("files: upload {} ({} bytes): hash+type {:.1f} ms, store {:.1f} ms, metadata {:.1f} ms", a.id, a.size,
                ms(t1 - t0), ms(t2 - t1), ms(std::chrono::steady_clock::now() - t2));
  return a;
}

std::vector<Attachment> FilesService::list(const std::string& user, const std::string& task_id,
                                           const std::optional<std::string>& after, int limit,
                                           const std::optional<std::string>& comment_id) {
  auto project = task_project_(user, task_id);
  if (!project) throw not_found();
  if (comment_id && !is_uuid(*comment_id)) throw bad_field("comment_id", "must be the id of a comment");
  std::string q = std::string("SELECT ") + kColumns + " FROM attachments WHERE task_id = ?";
  std::vector<sql::Param> params{task_id};
  if (comment_id) {
    q += " AND comment_id = ?";
    params.emplace_back(*comment_id);
  }
  if (after) {
    q += " AND id > ?";
    params.emplace_back(*after);
  }
  q += " ORDER BY id LIMIT ?";
  params.emplace_back(int64_t{limit});
  return db_.read_value([&](sql::Connection& c) {
    auto res = c.query(q, params);
    std::vector<Attachment> out;
    for (std::size_t i = 0; i < res.size(); ++i) out.push_back(from_row(res[i]));
    return out;
  });
}

Attachment FilesService::get(const std::string& user, const std::string& id, const std::optional<std::string>& task_id) {
  return visible(user, id, task_id).a;
}

Download FilesService::download(const std::string& user, const std::string& id,
                                const std::optional<std::string>& task_id) {
  Download d;
  d.attachment = visible(user, id, task_id).a;
  d.redirect_url = store_.presigned_get(d.attachment.blob_key, opt_.presign_seconds, d.attachment.name);
  if (!d.redirect_url) {
    d.local_path = store_.local_path(d.attachment.blob_key);
    if (!d.local_path) {
      spdlog::error("files: attachment {} points to a missing blob {}", d.attachment.id, d.attachment.blob_key);
      throw ApiError(500, "internal", "The attachment's content is missing.");
    }
  }
  return d;
}

Attachment FilesService::rename(const std::string& user, const std::string& id, std::string_view new_name) {
  auto v = visible(user, id, std::nullopt);
  if (v.access.archived) throw forbidden("The project is archived.");
  if (!(v.a.uploader_id == user && v.access.can_write()) && !v.access.is_admin())
    throw forbidden("Only the uploader or a project admin can rename an attachment.");
  v.a.name = sanitize_file_name(new_name);
  v.a.updated_at = clock_.now_ms();
  db_.write([&](sql::Connection& c) {
    if (c.exec("UPDATE attachments SET name = ?, updated_at = ? WHERE id = ?", {v.a.name, v.a.updated_at, v.a.id}) == 0)
      throw not_found();
  });
  return v.a;
}

void FilesService::remove(const std::string& user, const std::string& id) {
  auto v = visible(user, id, std::nullopt);
  if (v.access.archived) throw forbidden("The project is archived.");
  if (!(v.a.uploader_id == user && v.access.can_write()) && !v.access.is_admin())
    throw forbidden("Only the uploader or a project admin can delete an attachment.");
  delete_attachment(user, v.a);
}

void FilesService::delete_attachment(const std::string& actor, const Attachment& a) {
  db_.write([&](sql::Connection& c) {
    if (c.exec("DELETE FROM attachments WHERE id = ?", {a.id}) == 0) throw not_found();  // a concurrent delete
    add_usage(c, a.workspace_id, -a.size);
    outbox_.append(c, attachment_event("attachment.deleted", actor, a));
  });
  remove_blob_if_unreferenced(a.blob_key);
}

void FilesService::remove_blob_if_unreferenced(const std::string& key) {
  bool used = db_.read_value(
      [&](sql::Connection& c) { return !c.query("SELECT 1 FROM attachments WHERE blob_key = ? LIMIT 1", {key}).empty(); });
  if (used) return;
  store_.remove(key);
  std::string sha = key.substr(key.rfind('/') + 1);
  for (int size : kThumbnailSizes) store_.remove(thumbnail_key(sha, size));
}

Download FilesService::thumbnail(const std::string& user, const std::string& id, int size) {
  bool known = false;
  for (int s : kThumbnailSizes) known = known || s == size;
  if (!known) throw bad_field("size", "must be 64 or 256");
  Download d;
  d.attachment = visible(user, id, std::nullopt).a;
  if (!thumbnailable(d.attachment.content_type)) throw not_found("This attachment is not an image with a thumbnail.");
  std::string key = thumbnail_key(d.attachment.sha256, size);
  if (!store_.stat(key)) throw not_found("The thumbnail is not made yet; retry in a moment.");
  d.redirect_url = store_.presigned_get(key, opt_.presign_seconds, "thumbnail-" + std::to_string(size) + ".png");
  if (!d.redirect_url) {
    d.local_path = store_.local_path(key);
    if (!d.local_path) throw not_found("The thumbnail is not made yet; retry in a moment.");
  }
  return d;
}

void FilesService::make_thumbnails(const std::string& attachment_id) {
  auto a = db_.read_value([&](sql::Connection& c) { return find(c, attachment_id); });
  if (!a || !thumbnailable(a->content_type)) return;  // deleted meanwhile: nothing to do
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(opt_.spool_dir, ec);
  struct Temp {
    std::string path;
    ~Temp() {
      std::error_code e;
      if (!path.empty()) fs::remove(path, e);
    }
  };
  Temp fetched;
  std::optional<std::string> source;
  for (int size : kThumbnailSizes) {
    std::string key = thumbnail_key(a->sha256, size);
    if (store_.stat(key)) continue;
    if (!source) {
      source = store_.local_path(a->blob_key);
      if (!source) {  // a remote store: fetch the blob once
        fetched.path = opt_.spool_dir + "/thumb-src-" + new_uuid_v7();
        store_.get(a->blob_key, fetched.path);
        source = fetched.path;
      }
    }
    Temp out{opt_.spool_dir + "/thumb-" + new_uuid_v7() + ".png"};
    if (!make_thumbnail(*source, size, out.path)) return;  // not decodable or too large: no thumbnails
    store_.put(key, out.path, "image/png");
  }
}

int64_t FilesService::purge_where(const std::string& where, const std::vector<sql::Param>& params) {
  int64_t total = 0;
  for (;;) {
    std::set<std::string> keys;
    int64_t n = db_.write_value([&](sql::Connection& c) {
      std::vector<sql::Param> p = params;
      p.emplace_back(kBatch);
      auto res = c.query("SELECT id, workspace_id, size, blob_key FROM attachments WHERE " + where + " LIMIT ?", p);
      for (std::size_t i = 0; i < res.size(); ++i) {
        auto r = res[i];
        c.exec("DELETE FROM attachments WHERE id = ?", {r.str(0)});
        add_usage(c, r.str(1), -r.i64(2));
        keys.insert(r.str(3));
      }
      return static_cast<int64_t>(res.size());
    });
    for (const auto& k : keys) {
      try {
        remove_blob_if_unreferenced(k);
      } catch (const std::exception& e) {
        spdlog::warn("files: could not remove blob {} (the collector will): {}", k, e.what());
      }
    }
    total += n;
    if (n < kBatch) return total;
  }
}

void FilesService::purge_project(const std::string& project_id) {
  if (int64_t n = purge_where("project_id = ?", {project_id}); n > 0)
    spdlog::info("files: removed {} attachments of deleted project {}", n, project_id);
}

int64_t FilesService::purge_comment(const std::string& task_id, const std::string& comment_id) {
  // task_id first: the (task_id, id) index finds the rows without an index on comment_id.
  int64_t n = purge_where("task_id = ? AND comment_id = ?", {task_id, comment_id});
  if (n > 0) spdlog::info("files: removed {} attachments of deleted comment {}", n, comment_id);
  return n;
}

int64_t FilesService::reap_purged_tasks() {
  int64_t total = 0;
  std::string after;
  for (;;) {
    auto batch = db_.read_value([&](sql::Connection& c) {
      auto res = c.query("SELECT DISTINCT task_id FROM attachments WHERE task_id > ? ORDER BY task_id LIMIT ?",
                         {after, kBatch});
      std::vector<std::string> ids;
      for (std::size_t i = 0; i < res.size(); ++i) ids.push_back(res[i].str(0));
      return ids;
    });
    if (batch.empty()) return total;
    auto alive = existing_tasks_(batch);
    std::set<std::string> keep(alive.begin(), alive.end());
    for (const auto& t : batch)
      if (!keep.count(t)) total += purge_where("task_id = ?", {t});
    after = batch.back();
    if (static_cast<int64_t>(batch.size()) < kBatch) return total;
  }
}

int64_t FilesService::collect_orphans() {
  const int64_t cutoff = clock_.now_ms() - opt_.orphan_grace_ms;
  std::vector<std::string> old;
  int64_t seen = 0;
  store_.list("sha256/", [&](const BlobInfo& b) {
    if (b.modified_ms < cutoff) old.push_back(b.key);
    return ++seen < kMaxOrphanChecks;
  });
  int64_t removed = 0;
  for (const auto& key : old) {
    bool used = db_.read_value([&](sql::Connection& c) {
      return !c.query("SELECT 1 FROM attachments WHERE blob_key = ? LIMIT 1", {key}).empty();
    });
    if (used) continue;
    // Re-check the time right before removing: an upload of the same content refreshes it.
    auto info = store_.stat(key);
    if (!info || info->modified_ms >= cutoff) continue;
    store_.remove(key);
    ++removed;
  }
  // Thumbnails whose content no attachment has any more (a delete removes them with the blob;
  // these are left by a failure between the two).
  std::vector<std::string> old_thumbs;
  seen = 0;
  store_.list("thumbs/", [&](const BlobInfo& b) {
    if (b.modified_ms < cutoff) old_thumbs.push_back(b.key);
    return ++seen < kMaxOrphanChecks;
  });
  for (const auto& key : old_thumbs) {
    std::string name = key.substr(key.rfind('/') + 1);
    std::string blob = blob_key_for(name.substr(0, name.find('-')));
    bool used = db_.read_value([&](sql::Connection& c) {
      return !c.query("SELECT 1 FROM attachments WHERE blob_key = ? LIMIT 1", {blob}).empty();
    });
    if (!used) store_.remove(key);
  }
  // Upload temp files whose request died with a crashed process (a live request removes its own).
  std::error_code ec;
  namespace fs = std::filesystem;
  for (auto it = fs::directory_iterator(opt_.spool_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code tec;
    auto t = fs::last_write_time(it->path(), tec);
    if (tec) continue;
    auto age = fs::file_time_type::clock::now() - t;
    if (age > std::chrono::milliseconds(opt_.orphan_grace_ms)) fs::remove(it->path(), tec);
  }
  return removed;
}

}  // namespace taskhub::files
