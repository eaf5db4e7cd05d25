#pragma once
#include <memory>

#include "app/modules.hpp"

namespace taskhub::files {

// The "files" module: attachments (routes, service), the blob store (local disk or S3), the
// project-deleted hook and the periodic clean-up job.
std::unique_ptr<Module> make_module(AppContext& ctx);

}  // namespace taskhub::files
