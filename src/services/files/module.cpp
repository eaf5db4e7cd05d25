#include "services/files/module.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <stdexcept>

#include "ports/blob_store.hpp"
#include "services/files/routes.hpp"
#include "services/files/service.hpp"
#include "services/projects/client.hpp"

namespace taskhub::files {

namespace {

constexpr const char* kCleanupKind = "files.cleanup";

class FilesModule final : public Module {
 public:
  explicit FilesModule(AppContext& ctx) {
    if (!ctx.db || !ctx.projects || !ctx.outbox || !ctx.jobs || !ctx.task_project || !ctx.existing_tasks ||
        !ctx.comment_task || !ctx.add_comment_deleted_hook)
      throw std::runtime_error("files: needs the database, projects, tasks, events and jobs modules");
    const Config& cfg = ctx.config;
    BlobStoreConfig bc;
    bc.files_dir = cfg.files_dir;
    bc.s3_bucket = cfg.s3_bucket;  // set: S3 (adapters/s3), else local disk
    bc.s3_region = cfg.s3_region;
    bc.s3_endpoint = cfg.s3_endpoint;
    bc.s3_path_style = cfg.s3_path_style;
    bc.access_key_id = cfg.aws_access_key_id;
    bc.secret_access_key = cfg.aws_secret_access_key;
    store_ = make_blob_store(bc);
    Options o;
    // The upload spool sits beside the blobs (same file system: the local store's copy can
    // stay in the kernel); dot directories are never blob keys.
    o.spool_dir = cfg.files_dir + "/.spool";
    o.max_upload_bytes = cfg.files_max_upload_bytes;
    o.workspace_quota_bytes = cfg.files_workspace_quota_bytes;
    o.max_per_task = cfg.files_max_per_task;
    svc_ = std::make_unique<FilesService>(*ctx.db, *ctx.projects, *ctx.outbox, *store_, ctx.jobs, ctx.task_project,
                                          ctx.existing_tasks, ctx.clock, o,
                                          [comment_task = ctx.comment_task](const std::string& user,
                                                                            const std::string& comment)
                                              -> std::optional<CommentOwner> {
                                            auto ref = comment_task(user, comment);
                                            if (!ref) return std::nullopt;
                                            return CommentOwner{ref->task_id, ref->author_id};
                                          });
    FilesService* svc = svc_.get();
    // A deleted comment's attachments go at once, after the tasks service committed the deletion
    // (comments are deleted outright, not soft-deleted).
    ctx.add_comment_deleted_hook([svc](const std::string& task_id, const std::string& comment_id) {
      svc->purge_comment(task_id, comment_id);
    });
    ctx.projects->add_project_deleted_hook([svc](const std::string& project_id) { svc->purge_project(project_id); });
    ctx.jobs->register_handler(kCleanupKind, [svc](const jobs::Job&) {
      int64_t reaped = svc->reap_purged_tasks();
      int64_t orphans = svc->collect_orphans();
      if (reaped > 0 || orphans > 0)
        spdlog::info("files: removed {} attachments of purged tasks, {} unreferenced blobs", reaped, orphans);
    });
    ctx.jobs->register_handler(kThumbnailJob, [svc](const jobs::Job& j) {
      auto v = boost::json::parse(j.payload);
      svc->make_thumbnails(std::string(v.as_object().at("attachment_id").as_string()));
    });
    ctx.jobs->register_periodic(kCleanupKind, "23 * * * *", kCleanupKind);  // hourly
    register_routes(ctx.router, *svc_);
  }

 private:
  std::unique_ptr<BlobStore> store_;
  std::unique_ptr<FilesService> svc_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<FilesModule>(ctx); }

}  // namespace taskhub::files
