#pragma once
// The files service (issue 5): attachments of tasks, their metadata in SQL (migration 011) and
// their bytes in the blob store. Rules only: no HTTP here (routes.cpp parses requests).
//
// Permissions go through the tasks module (the task's project, when the caller can see the
// task) and the projects client (the caller's role): an attachment whose task the caller
// cannot see answers 404 exactly like a missing one. Uploading needs write access to the
// project; renaming and deleting need to be the uploader (with write access) or a project
// admin; an archived project is read-only.
//
// Blobs are content-addressed (sha256/<2 hex>/<64 hex>): identical content is stored once,
// and a blob is removed when the last attachment pointing to it goes. Every method blocks
// (database, disk): call it from the blocking pool or a job.
#include <boost/json/object.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ports/blob_store.hpp"
#include "ports/clock.hpp"
#include "ports/event_bus.hpp"
#include "ports/job_queue.hpp"
#include "ports/sql.hpp"
#include "services/projects/client.hpp"

namespace taskhub::files {

struct Options {
  std::string spool_dir;                    // temp files of uploads in progress
  int64_t max_upload_bytes = 25LL << 20;    // one file
  int64_t workspace_quota_bytes = 1LL << 30;
  int64_t max_per_task = 100;
  int64_t orphan_grace_ms = 3'600'000;      // unreferenced blobs younger than this are kept
  int presign_seconds = 300;                // S3: how long a download URL is valid
};

struct Attachment {
  std::string id;
  std::string task_id;
  std::optional<std::string> comment_id;
  std::string project_id;
  std::string workspace_id;
  std::string uploader_id;
  std::string name;
  std::string content_type;  // detected from the bytes
  int64_t size = 0;
  std::string sha256;
  std::string blob_key;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Download {
  Attachment attachment;
  std::optional<std::string> local_path;    // local disk: the server streams it
  std::optional<std::string> redirect_url;  // S3: a presigned URL (answer 302)
};

// ctx.task_project: the project of a task the user can see (nullopt: unknown or hidden).
using TaskProject = std::function<std::optional<std::string>(const std::string& user, const std::string& task)>;
// ctx.existing_tasks: of these task ids, those whose row still exists (soft-deleted included).
using ExistingTasks = std::function<std::vector<std::string>(const std::vector<std::string>& task_ids)>;
// ctx.comment_task: the task and author of a comment the user can see (nullopt: unknown,
// deleted or hidden).
struct CommentOwner {
  std::string task_id;
  std::string author_id;
};
using CommentTask = std::function<std::optional<CommentOwner>(const std::string& user, const std::string& comment)>;

// The API representation (also the payload of attachment.* events); never the blob key.
boost::json::object attachment_to_json(const Attachment& a);

inline constexpr const char* kThumbnailJob = "files.thumbnail";

// The content-addressed key of a SHA-256 (hex).
std::string blob_key_for(const std::string& sha256_hex);

class FilesService {
 public:
  // jobs: where thumbnail jobs are enqueued (nullptr: no thumbnails).
  FilesService(sql::Database& db, projects::Client& projects, events::Outbox& outbox, BlobStore& store,
               jobs::JobQueue* jobs, TaskProject task_project, ExistingTasks existing_tasks, Clock& clock,
               Options options, CommentTask comment_task = {});

  const Options& options() const { return opt_; }

  // Throws 404 when the caller cannot see the task, 403 when they may not attach to it.
  // Called before the upload is parsed, so a refused caller costs no multipart work.
  // comment_id: the attachment goes on that comment of the task. 400 naming comment_id when it
  // is not a UUID, 404 when the comment is unknown, deleted or not visible to the caller (like
  // a missing one), 422 naming comment_id when it is a comment of another task, 403 unless the
  // caller wrote the comment or is a project admin (who may edit a comment may attach to it).
  void check_can_upload(const std::string& user, const std::string& task_id,
                        const std::optional<std::string>& comment_id = {});

  // Attaches the file at `path` (left in place: the caller owns it) to the task. 413 when it is
  // larger than max_upload_bytes, 507 when the workspace quota would be exceeded, 409 when the
  // task has max_per_task attachments. On any failure nothing is recorded and a blob this call
  // created is removed.
  // comment_id: checked as by check_can_upload; should the comment be deleted while the upload
  // commits, the attachment is removed again (attachment.deleted) and the answer is 404.
  Attachment upload(const std::string& user, const std::string& task_id, const std::string& path,
                    std::string_view client_name, const std::optional<std::string>& comment_id = {});

  // Newest last (ids are UUIDv7), after the id `after`, at most limit. Attachments of the task's
  // comments are included (comment_id set); comment_id: only that comment's (400 naming
  // comment_id when it is not a UUID; a comment of another task simply matches nothing).
  std::vector<Attachment> list(const std::string& user, const std::string& task_id,
                               const std::optional<std::string>& after, int limit,
                               const std::optional<std::string>& comment_id = {});
  // task_id: when the path names a task too, the attachment must belong to it (else 404).
  Attachment get(const std::string& user, const std::string& id, const std::optional<std::string>& task_id = {});
  Download download(const std::string& user, const std::string& id, const std::optional<std::string>& task_id = {});
  Attachment rename(const std::string& user, const std::string& id, std::string_view new_name);
  void remove(const std::string& user, const std::string& id);

  // The thumbnail of an image attachment (size 64 or 256, else 400 naming "size"); 404 when the
  // attachment is not an image or its thumbnail is not made yet.
  Download thumbnail(const std::string& user, const std::string& id, int size);
  // The job: makes the missing thumbnails of an attachment's content (idempotent).
  void make_thumbnails(const std::string& attachment_id);

  // Hook of the projects service: a deleted project's attachments go (rows, usage, blobs).
  void purge_project(const std::string& project_id);
  // Hook of the tasks service: a deleted comment's attachments go (rows, usage, blobs; no
  // events: comment.deleted says it). Returns how many.
  int64_t purge_comment(const std::string& task_id, const std::string& comment_id);
  // Periodic: attachments of tasks that were purged (hard-deleted) go too. Returns how many.
  int64_t reap_purged_tasks();
  // Periodic: blobs no attachment points to, older than the grace period, and upload temp
  // files left by a crash. Returns how many blobs were removed.
  int64_t collect_orphans();

 private:
  struct Visible;
  Visible visible(const std::string& user, const std::string& id, const std::optional<std::string>& task_id);
  // Deletes one attachment (row, usage, attachment.deleted event), then its blob if unused.
  void delete_attachment(const std::string& actor, const Attachment& a);
  // Removes the blob when no attachment points to it any more.
  void remove_blob_if_unreferenced(const std::string& key);
  // Deletes the attachments matching `where` (conditions with ? placeholders), in batches; no
  // events (the task, comment or project they belonged to is gone).
  int64_t purge_where(const std::string& where, const std::vector<sql::Param>& params);
  // The comment checks of check_can_upload, given the caller's access to the task's project.
  void check_comment(const std::string& user, const std::string& task_id, const std::string& comment_id,
                     const projects::ProjectAccess& access);

  sql::Database& db_;
  projects::Client& projects_;
  events::Outbox& outbox_;
  BlobStore& store_;
  jobs::JobQueue* jobs_;
  TaskProject task_project_;
  ExistingTasks existing_tasks_;
  Clock& clock_;
  Options opt_;
  CommentTask comment_task_;
};

}  // namespace taskhub::files
