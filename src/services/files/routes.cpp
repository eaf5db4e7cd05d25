#include "services/files/routes.hpp"

#include <boost/json.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "core/ids.hpp"
#include "core/json_input.hpp"
#include "core/json_output.hpp"
#include "core/pagination.hpp"
#include "services/files/multipart.hpp"
#include "services/files/names.hpp"

namespace taskhub::files {

namespace json = boost::json;

namespace {

// The multipart envelope around the file (boundaries, part headers, small fields) may add
// this much to max_upload_bytes; the file itself is checked against the limit exactly.
constexpr std::size_t kMultipartSlack = 64 * 1024;

// The file a multipart upload is extracted to, removed when the request is over.
struct TempFile {
  std::string path;
  ~TempFile() {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

http::Response download_response(const Download& d) {
  http::Response r;
  if (d.redirect_url) {
    r.status = 302;
    r.headers.set("Location", *d.redirect_url);
    r.headers.set("Cache-Control", "no-store");
    return r;
  }
  r.file_path = *d.local_path;
  // Always a download, never rendered: a type browsers would run is served as octet-stream,
  // and the sandbox CSP disables scripts should a browser render it anyway.
  r.headers.set("Content-Type", served_content_type(d.attachment.content_type));
  r.headers.set("Content-Disposition", attachment_disposition(d.attachment.name));
  r.headers.set("Content-Security-Policy", "sandbox; default-src 'none'");
  r.headers.set("Cache-Control", "private, no-cache");
  r.headers.set("ETag", "\"" + d.attachment.sha256 + "\"");
  return r;
}

std::optional<std::string> task_in_path(const http::Request& req) {
  return std::string(req.param("id"));
}

}  // namespace

void register_routes(http::Router& router, FilesService& svc) {
  const http::RouteOptions authed{.auth = http::Auth::required, .max_body = 4096};
  http::RouteOptions upload = authed;
  upload.max_body = static_cast<std::size_t>(svc.options().max_upload_bytes) + kMultipartSlack;
  upload.spool_dir = svc.options().spool_dir;

  router.add(
      "POST", "/api/v1/tasks/{id}/attachments",
      [&svc](http::Request& req) {
        const std::string user = req.user().user_id;
        const std::string task(req.param("id"));
        // The comment is a query parameter (not a multipart field): it is checked, like the
        // task, before a byte of the body is parsed, and works for raw uploads too.
        auto comment = req.query_param("comment_id");
        svc.check_can_upload(user, task, comment);  // 404/403/422 before any parsing
        if (req.body_file.empty()) throw bad_field("file", "the upload is empty");
        std::string source = req.body_file;
        std::string name = req.query_param("name").value_or("");
        TempFile part;
        std::string_view ct = req.header("Content-Type");
        if (auto boundary = multipart_boundary(ct)) {
          part.path = svc.options().spool_dir + "/part-" + new_uuid_v7();
          auto f = extract_multipart_file(req.body_file, *boundary, "file", part.path);
          if (name.empty()) name = f.filename;
          source = part.path;
        } else if (ct.rfind("multipart/", 0) == 0) {
          throw bad_field("Content-Type", "multipart uploads must be multipart/form-data with a boundary");
        }
        auto a = svc.upload(user, task, source, name, comment);
        auto resp = http::Response::json(201, attachment_to_json(a));
        resp.headers.set("Location", "/api/v1/attachments/" + a.id);
        return resp;
      },
      upload);

  router.add(
      "GET", "/api/v1/tasks/{id}/attachments",
      [&svc](http::Request& req) {
        int limit = parse_limit(req.query_param("limit"));
        auto after = decode_id_cursor(req.query_param("cursor"));
        auto page = svc.list(req.user().user_id, std::string(req.param("id")), after, limit, req.query_param("comment_id"));
        json::array items;
        for (const auto& a : page) items.push_back(attachment_to_json(a));
        std::optional<std::string> next;
        if (static_cast<int>(page.size()) == limit) next = encode_id_cursor(page.back().id);
        return http::Response::json(200, json::object{{"items", std::move(items)}, {"next_cursor", str_or_null(next)}});
      },
      authed);

  // The same attachment addressed under its task: it must belong to that task (else 404).
  router.add(
      "GET", "/api/v1/tasks/{id}/attachments/{attachment_id}",
      [&svc](http::Request& req) {
        return http::Response::json(
            200, attachment_to_json(svc.get(req.user().user_id, std::string(req.param("attachment_id")), task_in_path(req))));
      },
      authed);
  router.add(
      "GET", "/api/v1/tasks/{id}/attachments/{attachment_id}/content",
      [&svc](http::Request& req) {
        return download_response(
            svc.download(req.user().user_id, std::string(req.param("attachment_id")), task_in_path(req)));
      },
      authed);

  router.add(
      "GET", "/api/v1/attachments/{id}",
      [&svc](http::Request& req) {
        return http::Response::json(200, attachment_to_json(svc.get(req.user().user_id, std::string(req.param("id")))));
      },
      authed);
  router.add(
      "GET", "/api/v1/attachments/{id}/content",
      [&svc](http::Request& req) {
        return download_response(svc.download(req.user().user_id, std::string(req.param("id"))));
      },
      authed);
  router.add(
      "GET", "/api/v1/attachments/{id}/thumbnail",
      [&svc](http::Request& req) {
        auto raw = req.query_param("size").value_or("256");
        int size = raw == "64" ? 64 : raw == "256" ? 256 : 0;
        auto d = svc.thumbnail(req.user().user_id, std::string(req.param("id")), size);
        d.attachment.content_type = "image/png";  // the thumbnail is our own PNG
        d.attachment.name = "thumbnail-" + raw + ".png";
        d.attachment.sha256 += "-" + raw;  // the ETag names these bytes, not the original's
        return download_response(d);
      },
      authed);
  router.add(
      "PATCH", "/api/v1/attachments/{id}",
      [&svc](http::Request& req) {
        auto body = parse_json_object(req.body);
        ObjectReader r(body, {"name"});
        auto name = r.required_string("name", 1, 1024);
        r.finish();
        return http::Response::json(200,
                                    attachment_to_json(svc.rename(req.user().user_id, std::string(req.param("id")), name)));
      },
      authed);
  router.add(
      "DELETE", "/api/v1/attachments/{id}",
      [&svc](http::Request& req) {
        svc.remove(req.user().user_id, std::string(req.param("id")));
        return http::Response::no_content();
      },
      authed);
}

}  // namespace taskhub::files
