// API documentation: the embedded OpenAPI document, Swagger UI at /api/docs and ReDoc at
// /api/redoc. The UI assets come from the npm packages swagger-ui-dist and redoc (installed
// by scripts/setup into web/node_modules) and are served by taskhub itself: no CDN.
//
// Both pages load their init code from a separate same-origin file (/api/docs/init.js,
// /api/redoc/init.js), so the Content-Security-Policy needs no 'unsafe-inline' for scripts.
// Swagger UI and ReDoc inject inline styles ('unsafe-inline' for style-src), use data: images
// and fonts, and ReDoc runs its search index in a blob: worker.
#include "services/docs/module.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>

#include <filesystem>
#include <string>
#include <system_error>

#include "app/embedded_resources.hpp"
#include "core/error.hpp"

namespace taskhub::docs {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSwaggerCsp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
constexpr const char* kRedocCsp =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'";
constexpr const char* kMissingCsp = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

constexpr const char* kSwaggerPage = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskhub API - Swagger UI</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
)";

constexpr const char* kSwaggerInit = R"(window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    validatorUrl: null,
    persistAuthorization: true
  });
});
)";

constexpr const char* kRedocPage = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskhub API - ReDoc</title>
</head>
<body>
<div id="redoc-container"></div>
<script src="/api/redoc/assets/redoc.standalone.js"></script>
<script src="/api/redoc/init.js"></script>
</body>
</html>
)";

constexpr const char* kRedocInit = R"(Redoc.init("/api/openapi.json", {
  hideDownloadButton: false,
  expandResponses: "200,201"
}, document.getElementById("redoc-container"));
)";

std::string missing_page(const std::string& which) {
  return R"(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>taskhub API - documentation assets missing</title></head>
<body>
<h1>taskhub API documentation</h1>
<p>The )" + which +
         R"( assets are not installed, so this page cannot be shown.</p>
<p>Install them with <code>scripts/setup</code> (it runs <code>npm ci</code> in <code>web/</code>), or set
<code>DOCS_ASSETS_DIR</code> to a <code>node_modules</code> directory that contains
<code>swagger-ui-dist</code> and <code>redoc</code>, then restart taskhub.</p>
<p>The OpenAPI document itself is available at <a href="/api/openapi.json">/api/openapi.json</a>.</p>
</body>
</html>
)";
}

bool plain_file_name(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '-'))
      return false;
  return true;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// node_modules directory: DOCS_ASSETS_DIR, else ./web/node_modules, else next to the binary.
fs::path find_assets_dir(const std::string& configured) {
  std::vector<fs::path> candidates;
  if (!configured.empty()) {
    candidates.emplace_back(configured);
  } else {
    candidates.emplace_back("web/node_modules");
    std::error_code ec;
    fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      candidates.push_back(exe.parent_path() / ".." / "web" / "node_modules");
      candidates.push_back(exe.parent_path() / ".." / ".." / "web" / "node_modules");
    }
  }
  for (const auto& c : candidates) {
    if (is_dir(c / "swagger-ui-dist") || is_dir(c / "redoc")) {
      std::error_code ec;
      fs::path canon = fs::canonical(c, ec);
      return ec ? c : canon;
    }
  }
  return {};
}

http::Response html(std::string body, const char* csp) {
  http::Response r = http::Response::text(200, std::move(body), "text/html; charset=utf-8");
  r.headers.set("Content-Security-Policy", csp);
  r.headers.set("Cache-Control", "no-cache");
  return r;
}

http::Response script(const char* body) {
  http::Response r = http::Response::text(200, body, "text/javascript; charset=utf-8");
  r.headers.set("Cache-Control", "no-cache");
  return r;
}

class DocsModule final : public Module {
 public:
  explicit DocsModule(AppContext& ctx) {
    fs::path root = find_assets_dir(ctx.config.docs_assets_dir);
    if (!root.empty()) {
      if (is_file(root / "swagger-ui-dist" / "swagger-ui-bundle.js")) swagger_dir_ = root / "swagger-ui-dist";
      if (is_file(root / "redoc" / "bundles" / "redoc.standalone.js")) redoc_dir_ = root / "redoc" / "bundles";
    }
    if (swagger_dir_.empty() || redoc_dir_.empty()) {
      spdlog::warn(
          "API docs assets not found{}{}: /api/docs and /api/redoc will explain how to install them (scripts/setup)",
          ctx.config.docs_assets_dir.empty() ? "" : " in DOCS_ASSETS_DIR=",
          ctx.config.docs_assets_dir);
    }

    const http::RouteOptions page{.auth = http::Auth::none, .inline_handler = true};
    const http::RouteOptions asset{.auth = http::Auth::none, .inline_handler = false};

    ctx.router.add(
        "GET", "/api/openapi.json",
        [](http::Request&) {
          http::Response r;
          r.headers.add("Content-Type", "application/json");
          r.headers.add("Cache-Control", "no-cache");
          r.body = std::string(embedded::openapi_json());
          return r;
        },
        page);

    ctx.router.add(
        "GET", "/api/docs",
        [this](http::Request&) {
          return swagger_dir_.empty() ? html(missing_page("Swagger UI (npm package swagger-ui-dist)"), kMissingCsp)
                                      : html(kSwaggerPage, kSwaggerCsp);
        },
        page);
    ctx.router.add("GET", "/api/docs/init.js", [](http::Request&) { return script(kSwaggerInit); }, page);
    ctx.router.add(
        "GET", "/api/docs/assets/{file}", [this](http::Request& req) { return serve(swagger_dir_, req.param("file")); },
        asset);

    ctx.router.add(
        "GET", "/api/redoc",
        [this](http::Request&) {
          return redoc_dir_.empty() ? html(missing_page("ReDoc (npm package redoc)"), kMissingCsp)
                                    : html(kRedocPage, kRedocCsp);
        },
        page);
    ctx.router.add("GET", "/api/redoc/init.js", [](http::Request&) { return script(kRedocInit); }, page);
    ctx.router.add(
        "GET", "/api/redoc/assets/{file}", [this](http::Request& req) { return serve(redoc_dir_, req.param("file")); },
        asset);
  }

 private:
  // Runs on the blocking pool (it touches the disk). The server streams the file.
  static http::Response serve(const fs::path& dir, std::string_view name) {
    if (dir.empty() || !plain_file_name(name)) throw taskhub::not_found("No such documentation asset.");
    fs::path p = dir / std::string(name);
    if (!is_file(p)) throw taskhub::not_found("No such documentation asset.");
    http::Response r;
    r.file_path = p.string();
    r.headers.set("Cache-Control", "public, max-age=86400");
    return r;
  }

  fs::path swagger_dir_;
  fs::path redoc_dir_;
};

}  // namespace

std::unique_ptr<Module> make_module(AppContext& ctx) { return std::make_unique<DocsModule>(ctx); }

}  // namespace taskhub::docs
