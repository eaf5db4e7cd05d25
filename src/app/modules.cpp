#include "app/modules.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <stdexcept>

namespace taskhub {

std::vector<const ModuleDef*> resolve_modules(const std::vector<ModuleDef>& defs, const std::string& selection) {
  std::map<std::string, const ModuleDef*> by_name;
  for (const auto& d : defs) {
    if (!by_name.emplace(d.name, &d).second) throw std::runtime_error("module listed twice: " + d.name);
  }
  for (const auto& d : defs)
    for (const auto& dep : d.deps)
      if (!by_name.count(dep))
        throw std::runtime_error("module '" + d.name + "' depends on unknown module '" + dep + "'");

  std::vector<std::string> wanted;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    if (cur == "all") {
      for (const auto& d : defs) wanted.push_back(d.name);
    } else if (!by_name.count(cur)) {
      std::string known;
      for (const auto& d : defs) known += (known.empty() ? "" : ", ") + d.name;
      throw std::runtime_error("unknown module '" + cur + "' (known: all, " + known + ")");
    } else {
      wanted.push_back(cur);
    }
    cur.clear();
  };
  for (char c : selection) {
    if (c == ',') flush();
    else if (c != ' ') cur.push_back(c);
  }
  flush();
  if (wanted.empty()) throw std::runtime_error("no module selected");

  // Depth-first topological order; "visiting" detects cycles and names them.
  std::vector<const ModuleDef*> order;
  std::map<std::string, int> state;  // 0 new, 1 visiting, 2 done
  std::vector<std::string> stack;
  std::function<void(const ModuleDef*)> visit = [&](const ModuleDef* d) {
    int& s = state[d->name];
    if (s == 2) return;
    if (s == 1) {
      std::string cycle;
      bool in = false;
      for (const auto& n : stack) {
        if (n == d->name) in = true;
        if (in) cycle += n + " -> ";
      }
      throw std::runtime_error("module dependency cycle: " + cycle + d->name);
    }
    s = 1;
    stack.push_back(d->name);
    for (const auto& dep : d->deps) visit(by_name.at(dep));
    stack.pop_back();
    state[d->name] = 2;
    order.push_back(d);
  };
  for (const auto& w : wanted) visit(by_name.at(w));
  return order;
}

void ModuleManager::build(const std::string& selection) {
  auto order = resolve_modules(defs_, selection);
  for (const ModuleDef* d : order) {
    spdlog::debug("building module {}", d->name);
    modules_.push_back(d->make(ctx_));
    names_.push_back(d->name);
  }
}

void ModuleManager::start(const std::string& selection) {
  if (modules_.empty()) build(selection);
  for (; started_ < modules_.size(); ++started_) {
    spdlog::debug("starting module {}", names_[started_]);
    modules_[started_]->start();
  }
}

void ModuleManager::stop() {
  while (started_ > 0) {
    --started_;
    try {
      modules_[started_]->stop();
    } catch (const std::exception& e) {
      spdlog::error("stopping module {} failed: {}", names_[started_], e.what());
    }
  }
}

ModuleManager::~ModuleManager() {
  stop();
  // Destroy in reverse construction order: later modules may hold pointers into earlier ones.
  while (!modules_.empty()) modules_.pop_back();
}

}  // namespace taskhub
